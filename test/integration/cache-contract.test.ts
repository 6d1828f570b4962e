/**
 * One cache contract, every tier: the memory tier alone, Redis alone, and memory in front of Redis.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCache } from '../../src/cache/create-cache.ts';
import { MemoryCache } from '../../src/cache/memory-cache.ts';
import { RedisCache } from '../../src/cache/redis-cache.ts';
import type { Cache } from '../../src/ports/cache.ts';
import { encodeUser, threadKey, userPattern } from '../../src/service/thread-cache.ts';
import { createRedisDatabase } from '../harness/redis.ts';
import { hasService, sharedRedisUrl } from '../harness/require-services.ts';

type TierName = 'memory' | 'redis' | 'memory+redis';
const tiers: TierName[] = ['memory', ...(hasService('redis') ? (['redis', 'memory+redis'] as const) : [])];

async function makeTier(tier: TierName): Promise<Cache> {
  if (tier === 'memory') return new MemoryCache({ ttl: 300, maxSize: 1000, cleanupInterval: 0 });
  const url = await createRedisDatabase(sharedRedisUrl());
  if (tier === 'redis') {
    const cache = new RedisCache({ url, defaultTtlSeconds: 300 });
    await cache.ready();
    return cache;
  }
  return createCache({ ttlSeconds: 300, maxSize: 1000, cleanupIntervalMs: 0, redis: { url } });
}

describe.each(tiers)('cache contract: %s', (tier) => {
  let cache: Cache;
  beforeAll(async () => {
    cache = await makeTier(tier);
  });
  afterAll(async () => {
    await cache?.close();
  });
  beforeEach(async () => {
    await cache.clearPattern('*');
  });

  it('gets what was set, misses what was not, deletes', async () => {
    expect(await cache.get('k1')).toBeUndefined();
    await cache.set('k1', 'value one', 60);
    expect(await cache.get('k1')).toBe('value one');
    await cache.del('k1');
    expect(await cache.get('k1')).toBeUndefined();
  });

  it('keeps the newest version: older writes are refused, tombstones shadow older values', async () => {
    expect(await cache.setVersioned('t', '{"v":2}', 2, 60)).toBe(true);
    expect(await cache.setVersioned('t', '{"v":1}', 1, 60)).toBe(false);
    expect(await cache.getVersioned('t')).toMatchObject({ value: '{"v":2}', version: 2 });
    expect(await cache.setVersioned('t', null, 3, 60)).toBe(true);
    expect(await cache.getVersioned('t')).toBeUndefined();
    expect(await cache.setVersioned('t', '{"v":2}', 2, 60)).toBe(false);
    expect(await cache.getVersioned('t')).toBeUndefined();
    expect(await cache.setVersioned('t', '{"v":4}', 4, 60)).toBe(true);
    expect(await cache.getVersioned('t')).toMatchObject({ value: '{"v":4}', version: 4 });
    // Microsecond versions of present-day timestamps are exact.
    const big = Date.now() * 1000 + 123;
    expect(await cache.setVersioned('t', 'x', big, 60)).toBe(true);
    expect(await cache.setVersioned('t', 'y', big - 1, 60)).toBe(false);
    expect((await cache.getVersioned('t'))?.version).toBe(big);
  });

  it('increments counters monotonically and reads them with get', async () => {
    const first = await cache.incr('gen');
    const second = await cache.incr('gen');
    expect(second).toBe(first + 1);
    expect(await cache.get('gen')).toBe(String(second));
  });

  it('does not cache values beyond the size bound, and a too-big newer version still shadows older ones', async () => {
    const huge = 'x'.repeat(300 * 1024);
    await cache.set('big', huge, 60);
    expect(await cache.get('big')).toBeUndefined();
    await cache.setVersioned('bigv', 'small', 1, 60);
    expect(await cache.setVersioned('bigv', huge, 2, 60)).toBe(false);
    expect(await cache.getVersioned('bigv')).toBeUndefined();
    expect(await cache.setVersioned('bigv', 'small', 1, 60)).toBe(false);
  });

  it('expires entries after their TTL', async () => {
    await cache.set('short', 'v', 1);
    await cache.setVersioned('shortv', 'v', 1, 1);
    expect(await cache.get('short')).toBe('v');
    await new Promise((r) => setTimeout(r, 1_150));
    expect(await cache.get('short')).toBeUndefined();
    expect(await cache.getVersioned('shortv')).toBeUndefined();
  });

  it("clears one user's keys without touching another user's, whatever characters their ids contain", async () => {
    const users = [
      'alice',
      'alice*',
      'ali?e',
      'al[ic]e',
      'alice:bob',
      'alice\\',
      'bob',
      '*',
      '?',
      'ALICE',
      'a',
    ];
    for (const victim of ['alice', '*', 'ali?e', 'al[ic]e', 'a']) {
      await cache.clearPattern('*');
      for (const user of users) {
        await cache.setVersioned(threadKey(user, 't1'), `{"u":${JSON.stringify(user)}}`, 1, 60);
        await cache.set(`tt:1:l:${encodeUser(user)}:1:hash`, 'list', 60);
      }
      await cache.clearPattern(userPattern(victim));
      for (const user of users) {
        const thread = await cache.getVersioned(threadKey(user, 't1'));
        const list = await cache.get(`tt:1:l:${encodeUser(user)}:1:hash`);
        if (user === victim) {
          expect(thread, `${victim}'s own thread`).toBeUndefined();
          expect(list).toBeUndefined();
        } else {
          expect(thread, `clearing ${victim} must keep ${user}`).toBeDefined();
          expect(list, `clearing ${victim} must keep ${user}'s list`).toBe('list');
        }
      }
    }
  });

  it('reports health and statistics', async () => {
    await cache.set('s', 'v', 60);
    await cache.get('s');
    await cache.get('missing');
    const health = await cache.healthCheck();
    expect(health.healthy).toBe(true);
    expect(health.tier).toBe(tier);
    const stats = cache.stats();
    expect(stats.hits).toBeGreaterThanOrEqual(1);
    expect(stats.misses).toBeGreaterThanOrEqual(1);
  });
});
