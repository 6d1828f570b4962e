/**
 * Redis dies or freezes under the service: every request still succeeds from the database, none waits longer than
 * ~250 ms, and the service uses Redis again by itself once it answers. Also: concurrent readers and writers with a
 * delay between the database read and the cache fill never see data older than the last acknowledged write.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCache } from '../../src/cache/create-cache.ts';
import { MemoryCache } from '../../src/cache/memory-cache.ts';
import type { TieredCache } from '../../src/cache/tiered-cache.ts';
import type { Cache } from '../../src/ports/cache.ts';
import { ThreadTrackingService } from '../../src/service/thread-tracking-service.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { describeWithService, hasService } from '../harness/require-services.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describeWithService('redis', 'the service when Redis dies or freezes', () => {
  let redis: RedisServer;
  let t: TestApp;
  let cache: TieredCache;
  let probe: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    cache = (await createCache({
      ttlSeconds: 300,
      maxSize: 1000,
      cleanupIntervalMs: 0,
      redis: { url: redis.url, degradedTtlSeconds: 2 },
    })) as TieredCache;
    t = await createTestApp({ cache });
    probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    for (let i = 0; i < 30; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: `r${i}`, subject: `S${i}` },
      });
      expect(res.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    probe?.disconnect();
    await t?.close();
    await redis?.stop();
  });

  /** A mix of cached reads, uncached reads, lists and writes; each timed. */
  async function traffic(rounds: number): Promise<number[]> {
    const durations: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const requests = [
        { method: 'GET' as const, url: `/api/v1/threads/r${i % 30}` },
        { method: 'GET' as const, url: '/api/v1/threads?limit=10' },
        { method: 'POST' as const, url: `/api/v1/threads/r${(i * 7) % 30}/${i % 2 ? 'hide' : 'unhide'}` },
        {
          method: 'PATCH' as const,
          url: `/api/v1/threads/r${(i * 3) % 30}`,
          payload: { subject: `round ${i}` },
        },
      ];
      for (const request of requests) {
        const started = performance.now();
        const res = await t.app.inject(request);
        durations.push(performance.now() - started);
        expect(res.statusCode, `${request.method} ${request.url}: ${res.body}`).toBe(200);
      }
      // Reads reflect the write just acknowledged, from whichever tier answers.
      const read = await t.app.inject({ method: 'GET', url: `/api/v1/threads/r${(i * 3) % 30}` });
      expect(read.json().subject).toBe(`round ${i}`);
    }
    return durations;
  }

  const redisIsUsedAgain = async () => {
    await probe.connect().catch(() => {});
    await until(async () => !cache.degraded, 10_000);
    await probe.flushdb();
    await t.app.inject({ method: 'GET', url: '/api/v1/threads/r1' });
    return (await probe.dbsize()) > 0;
  };

  it('keeps answering, each request within 250 ms, while Redis is killed, and uses Redis again after', async () => {
    await traffic(3);
    await redis.shutdownNoSave();
    probe.disconnect();
    const durations = await traffic(15);
    expect(Math.max(...durations)).toBeLessThan(250);
    expect(cache.degraded).toBe(true);
    const ready = await t.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.json().status).toBe('degraded');
    expect(ready.json().checks.cache.status).toBe('degraded');
    await redis.start();
    expect(await redisIsUsedAgain()).toBe(true);
    expect((await t.app.inject({ method: 'GET', url: '/ready' })).json().status).toBe('ready');
  });

  it('keeps answering, each request within 250 ms, while Redis is frozen, and uses Redis again after', async () => {
    await traffic(2);
    await redis.pause();
    try {
      const durations = await traffic(15);
      expect(Math.max(...durations)).toBeLessThan(250);
      // Only the first request after the freeze waits for the command timeout; the breaker spares the others.
      expect(durations.filter((d) => d > 80).length).toBeLessThanOrEqual(2);
    } finally {
      await redis.resume();
    }
    expect(await redisIsUsedAgain()).toBe(true);
  });
});

describe.each(['memory', ...(hasService('redis') ? ['memory+redis'] : [])])(
  'delete-then-set race on %s: no read older than the last acknowledged write',
  (tier) => {
    let redis: RedisServer | undefined;
    let t: TestApp;
    let cache: Cache;
    beforeAll(async () => {
      if (tier === 'memory') cache = new MemoryCache({ ttl: 300, maxSize: 1000, cleanupInterval: 0 });
      else {
        redis = await startRedis();
        cache = await createCache({
          ttlSeconds: 300,
          maxSize: 1000,
          cleanupIntervalMs: 0,
          redis: { url: redis.url },
        });
      }
      t = await createTestApp({ cache });
    });
    afterAll(async () => {
      await t?.close();
      await redis?.stop();
    });

    it('holds under concurrent readers and writers with a delay between database read and cache fill', async () => {
      // A service whose database reads are slow after they have read: exactly the window of the race.
      const slowStore = Object.create(t.store) as typeof t.store;
      const threads = Object.create(t.store.threads) as typeof t.store.threads;
      threads.get = async (userId, threadId) => {
        const row = await t.store.threads.get(userId, threadId);
        await sleep(Math.random() * 15);
        return row;
      };
      Object.defineProperty(slowStore, 'threads', { value: threads });
      const reader = new ThreadTrackingService({
        store: slowStore,
        cache,
        clock: { now: () => new Date() },
        events: t.events,
        config: { cacheTtlSeconds: 300, batchSize: 100 },
      });
      await t.service.createThread('me', { threadId: 'race', subject: '0' });
      let acknowledged = 0;
      let violations = 0;
      let reads = 0;
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i <= 60; i++) {
          await t.service.updateThread('me', 'race', { subject: String(i) });
          acknowledged = i;
          // Readers must also cope with entries disappearing (eviction, clear) at any moment.
          if (i % 20 === 0) await t.service.clearUserCache('me');
          await sleep(Math.random() * 5);
        }
        writing = false;
      })();
      const readers = Array.from({ length: 8 }, async () => {
        while (writing) {
          const floor = acknowledged;
          const thread = await reader.getThread('me', 'race');
          reads++;
          if (Number(thread.subject) < floor) violations++;
          // A memory-tier hit resolves without I/O; yield so the writer's timers can run.
          await new Promise((r) => setImmediate(r));
        }
      });
      await Promise.all([writer, ...readers]);
      expect(reads).toBeGreaterThan(100);
      expect(violations).toBe(0);
      expect((await reader.getThread('me', 'race')).subject).toBe('60');
    });
  },
);
