/**
 * Memory (L1) in front of Redis (L2), shared by every API instance. Invariants:
 * - Reads: L1, then L2 (filling L1), then the caller's database read (filling both).
 * - Writes after a commit go to L2 first (a versioned compare-and-set), then L1, then a pub/sub message makes every
 *   other instance drop older copies from its L1. The publish is awaited before the write returns, so a read sent
 *   to another instance after the response finds the invalidation already delivered.
 * - When Redis cannot be reached (breaker open, or the subscription is down), invalidations from other instances
 *   cannot arrive: L1 entries are capped to a few seconds, and the invalidations this instance could not send are
 *   kept (bounded) and sent before Redis is used again. On recovery L1 is emptied, because what other instances
 *   changed meanwhile was never announced.
 * - Nothing here throws because of Redis: a Redis failure degrades to L1 and the database.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Cache, CacheEntry, CacheHealth, CacheReadOptions, CacheStats } from '../ports/cache.ts';
import type { Logger } from '../ports/logger.ts';
import type { BreakerState } from '../resilience/circuit-breaker.ts';
import type { MemoryCache } from './memory-cache.ts';
import type { RedisCache } from './redis-cache.ts';

export const INVALIDATION_CHANNEL = 'tt:1:invalidate';

export interface TieredCacheOptions {
  l1: MemoryCache;
  l2: RedisCache;
  /** A second connection for SUBSCRIBE (a subscribed connection can run nothing else). */
  subscriber: Redis;
  /** TTL of L1 entries while Redis is unreachable. */
  degradedTtlSeconds?: number;
  /** Normal L1 TTL. */
  ttlSeconds: number;
  /** Use L1 at all (off: every lookup goes to Redis; for measuring the Redis tier alone). */
  l1Enabled?: boolean;
  /** Most invalidations remembered while Redis is down; beyond it the whole cache is cleared on recovery. */
  maxPendingInvalidations?: number;
  logger?: Logger;
}

type Message =
  | { i: string; t: 'v'; k: string; n: number; val?: string }
  | { i: string; t: 'c'; p: string }
  | { i: string; t: 'd'; k: string[] };

export class TieredCache implements Cache {
  readonly instanceId = randomUUID();
  readonly #l1: MemoryCache;
  readonly #l2: RedisCache;
  readonly #subscriber: Redis;
  readonly #options: Required<Omit<TieredCacheOptions, 'logger'>> & Pick<TieredCacheOptions, 'logger'>;
  readonly #stats: CacheStats = { hits: 0, misses: 0, sets: 0, errors: 0 };
  readonly #l2Stats = { hits: 0, misses: 0 };
  readonly #pending = new Map<string, { value: string | null; version: number }>();
  readonly #pendingPatterns = new Set<string>();
  readonly #recoveryListeners: (() => Promise<void>)[] = [];
  #pendingOverflow = false;
  #subscribed = false;
  #degraded = false;
  #invalidationsReceived = 0;

