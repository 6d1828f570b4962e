import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCache, type MemoryCacheOptions } from './memory-cache.ts';

const caches: MemoryCache[] = [];
function cache(options: Partial<MemoryCacheOptions> = {}): MemoryCache {
  const c = new MemoryCache({ ttl: 300, maxSize: 100, cleanupInterval: 0, ...options });
  caches.push(c);
  return c;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  for (const c of caches.splice(0)) await c.close();
});

describe('MemoryCache: plain entries', () => {
  it('misses, then hits after a set, and counts both', async () => {
    const c = cache();
    expect(await c.get('k')).toBeUndefined();
    await c.set('k', '{"a":1}');
    expect(await c.get('k')).toBe('{"a":1}');
    expect(await c.get('k')).toBe('{"a":1}');
    expect(c.stats()).toEqual({ hits: 2, misses: 1, sets: 1, errors: 0 });
  });

  it('keeps the empty string as a value (a hit, not a miss)', async () => {
    const c = cache();
    await c.set('k', '');
    expect(await c.get('k')).toBe('');
  });

  it('does not cache a value larger than maxEntrySize', async () => {
    const c = cache({ maxEntrySize: 10 });
    await c.set('small', 'x'.repeat(10));
    await c.set('big', 'x'.repeat(11));
    expect(await c.get('small')).toBe('x'.repeat(10));
    expect(await c.get('big')).toBeUndefined();
    expect(c.size).toBe(1);
  });

  it('deletes several keys at once, counters included', async () => {
    const c = cache();
    await c.set('a', '1');
    await c.set('b', '2');
    await c.set('c', '3');
    await c.incr('n');
    await c.del('a', 'b', 'n', 'missing');
    expect(await c.get('a')).toBeUndefined();
    expect(await c.get('b')).toBeUndefined();
    expect(await c.get('n')).toBeUndefined();
    expect(await c.get('c')).toBe('3');
  });

  it('evicts the least recently used entry beyond maxSize', async () => {
    const c = cache({ maxSize: 3 });
    for (const k of ['a', 'b', 'c']) await c.set(k, k);
    await c.get('a');
    await c.set('d', 'd');
    expect(await c.get('b')).toBeUndefined();
    expect(await c.get('a')).toBe('a');
    expect(await c.get('c')).toBe('c');
    expect(await c.get('d')).toBe('d');
    expect(c.size).toBe(3);
  });

  it('expires entries after the TTL', async () => {
    const c = cache({ ttl: 0.05 });
    await c.set('k', 'v');
    expect(await c.get('k')).toBe('v');
    await sleep(80);
    expect(await c.get('k')).toBeUndefined();
  });

  it('never keeps an entry longer than the default TTL, whatever the caller asks', async () => {
    const c = cache({ ttl: 0.05 });
    await c.set('k', 'v', 3600);
    await c.setVersioned('v', 'x', 1, 3600);
    await sleep(80);
    expect(await c.get('k')).toBeUndefined();
    expect(await c.getVersioned('v')).toBeUndefined();
  });

  it('uses a shorter per-entry TTL when asked', async () => {
    const c = cache({ ttl: 300 });
    await c.set('short', 'v', 0.05);
    await c.set('long', 'v');
    await sleep(80);
    expect(await c.get('short')).toBeUndefined();
    expect(await c.get('long')).toBe('v');
  });

  it('capTtl makes entries fresh for at most that long, keeping them for stale reads', async () => {
    const c = cache({ ttl: 300, staleRetention: 60 });
    await c.setVersioned('k', 'v', 7);
    c.capTtl(0.05);
    await sleep(80);
    expect(await c.getVersioned('k')).toBeUndefined();
    const stale = await c.getVersioned('k', { maxStaleMs: 10_000 });
    expect(stale?.value).toBe('v');
    expect(stale?.ageMs).toBeGreaterThanOrEqual(80);
    // An expired entry still guards its version.
    expect(await c.setVersioned('k', 'older', 6)).toBe(false);
  });

  it('serves an expired entry only to reads that accept its age, and only within the retention', async () => {
    const c = cache({ ttl: 0.05, staleRetention: 0.1 });
    await c.set('k', 'v');
    await sleep(70);
    expect(await c.get('k')).toBeUndefined();
    expect(await c.get('k', { maxStaleMs: 20 })).toBeUndefined();
    expect(await c.get('k', { maxStaleMs: 1_000 })).toBe('v');
    await sleep(120);
    expect(await c.get('k', { maxStaleMs: 1_000 })).toBeUndefined();
  });

  it('purges expired entries on its cleanup timer', async () => {
    const c = cache({ ttl: 0.03, cleanupInterval: 20 });
    await c.set('a', '1');
    await c.set('b', '2');
    expect(c.size).toBe(2);
    await sleep(120);
    expect(c.size).toBe(0);
  });
});

