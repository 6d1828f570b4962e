/**
 * Cache warming: after a start with a cold cache, the most recently active threads and the first list pages of
 * the most recently active users are served from the cache; warming stays within its row and time budgets, and a
 * write after it is what the next read returns.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheWarmer, type WarmLimits } from '../../src/service/cache-warmer.ts';
import { threadKey } from '../../src/service/thread-cache.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

describe('cache warming', () => {
  let t: TestApp;
  const warmer = (limits: Partial<WarmLimits> = {}) =>
    new CacheWarmer({
      store: t.store,
      cache: t.cache,
      service: t.service,
      limits: { threads: 10, users: 2, timeBudgetMs: 10_000, ...limits },
      ttlSeconds: 300,
    });
  const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString();
  const cached = async (userId: string, threadId: string) =>
    (await t.cache.getVersioned(threadKey(userId, threadId))) !== undefined;

  beforeAll(async () => {
    t = await createTestApp();
    for (let i = 0; i < 30; i++) {
      await t.service.createThread('me', {
        threadId: `m${i}`,
        subject: `mine ${i}`,
        lastActivity: minutesAgo(2 * i),
      });
      await t.service.createThread('other', {
        threadId: `o${i}`,
        subject: `theirs ${i}`,
        lastActivity: minutesAgo(2 * i + 1),
      });
    }
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.cache.clearPattern('*');
  });

  it('loads the most recently active threads and the first list pages, and those reads are then hits', async () => {
    const result = await warmer().warm();
    expect(result).toMatchObject({ threads: 10, lists: 4, stoppedEarly: false });
    // The ten most recent across users: m0, o0, m1, o1, ... m4, o4.
    for (let i = 0; i < 5; i++) {
      expect(await cached('me', `m${i}`)).toBe(true);
      expect(await cached('other', `o${i}`)).toBe(true);
    }
    expect(await cached('me', 'm5')).toBe(false);
    const before = t.cache.stats();
    const thread = await t.service.getThread('me', 'm3');
    expect(thread.subject).toBe('mine 3');
    // What the web app asks first: all threads, and the active visible ones.
    for (const url of ['/api/v1/threads', '/api/v1/threads?status=active&hidden=false']) {
      const page = await t.app.inject({ method: 'GET', url });
      expect(page.statusCode).toBe(200);
      expect(
        page
          .json()
          .items.map((x: { threadId: string }) => x.threadId)
          .slice(0, 3),
      ).toEqual(['m0', 'm1', 'm2']);
    }
    const after = t.cache.stats();
    // The thread and both pages were hits. The only misses are the two lookups of the user's list generation: a
    // user who has not written since the cache was emptied has none (generation 0).
    expect(after.hits - before.hits).toBeGreaterThanOrEqual(3);
    expect(after.misses - before.misses).toBe(2);
  });

  it('stops at its time budget and says so', async () => {
    const result = await warmer({ threads: 60, timeBudgetMs: 0 }).warm();
    expect(result.stoppedEarly).toBe(true);
    expect(result.threads).toBeLessThan(60);
  });

  it('a write after warming is what the next read returns', async () => {
    await warmer().warm();
    expect(await cached('me', 'm0')).toBe(true);
    await t.service.updateThread('me', 'm0', { subject: 'renamed' });
    expect((await t.service.getThread('me', 'm0')).subject).toBe('renamed');
    const page = await t.service.getThreadsByUser('me', { sort: 'lastActivity', order: 'desc', limit: 50 });
    expect(page.items.find((x) => x.threadId === 'm0')?.subject).toBe('renamed');
  });
});