  constructor(options: TieredCacheOptions) {
    this.#options = {
      degradedTtlSeconds: 3,
      l1Enabled: true,
      maxPendingInvalidations: 10_000,
      ...options,
    };
    this.#l1 = options.l1;
    this.#l2 = options.l2;
    this.#subscriber = options.subscriber;
    this.#subscriber.on('message', (_channel: string, raw: string) => this.#onMessage(raw));
    this.#subscriber.on('ready', () => {
      void this.#subscriber.subscribe(INVALIDATION_CHANNEL).then(
        () => {
          this.#subscribed = true;
          this.#updateDegraded();
        },
        (error: unknown) =>
          this.#options.logger?.warn({ err: error }, 'cache invalidation subscription failed'),
      );
    });
    this.#subscriber.on('close', () => {
      this.#subscribed = false;
      this.#updateDegraded();
    });
    this.#subscriber.on('error', () => {});
  }

  /** Called by the Redis tier's breaker when it changes state (wired in the container). */
  onRedisStateChange(): void {
    this.#updateDegraded();
  }

  /** Sends what could not be sent while Redis was down; runs before the Redis breaker closes again. */
  async flushPending(): Promise<void> {
    if (this.#pendingOverflow) {
      await this.#l2.scanUnlink('tt:1:*');
      await this.#publish({ i: this.instanceId, t: 'c', p: 'tt:1:*' });
    } else {
      for (const pattern of this.#pendingPatterns) {
        await this.#l2.scanUnlink(pattern);
        await this.#publish({ i: this.instanceId, t: 'c', p: pattern });
      }
      for (const [key, { value, version }] of this.#pending) {
        await this.#l2.client.setVersioned(
          key,
          String(version),
          value === null ? 't' : `v${value}`,
          String(this.#options.ttlSeconds),
        );
        await this.#publish({ i: this.instanceId, t: 'v', k: key, n: version });
      }
    }
    this.#pending.clear();
    this.#pendingPatterns.clear();
    this.#pendingOverflow = false;
  }

  /** Runs after Redis became reachable again (and the L1 was emptied). */
  onRecovered(listener: () => Promise<void>): void {
    this.#recoveryListeners.push(listener);
  }

  /** Whether Redis restarted (lost its data) since the last check. */
  redisRestarted(): Promise<boolean> {
    return this.#l2.restartedSinceLastCheck();
  }

  get breakerState(): BreakerState {
    return this.#l2.breaker.state;
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  // ---------------------------------------------------------------------------------------------------------

  async get(key: string, options?: CacheReadOptions): Promise<string | undefined> {
    if (this.#options.l1Enabled) {
      const local = this.#l1.getSync(key, options);
      if (local !== undefined) {
        this.#stats.hits++;
        return local;
      }
    }
    if (this.#l2.available) {
      try {
        const remote = await this.#l2.get(key);
        if (remote !== undefined) {
          this.#l2Stats.hits++;
          this.#stats.hits++;
          if (this.#options.l1Enabled) await this.#l1.set(key, remote, this.#l1Ttl());
          return remote;
        }
        this.#l2Stats.misses++;
      } catch {
        this.#stats.errors++;
      }
    }
    this.#stats.misses++;
    return undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (this.#options.l1Enabled)
      await this.#l1.set(key, value, Math.min(ttlSeconds ?? Infinity, this.#l1Ttl()));
    this.#stats.sets++;
    if (this.#l2.available) {
      try {
        await this.#l2.set(key, value, ttlSeconds);
      } catch {
        this.#stats.errors++;
      }
    }
  }

  async del(...keys: string[]): Promise<void> {
    await this.#l1.del(...keys);
    if (this.#l2.available) {
      try {
        await this.#l2.del(...keys);
        await this.#publish({ i: this.instanceId, t: 'd', k: keys });
        return;
      } catch {
        this.#stats.errors++;
      }
    }
    for (const key of keys) this.#remember(key, null, Number.MAX_SAFE_INTEGER);
  }

  async clearPattern(pattern: string): Promise<number> {
    const local = await this.#l1.clearPattern(pattern);
    if (this.#l2.available) {
      try {
        const remote = await this.#l2.clearPattern(pattern);
        await this.#publish({ i: this.instanceId, t: 'c', p: pattern });
        return Math.max(local, remote);
      } catch {
        this.#stats.errors++;
      }
    }
    this.#pendingPatterns.add(pattern);
    return local;
  }

  async healthCheck(): Promise<CacheHealth> {
    const redis = await this.#l2.healthCheck();
    const l1 = await this.#l1.healthCheck();
    return {
      tier: this.#options.l1Enabled ? 'memory+redis' : 'redis',
      healthy: redis.healthy && this.#subscribed,
      latencyMs: redis.latencyMs,
      detail: {
        l1: {
          ...l1.detail,
          ...this.#l1.stats(),
          ttlSeconds: this.#l1Ttl(),
          enabled: this.#options.l1Enabled,
        },
        redis: { ...redis.detail, ...this.#l2.stats(), ...this.#l2Stats, subscribed: this.#subscribed },
        degraded: this.#degraded,
        pendingInvalidations: this.#pending.size + this.#pendingPatterns.size,
        invalidationsReceived: this.#invalidationsReceived,
      },
    };
  }

  async getVersioned(key: string, options?: CacheReadOptions): Promise<CacheEntry | undefined> {
    if (this.#options.l1Enabled) {
      const local = this.#l1.getVersionedSync(key, options);
      if (local) {
        this.#stats.hits++;
        return local;
      }
    }
    if (this.#l2.available) {
      try {
        const remote = await this.#l2.getVersioned(key);
        if (remote) {
          this.#l2Stats.hits++;
          this.#stats.hits++;
          if (this.#options.l1Enabled)
            await this.#l1.setVersioned(key, remote.value, remote.version, this.#l1Ttl());
          return remote;
        }
        this.#l2Stats.misses++;
      } catch {
        this.#stats.errors++;
      }
    }
    this.#stats.misses++;
    return undefined;
  }

  async setVersioned(
    key: string,
    value: string | null,
    version: number,
    ttlSeconds?: number,
    options: { invalidate?: boolean } = {},
  ): Promise<boolean> {
    let shared: boolean | undefined;
    if (this.#l2.available) {
      try {
        shared = await this.#l2.setVersioned(key, value, version, ttlSeconds);
      } catch {
        this.#stats.errors++;
      }
    }
    if (shared === undefined && options.invalidate) this.#remember(key, value, version);
    // When Redis holds something newer, this copy must not be kept anywhere; a tombstone at this version keeps L1
    // from holding anything older either, and the next read takes the newer value from Redis.
    const local = shared === false ? null : value;
    let localStored = false;
    if (this.#options.l1Enabled) {
      localStored = await this.#l1.setVersioned(
        key,
        local,
        version,
        Math.min(ttlSeconds ?? Infinity, this.#l1Ttl()),
      );
    }
    if (shared !== undefined && options.invalidate) {
      await this.#publish({ i: this.instanceId, t: 'v', k: key, n: version });
    }
    if (shared !== false) this.#stats.sets++;
    return shared ?? localStored;
  }

  /** List generations. Redis is authoritative; L1 keeps the newest value it has seen (never an older one). */
  async incr(key: string): Promise<number> {
    let next: number | undefined;
    if (this.#l2.available) {
      try {
        next = await this.#l2.incr(key);
      } catch {
        this.#stats.errors++;
      }
    }
    if (next === undefined) {
      // Redis unreachable: move this instance's generation on locally; the bump is sent on recovery.
      const current = Number(this.#l1.getSync(key) ?? 0);
      next = Math.max(current + 1, Date.now() * 1000);
      this.#remember(key, String(next), next);
    }
    await this.#l1.setVersioned(key, String(next), next, this.#l1Ttl());
    if (this.#l2.available)
      await this.#publish({ i: this.instanceId, t: 'v', k: key, n: next, val: String(next) });
    return next;
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }

  tierStats(): { l1: CacheStats; l2: CacheStats & { hitsAfterL1Miss: number; missesAfterL1Miss: number } } {
    return {
      l1: this.#l1.stats(),
      l2: {
        ...this.#l2.stats(),
        hitsAfterL1Miss: this.#l2Stats.hits,
        missesAfterL1Miss: this.#l2Stats.misses,
      },
    };
  }

  async close(): Promise<void> {
    this.#subscriber.removeAllListeners('message');
    try {
      await this.#subscriber.quit();
    } catch {
      this.#subscriber.disconnect();
    }
    await this.#l2.close();
    await this.#l1.close();
  }

  // ---------------------------------------------------------------------------------------------------------

  #l1Ttl(): number {
    return this.#degraded ? this.#options.degradedTtlSeconds : this.#options.ttlSeconds;
  }

  #remember(key: string, value: string | null, version: number): void {
    if (this.#pendingOverflow) return;
    const existing = this.#pending.get(key);
    if (existing && existing.version > version) return;
    this.#pending.set(key, { value, version });
    if (this.#pending.size > this.#options.maxPendingInvalidations) {
      this.#pendingOverflow = true;
      this.#pending.clear();
    }
  }

  async #publish(message: Message): Promise<void> {
    try {
      await this.#l2.client.publish(INVALIDATION_CHANNEL, JSON.stringify(message));
    } catch {
      this.#stats.errors++;
    }
  }

  #onMessage(raw: string): void {
    let message: Message;
    try {
      message = JSON.parse(raw) as Message;
    } catch {
      return;
    }
    if (message.i === this.instanceId) return;
    this.#invalidationsReceived++;
    if (message.t === 'v') {
      // Generations carry their value (readers need it); thread versions become a tombstone, so the next read
      // takes the new row from Redis.
      void this.#l1.setVersioned(message.k, message.val ?? null, message.n, this.#l1Ttl());
    } else if (message.t === 'c') {
      void this.#l1.clearPattern(message.p);
    } else if (message.t === 'd') {
      void this.#l1.del(...message.k);
    }
  }

  #updateDegraded(): void {
    const degraded = !this.#l2.available || !this.#subscribed;
    if (degraded === this.#degraded) return;
    this.#degraded = degraded;
    if (degraded) {
      this.#l1.capTtl(this.#options.degradedTtlSeconds);
      this.#options.logger?.warn('Redis unreachable: serving from memory with short TTLs and the database');
    } else {
      // What other instances changed meanwhile was never announced to this one.
      this.#l1.clear();
      this.#options.logger?.info('Redis reachable again: shared cache in use');
      for (const listener of this.#recoveryListeners) {
        listener().catch((error: unknown) =>
          this.#options.logger?.warn({ err: error }, 'cache recovery step failed'),
        );
      }
    }
  }
}
