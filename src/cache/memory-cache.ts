/**
 * The in-process tier, on lru-cache: bounded by entry count (the spec's maxSize) and by entry size (a huge value is
 * not cached at all), entries are fresh for their TTL, and expired ones are purged every cleanupInterval. Counters
 * (list generations) live apart from the LRU: evicting one would move a generation backwards and resurrect
 * stale lists.
 *
 * With `staleRetention`, an entry outlives its freshness: ordinary reads no longer see it, but a read that accepts
 * stale data (the database is unavailable) still can, up to the age it asks for; and the entry keeps guarding its
 * version against older writes all that time.
 */
import { LRUCache } from 'lru-cache';
import type { Cache, CacheEntry, CacheHealth, CacheReadOptions, CacheStats } from '../ports/cache.ts';
import { globToRegExp } from './glob.ts';

export interface MemoryCacheOptions {
  /** Seconds an entry is fresh (unless set with a shorter TTL). */
  ttl: number;
  maxSize: number;
  /** Milliseconds between purges of expired entries; 0 disables the timer. */
  cleanupInterval: number;
  /** Largest value cached, in characters. */
  maxEntrySize?: number;
  /** Seconds an entry is kept, for reads that accept stale data, beyond its freshness. Default 0. */
  staleRetention?: number;
}

interface Stored {
  value: string | null;
  version: number;
  /** When it was cached (ms since the epoch). */
  at: number;
  /** Until when ordinary reads see it. */
  freshUntil: number;
}

export class MemoryCache implements Cache {
  readonly #lru: LRUCache<string, Stored>;
  readonly #counters = new Map<string, number>();
  readonly #stats: CacheStats = { hits: 0, misses: 0, sets: 0, errors: 0 };
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #maxEntrySize: number;
  readonly #retentionMs: number;
  readonly #defaultTtlMs: number;

  constructor(options: MemoryCacheOptions) {
    this.#maxEntrySize = options.maxEntrySize ?? 256 * 1024;
    this.#defaultTtlMs = options.ttl * 1000;
    this.#retentionMs = (options.staleRetention ?? 0) * 1000;
    this.#lru = new LRUCache<string, Stored>({
      max: options.maxSize,
      ttl: this.#defaultTtlMs + this.#retentionMs,
      updateAgeOnGet: false,
    });
    if (options.cleanupInterval > 0) {
      this.#timer = setInterval(() => this.#lru.purgeStale(), options.cleanupInterval);
      this.#timer.unref();
    }
  }

  /**
   * Makes every entry fresh for at most `seconds` more (Redis became unreachable: nothing invalidates this tier from
   * other instances any more, so what it holds may only be trusted briefly). Entries stay available as stale data.
   */
  capTtl(seconds: number): void {
    const limit = Date.now() + seconds * 1000;
    for (const entry of this.#lru.values()) {
      if (entry.freshUntil > limit) entry.freshUntil = limit;
    }
  }

  /** Empties the tier (entries and counters), keeping statistics. */
  clear(): void {
    this.#lru.clear();
    this.#counters.clear();
  }

  get size(): number {
    return this.#lru.size;
  }

  async get(key: string, options?: CacheReadOptions): Promise<string | undefined> {
    return this.getSync(key, options);
  }

  getSync(key: string, options?: CacheReadOptions): string | undefined {
    const counter = this.#counters.get(key);
    if (counter !== undefined) return String(counter);
    return this.getVersionedSync(key, options)?.value;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (value.length > this.#maxEntrySize) return;
    this.#stats.sets++;
    this.#store(key, value, 0, ttlSeconds);
  }

  async del(...keys: string[]): Promise<void> {
    for (const key of keys) {
      this.#lru.delete(key);
      this.#counters.delete(key);
    }
  }

  async clearPattern(pattern: string): Promise<number> {
    const regex = globToRegExp(pattern);
    let deleted = 0;
    for (const key of [...this.#lru.keys()]) {
      if (regex.test(key)) {
        this.#lru.delete(key);
        deleted++;
      }
    }
    for (const key of [...this.#counters.keys()]) {
      if (regex.test(key)) {
        this.#counters.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  async healthCheck(): Promise<CacheHealth> {
    return {
      tier: 'memory',
      healthy: true,
      latencyMs: 0,
      detail: { entries: this.#lru.size, maxSize: this.#lru.max },
    };
  }

  async getVersioned(key: string, options?: CacheReadOptions): Promise<CacheEntry | undefined> {
    return this.getVersionedSync(key, options);
  }

  getVersionedSync(key: string, options?: CacheReadOptions): CacheEntry | undefined {
    const entry = this.#lru.get(key);
    const now = Date.now();
    const usable =
      entry !== undefined &&
      entry.value !== null &&
      (options?.maxStaleMs === undefined ? now < entry.freshUntil : now - entry.at <= options.maxStaleMs);
    if (!usable) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return { value: entry.value as string, version: entry.version, ageMs: now - entry.at };
  }

  async setVersioned(
    key: string,
    value: string | null,
    version: number,
    ttlSeconds?: number,
  ): Promise<boolean> {
    const current = this.#lru.peek(key);
    if (current !== undefined && current.version > version) return false;
    if (value !== null && value.length > this.#maxEntrySize) {
      // Too big to cache, but a newer version must still shadow older ones: leave a tombstone.
      this.#store(key, null, version, ttlSeconds);
      return false;
    }
    this.#stats.sets++;
    this.#store(key, value, version, ttlSeconds);
    return true;
  }

  async incr(key: string): Promise<number> {
    const next = (this.#counters.get(key) ?? 0) + 1;
    this.#counters.set(key, next);
    return next;
  }

  stats(): CacheStats {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#lru.clear();
    this.#counters.clear();
  }

  #store(key: string, value: string | null, version: number, ttlSeconds: number | undefined): void {
    const ttlMs =
      ttlSeconds === undefined ? this.#defaultTtlMs : Math.min(ttlSeconds * 1000, this.#defaultTtlMs);
    const at = Date.now();
    this.#lru.set(key, { value, version, at, freshUntil: at + ttlMs }, { ttl: ttlMs + this.#retentionMs });
  }
}
