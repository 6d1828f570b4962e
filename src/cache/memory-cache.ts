/**
 * The in-process tier, on lru-cache: bounded by entry count (the spec's maxSize) and by entry size (a huge value is
 * not cached at all), entries expire after the TTL, and expired ones are purged every cleanupInterval. Counters
 * (list generations) live apart from the LRU: evicting one would move a generation backwards and resurrect
 * stale lists.
 */
import { LRUCache } from 'lru-cache';
import type { Cache, CacheEntry, CacheHealth, CacheStats } from '../ports/cache.ts';
import { globToRegExp } from './glob.ts';

export interface MemoryCacheOptions {
  /** Seconds. */
  ttl: number;
  maxSize: number;
  /** Milliseconds between purges of expired entries; 0 disables the timer. */
  cleanupInterval: number;
  /** Largest value cached, in characters. */
  maxEntrySize?: number;
}

interface Stored {
  value: string | null;
  version: number;
}

export class MemoryCache implements Cache {
  readonly #lru: LRUCache<string, Stored>;
  readonly #counters = new Map<string, number>();
  readonly #stats: CacheStats = { hits: 0, misses: 0, sets: 0, errors: 0 };
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #maxEntrySize: number;
  #defaultTtlMs: number;

  constructor(options: MemoryCacheOptions) {
    this.#maxEntrySize = options.maxEntrySize ?? 256 * 1024;
    this.#defaultTtlMs = options.ttl * 1000;
    this.#lru = new LRUCache<string, Stored>({
      max: options.maxSize,
      ttl: this.#defaultTtlMs,
      updateAgeOnGet: false,
    });
    if (options.cleanupInterval > 0) {
      this.#timer = setInterval(() => this.#lru.purgeStale(), options.cleanupInterval);
      this.#timer.unref();
    }
  }

  /** Shortens (or restores) the TTL of new entries: used while a shared tier is unreachable. */
  setDefaultTtl(seconds: number): void {
    this.#defaultTtlMs = seconds * 1000;
  }

  /** Shortens every entry that would live longer than `seconds` (Redis became unreachable: nothing invalidates
   * this tier from other instances any more, so what it holds may only be trusted briefly). */
  capTtl(seconds: number): void {
    const cap = seconds * 1000;
    for (const key of [...this.#lru.keys()]) {
      if (this.#lru.getRemainingTTL(key) > cap) {
        const entry = this.#lru.peek(key);
        if (entry) this.#lru.set(key, entry, { ttl: cap });
      }
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

  async get(key: string): Promise<string | undefined> {
    return this.getSync(key);
  }

  getSync(key: string): string | undefined {
    const counter = this.#counters.get(key);
    if (counter !== undefined) return String(counter);
    const entry = this.#lru.get(key);
    if (entry === undefined || entry.value === null) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return entry.value;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (value.length > this.#maxEntrySize) return;
    this.#stats.sets++;
    this.#lru.set(key, { value, version: 0 }, { ttl: this.#ttl(ttlSeconds) });
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

  async getVersioned(key: string): Promise<CacheEntry | undefined> {
    return this.getVersionedSync(key);
  }

  getVersionedSync(key: string): CacheEntry | undefined {
    const entry = this.#lru.get(key);
    if (entry === undefined || entry.value === null) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    return { value: entry.value, version: entry.version };
  }

  async setVersioned(
    key: string,
    value: string | null,
    version: number,
    ttlSeconds?: number,
  ): Promise<boolean> {
    const current = this.#lru.get(key);
    if (current !== undefined && current.version > version) return false;
    if (value !== null && value.length > this.#maxEntrySize) {
      // Too big to cache, but a newer version must still shadow older ones: leave a tombstone.
      this.#lru.set(key, { value: null, version }, { ttl: this.#ttl(ttlSeconds) });
      return false;
    }
    this.#stats.sets++;
    this.#lru.set(key, { value, version }, { ttl: this.#ttl(ttlSeconds) });
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

  #ttl(ttlSeconds: number | undefined): number {
    return ttlSeconds === undefined ? this.#defaultTtlMs : Math.min(ttlSeconds * 1000, this.#defaultTtlMs);
  }
}
