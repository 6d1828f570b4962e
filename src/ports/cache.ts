/**
 * The cache port: the spec's RedisService methods plus the two the correctness rules need. Values are strings
 * (serialized JSON), so a hit can be sent as is. Versioned writes make the delete-then-set race harmless: a slow
 * reader can never put back a row older than one already cached (or tombstoned) by a newer commit.
 */
export interface CacheHealth {
  tier: string;
  healthy: boolean;
  latencyMs: number | null;
  detail?: Record<string, unknown>;
}

export interface CacheStats {
  hits: number;
  misses: number;
  sets: number;
  errors: number;
}

export interface CacheEntry {
  value: string;
  version: number;
  /** How long ago the value was cached, when the tier knows. */
  ageMs?: number;
}

export interface CacheReadOptions {
  /** Accept an entry past its freshness, up to this age (the database is unavailable). */
  maxStaleMs?: number;
}

export interface Cache {
  get(key: string, options?: CacheReadOptions): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  del(...keys: string[]): Promise<void>;
  /** Deletes every key matching a glob pattern; returns how many were deleted. */
  clearPattern(pattern: string): Promise<number>;
  healthCheck(): Promise<CacheHealth>;
  /** Reads a versioned entry (a tombstone reads as undefined). */
  getVersioned(key: string, options?: CacheReadOptions): Promise<CacheEntry | undefined>;
  /**
   * Stores `value` at `version` unless the key holds an entry or tombstone with a newer version. `value: null`
   * writes a tombstone. Returns true when the cache now holds exactly what was given (false: refused for an older
   * version, or a value too big to cache, which leaves a tombstone instead). `invalidate` marks a write after a commit: every other
   * instance must drop older copies it holds.
   */
  setVersioned(
    key: string,
    value: string | null,
    version: number,
    ttlSeconds?: number,
    options?: { invalidate?: boolean },
  ): Promise<boolean>;
  /** Atomically increments a counter (list generations); returns the new value. `get` reads it as text. */
  incr(key: string): Promise<number>;
  stats(): CacheStats;
  close(): Promise<void>;
}