describe('MemoryCache: clearPattern', () => {
  it('deletes exactly the matching entries and counters and says how many', async () => {
    const c = cache();
    await c.set('tt:1:t:bWU:a', '1');
    await c.set('tt:1:l:bWU:0:h', '2');
    await c.incr('tt:1:g:bWU:gen');
    await c.set('tt:1:t:b3RoZXI:a', '3');
    await c.set('other', '4');
    expect(await c.clearPattern('tt:1:?:bWU:*')).toBe(3);
    expect(await c.get('tt:1:t:bWU:a')).toBeUndefined();
    expect(await c.get('tt:1:g:bWU:gen')).toBeUndefined();
    expect(await c.get('tt:1:t:b3RoZXI:a')).toBe('3');
    expect(await c.get('other')).toBe('4');
    expect(await c.clearPattern('*')).toBe(2);
    expect(c.size).toBe(0);
  });

  it('returns 0 when nothing matches', async () => {
    const c = cache();
    await c.set('a', '1');
    expect(await c.clearPattern('b*')).toBe(0);
    expect(await c.get('a')).toBe('1');
  });
});

describe('MemoryCache: versioned entries', () => {
  it('stores newer and equal versions and refuses older ones', async () => {
    const c = cache();
    expect(await c.setVersioned('k', 'v5', 5)).toBe(true);
    expect(await c.setVersioned('k', 'v3', 3)).toBe(false);
    expect(await c.getVersioned('k')).toMatchObject({ value: 'v5', version: 5 });
    expect(await c.setVersioned('k', 'v5b', 5)).toBe(true);
    expect(await c.setVersioned('k', 'v9', 9)).toBe(true);
    expect(await c.getVersioned('k')).toMatchObject({ value: 'v9', version: 9 });
  });

  it('reads a tombstone as a miss, and the tombstone still shadows older versions', async () => {
    const c = cache();
    await c.setVersioned('k', 'v1', 1);
    expect(await c.setVersioned('k', null, 2)).toBe(true);
    expect(await c.getVersioned('k')).toBeUndefined();
    expect(await c.get('k')).toBeUndefined();
    expect(await c.setVersioned('k', 'v1', 1)).toBe(false);
    expect(await c.getVersioned('k')).toBeUndefined();
    expect(await c.setVersioned('k', 'v3', 3)).toBe(true);
    expect(await c.getVersioned('k')).toMatchObject({ value: 'v3', version: 3 });
  });

  it('leaves a tombstone for a value too big to cache, so an older one cannot come back', async () => {
    const c = cache({ maxEntrySize: 5 });
    await c.setVersioned('k', 'small', 1);
    expect(await c.setVersioned('k', 'x'.repeat(6), 2)).toBe(false);
    expect(await c.getVersioned('k')).toBeUndefined();
    expect(await c.setVersioned('k', 'small', 1)).toBe(false);
    expect(await c.getVersioned('k')).toBeUndefined();
  });

  it('counts hits and misses of versioned reads', async () => {
    const c = cache();
    await c.getVersioned('k');
    await c.setVersioned('k', 'v', 1);
    await c.getVersioned('k');
    expect(c.stats()).toMatchObject({ hits: 1, misses: 1, sets: 1 });
  });

  it('plain get reads a versioned value', async () => {
    const c = cache();
    await c.setVersioned('k', 'v', 7);
    expect(await c.get('k')).toBe('v');
  });
});

describe('MemoryCache: counters', () => {
  it('increments from 1 and reads back as text', async () => {
    const c = cache();
    expect(await c.incr('gen')).toBe(1);
    expect(await c.incr('gen')).toBe(2);
    expect(await c.get('gen')).toBe('2');
  });

  it('keeps counters when the LRU evicts everything else', async () => {
    const c = cache({ maxSize: 2 });
    await c.incr('gen');
    await c.incr('gen');
    for (let i = 0; i < 10; i++) await c.set(`k${i}`, 'v');
    expect(await c.get('gen')).toBe('2');
    expect(await c.incr('gen')).toBe(3);
  });

  it('starts over at 1 after a clear', async () => {
    const c = cache();
    await c.incr('gen');
    await c.incr('gen');
    await c.clearPattern('gen');
    expect(await c.get('gen')).toBeUndefined();
    expect(await c.incr('gen')).toBe(1);
  });
});

describe('MemoryCache: health and close', () => {
  it('reports itself healthy with its size', async () => {
    const c = cache({ maxSize: 42 });
    await c.set('a', '1');
    expect(await c.healthCheck()).toEqual({
      tier: 'memory',
      healthy: true,
      latencyMs: 0,
      detail: { entries: 1, maxSize: 42 },
    });
  });

  it('empties itself on close', async () => {
    const c = cache({ cleanupInterval: 10 });
    await c.set('a', '1');
    await c.incr('n');
    await c.close();
    expect(c.size).toBe(0);
    expect(await c.get('n')).toBeUndefined();
  });
});
