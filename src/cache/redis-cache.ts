/**
 * RedisService: the shared cache tier on ioredis. A dead or frozen Redis costs a request at most one short command
 * timeout: commands time out after ~100 ms, are never queued while disconnected and are retried at most once, and
 * the circuit breaker then keeps every caller off Redis until a background PING succeeds. The client reconnects by
 * itself.
 *
 * Versioned entries are stored as `<version>|v<value>` (or `<version>|t` for a tombstone) and written by a Lua
 * script that refuses to replace a newer version, atomically on the server.
 */
import { Redis } from 'ioredis';
import { AppError } from '../domain/errors.ts';
import type { Cache, CacheEntry, CacheHealth, CacheStats } from '../ports/cache.ts';
import { type BreakerState, CircuitBreaker } from '../resilience/circuit-breaker.ts';

export interface RedisCacheOptions {
  url: string;
  commandTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Default TTL in seconds when none is given. */
  defaultTtlSeconds: number;
  /** Largest value cached, in characters. */
  maxEntrySize?: number;
  onBreakerChange?: (state: BreakerState, previous: BreakerState) => void;
  /** Called after the breaker has seen Redis answer again, before it closes. */
  beforeRecover?: () => Promise<void>;
  onError?: (error: unknown) => void;
}

const SET_VERSIONED = `
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  if sep and tonumber(string.sub(current, 1, sep - 1)) > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1`;

/** Starts a missing counter at the current time in microseconds, so a counter that vanished (eviction, restart)
 * never restarts below values it had before, and stale lists filed under old generations stay unreachable. */
const INCR_FROM_CLOCK = `
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])`;

type ScriptedRedis = Redis & {
  setVersioned(key: string, version: string, payload: string, ttl: string): Promise<number>;
  incrFromClock(key: string, start: string): Promise<number>;
};

export class RedisCache implements Cache {
  readonly client: ScriptedRedis;
  readonly breaker: CircuitBreaker;
  readonly #options: RedisCacheOptions;
  readonly #stats: CacheStats = { hits: 0, misses: 0, sets: 0, errors: 0 };
  readonly #maxEntrySize: number;
  #runId: string | undefined;

  constructor(options: RedisCacheOptions) {
    this.#options = options;
    this.#maxEntrySize = options.maxEntrySize ?? 256 * 1024;
    this.client = new Redis(options.url, {
      commandTimeout: options.commandTimeoutMs ?? 100,
      connectTimeout: options.connectTimeoutMs ?? 1000,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      lazyConnect: false,
      connectionName: 'thread-tracker',
    }) as ScriptedRedis;
    this.client.defineCommand('setVersioned', { numberOfKeys: 1, lua: SET_VERSIONED });
    this.client.defineCommand('incrFromClock', { numberOfKeys: 1, lua: INCR_FROM_CLOCK });
    this.breaker = new CircuitBreaker({
      name: 'redis',
      failureThreshold: 1,
      minCooldownMs: 250,
      maxCooldownMs: 2_000,
      probe: () => this.client.ping(),
      ...(options.beforeRecover ? { beforeClose: options.beforeRecover } : {}),
      ...(options.onBreakerChange ? { onStateChange: options.onBreakerChange } : {}),
    });
    this.client.on('error', (error) => {
      this.#options.onError?.(error);
    });
    // A closed connection is known at once: trip the breaker instead of waiting for a command to fail.
    this.client.on('close', () => this.breaker.trip());
  }

  /** Resolves when the first connection is ready (or rejects after the connect timeout). */
  async ready(): Promise<void> {
    if (this.client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          cleanup();
          reject(new Error('Redis did not become ready in time'));
        },
        (this.#options.connectTimeoutMs ?? 1000) * 3,
      );
      const onReady = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
      };
      this.client.on('ready', onReady);
    });
  }

  get available(): boolean {
    return this.breaker.allow();
  }

  async get(key: string): Promise<string | undefined> {
    const value = await this.#run(() => this.client.get(key));
    if (value === null) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return value;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (value.length > this.#maxEntrySize) return;
    await this.#run(() => this.client.set(key, value, 'EX', ttlSeconds ?? this.#options.defaultTtlSeconds));
    this.#stats.sets++;
  }

  async del(...keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#run(() => this.client.unlink(...keys));
  }

  async clearPattern(pattern: string): Promise<number> {
    return this.#run(() => this.scanUnlink(pattern));
  }

  /**
   * SCAN + UNLINK in batches: never KEYS, which would block Redis on a large keyspace. Not guarded by the
   * breaker: recovery replays use it while the breaker is still half-open.
   */
  async scanUnlink(pattern: string): Promise<number> {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await this.client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }

  async healthCheck(): Promise<CacheHealth> {
    const detail: Record<string, unknown> = { status: this.client.status, breaker: this.breaker.state };
    if (!this.breaker.allow()) return { tier: 'redis', healthy: false, latencyMs: null, detail };
    try {
      const started = performance.now();
      await this.client.ping();
      const latencyMs = performance.now() - started;
      const info = await this.client.info('memory');
      detail.usedMemory = /used_memory_human:(\S+)/.exec(info)?.[1];
      detail.maxMemory = /maxmemory_human:(\S+)/.exec(info)?.[1];
      return { tier: 'redis', healthy: true, latencyMs, detail };
    } catch (error) {
      return {
        tier: 'redis',
        healthy: false,
        latencyMs: null,
        detail: { ...detail, error: (error as Error).message },
      };
    }
  }

  async getVersioned(key: string): Promise<CacheEntry | undefined> {
    const raw = await this.#run(() => this.client.get(key));
    const entry = raw === null ? undefined : parseVersioned(raw);
    if (!entry || entry.value === null) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return { value: entry.value, version: entry.version, ageMs: Date.now() - entry.at };
  }

  async setVersioned(
    key: string,
    value: string | null,
    version: number,
    ttlSeconds?: number,
  ): Promise<boolean> {
    // Too big to cache: still leave a tombstone, so the newer version shadows older cached ones.
    const payload = value === null || value.length > this.#maxEntrySize ? 't' : `v${Date.now()}|${value}`;
    const stored = await this.#run(() =>
      this.client.setVersioned(
        key,
        String(version),
        payload,
        String(ttlSeconds ?? this.#options.defaultTtlSeconds),
      ),
    );
    if (stored === 1 && payload !== 't') this.#stats.sets++;
    // True when the cache now holds exactly what was given (a value, or the tombstone asked for).
    return stored === 1 && (value === null || payload !== 't');
  }

  async incr(key: string): Promise<number> {
    return Number(await this.#run(() => this.client.incrFromClock(key, String(Date.now() * 1000))));
  }

  /** Redis's run_id: it changes when the server restarts (and its memory is empty again). */
  async runId(): Promise<string | undefined> {
    const info = await this.#run(() => this.client.info('server'));
    return /run_id:(\w+)/.exec(info)?.[1];
  }

  /** Whether the server restarted since the last call (the first call only records the run_id). */
  async restartedSinceLastCheck(): Promise<boolean> {
    const current = await this.runId();
    const restarted = this.#runId !== undefined && current !== this.#runId;
    this.#runId = current;
    return restarted;
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    this.breaker.close();
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker.run(fn, () => new AppError('CACHE_UNAVAILABLE', 'Redis is unavailable'));
    } catch (error) {
      // A refusal by the open breaker is not a Redis error: only count what Redis (or the network) did.
      if (!(error instanceof AppError && error.code === 'CACHE_UNAVAILABLE')) this.#stats.errors++;
      throw error;
    }
  }
}

/** `<version>|v<cachedAtMs>|<value>` or `<version>|t` (a tombstone). */
export function parseVersioned(
  raw: string,
): { version: number; value: string | null; at: number } | undefined {
  const sep = raw.indexOf('|');
  if (sep <= 0) return undefined;
  const version = Number(raw.slice(0, sep));
  const kind = raw[sep + 1];
  if (!Number.isFinite(version)) return undefined;
  if (kind === 't') return { version, value: null, at: 0 };
  if (kind !== 'v') return undefined;
  const second = raw.indexOf('|', sep + 2);
  if (second === -1) return undefined;
  const at = Number(raw.slice(sep + 2, second));
  return Number.isFinite(at) ? { version, value: raw.slice(second + 1), at } : undefined;
}
