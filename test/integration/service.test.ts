/**
 * ThreadTrackingService behaviour that the API tests cannot see directly: no lost update under concurrency (on
 * PGlite and, when available, on a real PostgreSQL server with a connection pool), the cache read and update path,
 * and events that commit with their change (and only then reach the event bus).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryCache } from '../../src/cache/memory-cache.ts';
import { AppError } from '../../src/domain/errors.ts';
import type { ThreadEvent } from '../../src/domain/thread.ts';
import type { Cache } from '../../src/ports/cache.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Store, StoreScope } from '../../src/ports/store.ts';
import { threadKey, versionOf } from '../../src/service/thread-cache.ts';
import { ThreadTrackingService } from '../../src/service/thread-tracking-service.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

type EngineName = 'pglite' | 'postgres';
const engines: EngineName[] = ['pglite', ...(hasService('postgres') ? (['postgres'] as const) : [])];

/** A clock the tests can stop; running otherwise. */
class TestClock implements Clock {
  fixed: Date | undefined;
  now(): Date {
    return this.fixed ? new Date(this.fixed) : new Date();
  }
}

/** The same object with some members replaced; everything else still runs on the original (private fields). */
function override<T extends object>(target: T, replaced: Partial<T>): T {
  return new Proxy(target, {
    get(obj, prop) {
      if (prop in replaced) return replaced[prop as keyof T];
      const value = Reflect.get(obj, prop, obj);
      return typeof value === 'function' ? value.bind(obj) : value;
    },
  });
}

/** A cache whose every operation fails, as an unreachable server would. */
function brokenCache(): Cache {
  const real = new MemoryCache({ ttl: 60, maxSize: 10, cleanupInterval: 0 });
  return new Proxy(real, {
    get(obj, prop) {
      if (prop === 'close') return () => real.close();
      if (prop === 'stats') return () => real.stats();
      const value = Reflect.get(obj, prop, obj);
      return typeof value === 'function' ? () => Promise.reject(new Error('cache unreachable')) : value;
    },
  }) as Cache;
}

describe.each(engines)('ThreadTrackingService on %s', (engine) => {
  let t: TestApp;
  const clock = new TestClock();
  let published: ThreadEvent[] = [];

  beforeAll(async () => {
    t = await createTestApp({
      clock,
      database:
        engine === 'pglite'
          ? { engine: 'pglite' }
          : { engine: 'postgres', url: await createPostgresDatabase(sharedPostgresUrl(), 'service') },
    });
    t.events.subscribe((event) => published.push(event));
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
    clock.fixed = undefined;
    published = [];
  });

  const row = (threadId: string, userId = 'me') =>
    t.store.db
      .selectFrom('thread_tracking')
      .selectAll()
      .where('user_id', '=', userId)
      .where('thread_id', '=', threadId)
      .executeTakeFirstOrThrow();
  const eventRows = (threadId?: string) => {
    let q = t.store.db.selectFrom('thread_events').selectAll().orderBy('id');
    if (threadId) q = q.where('thread_id', '=', threadId);
    return q.execute();
  };
  /** Changes a row behind the service's back (as another instance or a manual fix would). */
  const touch = (threadId: string, subject: string, userId = 'me') =>
    t.store.db
      .updateTable('thread_tracking')
      .set({ subject })
      .where('user_id', '=', userId)
      .where('thread_id', '=', threadId)
      .execute();

  describe('concurrency', () => {
    it('counts 100 parallel increments through the API as +100 exactly', async () => {
      await t.service.createThread('me', { threadId: 'c1', followupCount: 7 });
      const responses = await Promise.all(
        Array.from({ length: 100 }, () =>
          t.app.inject({ method: 'POST', url: '/api/v1/threads/c1/followup/increment' }),
        ),
      );
      expect(responses.every((r) => r.statusCode === 200)).toBe(true);
      expect((await row('c1')).followup_count).toBe(107);
      // Each response and each event saw a distinct count: no two increments read the same value.
      const counts = responses.map((r) => r.json().followupCount as number).sort((a, b) => a - b);
      expect(counts).toEqual(Array.from({ length: 100 }, (_, i) => 8 + i));
      const events = (await eventRows('c1')).filter((e) => e.type === 'followup_count_incremented');
      expect(events.map((e) => e.data.followupCount).sort((a, b) => Number(a) - Number(b))).toEqual(counts);
      expect((await t.service.getThread('me', 'c1')).followupCount).toBe(107);
    });

    it('loses no update when hides, patches, upserts and increments of one thread run at once', async () => {
      await t.service.createThread('me', { threadId: 'c2', subject: 'start', messageCount: 1 });
      await Promise.all([
        t.service.hideThread('me', 'c2'),
        t.service.updateThread('me', 'c2', { messageCount: 9 }),
        t.service.createThread('me', { threadId: 'c2', subject: 'upserted' }, { upsert: true }),
        t.service.batchUpsert('me', [{ threadId: 'c2', replyRate: 42 }]),
        t.service.markAsSystemGenerated('me', 'c2', 'followup'),
        ...Array.from({ length: 10 }, () => t.service.incrementFollowupCount('me', 'c2')),
      ]);
      expect(await row('c2')).toMatchObject({
        hidden: true,
        message_count: 9,
        subject: 'upserted',
        reply_rate: '42.00',
        system_generated: true,
        email_type: 'followup',
        followup_count: 10,
      });
      expect(await t.service.getThread('me', 'c2')).toMatchObject({
        hidden: true,
        messageCount: 9,
        subject: 'upserted',
        replyRate: 42,
        followupCount: 10,
      });
    });

    it('hides 50 threads in parallel while they are upserted, and keeps both changes', async () => {
      const ids = Array.from({ length: 50 }, (_, i) => `p${i}`);
      await t.service.batchUpsert(
        'me',
        ids.map((threadId) => ({ threadId })),
      );
      await Promise.all([
        ...ids.map((id) => t.service.hideThread('me', id)),
        ...ids.map((id, i) =>
          t.service.createThread('me', { threadId: id, messageCount: i }, { upsert: true }),
        ),
        t.service.batchUpsert(
          'me',
          ids.slice(0, 25).map((threadId) => ({ threadId, subject: 'batched' })),
        ),
      ]);
      const rows = await t.store.db
        .selectFrom('thread_tracking')
        .select(['thread_id', 'hidden', 'message_count', 'subject'])
        .execute();
      expect(rows).toHaveLength(50);
      for (const r of rows) {
        const i = Number(r.thread_id.slice(1));
        expect(r).toEqual({
          thread_id: r.thread_id,
          hidden: true,
          message_count: i,
          subject: i < 25 ? 'batched' : null,
        });
      }
      expect((await t.service.getHiddenThreads('me', { limit: 100 })).items).toHaveLength(50);
    });

    it('creates a thread once when the same create races: one success, the rest THREAD_EXISTS', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          t.service.createThread('me', { threadId: 'race', subject: `s${i}` }),
        ),
      );
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as AppError).code).toBe('THREAD_EXISTS');
      }
      expect((await eventRows('race')).map((e) => e.type)).toEqual(['created']);
    });

    it('applies a keyed write once when the same key races', async () => {
      await t.service.createThread('me', { threadId: 'k1' });
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () =>
          t.service.incrementFollowupCount('me', 'k1', { idempotencyKey: 'race-key', requestHash: 'h' }),
        ),
      );
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as AppError).code).toBe('IDEMPOTENCY_KEY_IN_USE');
        else expect(r.value.followupCount).toBe(1);
      }
      expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
      expect((await row('k1')).followup_count).toBe(1);
      expect((await eventRows('k1')).filter((e) => e.type === 'followup_count_incremented')).toHaveLength(1);
    });
  });

  describe('cache: read and update path', () => {
    it('serves a read from the cache after the first database read', async () => {
      await t.service.createThread('me', { threadId: 'r1', subject: 'v1' });
      await t.service.clearUserCache('me');
      expect((await t.service.getThread('me', 'r1')).subject).toBe('v1');
      await touch('r1', 'changed behind the service');
      // Retrieval: cache check first; the database is not asked while the entry is valid.
      expect((await t.service.getThread('me', 'r1')).subject).toBe('v1');
      await t.service.clearUserCache('me');
      expect((await t.service.getThread('me', 'r1')).subject).toBe('changed behind the service');
    });

    it('puts the written row in the cache on update, so the next read is the new row', async () => {
      await t.service.createThread('me', { threadId: 'r2', subject: 'v1' });
      await t.service.getThread('me', 'r2');
      const updated = await t.service.updateThread('me', 'r2', { subject: 'v2' });
      await touch('r2', 'behind');
      // The entry written after the update is served (so the update refreshed the cache, not just dropped it).
      expect(await t.service.getThread('me', 'r2')).toEqual(updated);
    });

    it('never lets an older row replace a newer one in the cache', async () => {
      const created = await t.service.createThread('me', { threadId: 'r3', subject: 'old' });
      const newer = await t.service.updateThread('me', 'r3', { subject: 'new' });
      // A slow reader that read the row before the update now tries to cache what it read.
      const stale = JSON.stringify(created);
      expect(await t.cache.setVersioned(threadKey('me', 'r3'), stale, versionOf(created.updatedAt))).toBe(
        false,
      );
      expect(await t.service.getThread('me', 'r3')).toEqual(newer);
    });

    it('shows a write in a list that was cached before it, without a cache clear', async () => {
      await t.service.createThread('me', { threadId: 'l1' });
      expect((await t.service.getThreadsByUser('me')).items.map((x) => x.threadId)).toEqual(['l1']);
      await t.store.db.insertInto('thread_tracking').values({ user_id: 'me', thread_id: 'behind' }).execute();
      // The list is cached: a row inserted behind the service is not seen yet...
      expect((await t.service.getThreadsByUser('me')).items.map((x) => x.threadId)).toEqual(['l1']);
      // ...but any write through the service makes every cached list of the user stale.
      await t.service.hideThread('me', 'l1');
      expect((await t.service.getThreadsByUser('me')).items.map((x) => x.threadId).sort()).toEqual([
        'behind',
        'l1',
      ]);
    });

    it('clears one user without touching another', async () => {
      await t.service.createThread('me', { threadId: 'u1', subject: 'mine' });
      await t.service.createThread('other', { threadId: 'u1', subject: 'theirs' });
      await t.service.getThread('me', 'u1');
      await t.service.getThread('other', 'u1');
      await touch('u1', 'mine, changed');
      await touch('u1', 'theirs, changed', 'other');
      expect(await t.service.clearUserCache('me')).toBeGreaterThan(0);
      expect((await t.service.getThread('me', 'u1')).subject).toBe('mine, changed');
      expect((await t.service.getThread('other', 'u1')).subject).toBe('theirs');
      await t.service.clearAllCache();
      expect((await t.service.getThread('other', 'u1')).subject).toBe('theirs, changed');
    });

    it('does not resurrect a purged thread from the cache', async () => {
      await t.service.createThread('me', { threadId: 'g1' });
      await t.service.getThread('me', 'g1');
      await t.service.deleteThread('me', 'g1', { purge: true });
      await expect(t.service.getThread('me', 'g1')).rejects.toMatchObject({ code: 'THREAD_NOT_FOUND' });
    });

    it('keeps working from the database when the cache is unreachable', async () => {
      const service = new ThreadTrackingService({
        store: t.store,
        cache: brokenCache(),
        clock,
        events: t.events,
        config: { cacheTtlSeconds: 60, batchSize: 100 },
      });
      const created = await service.createThread('me', { threadId: 'b1', subject: 'x' });
      expect(created.subject).toBe('x');
      expect(await service.hideThread('me', 'b1')).toMatchObject({ hidden: true });
      expect((await service.getThread('me', 'b1')).hidden).toBe(true);
      await touch('b1', 'fresh');
      expect((await service.getThread('me', 'b1')).subject).toBe('fresh');
      expect((await service.getThreadsByUser('me')).items.map((x) => x.threadId)).toEqual(['b1']);
      expect((await service.getThreadAnalytics('me')).totals.threads).toBe(1);
      expect((await row('b1')).hidden).toBe(true);
    });
  });

  describe('events', () => {
    it('writes exactly one event per change and publishes it after commit, as stored', async () => {
      clock.fixed = new Date('2026-06-01T12:00:00.000Z');
      await t.service.createThread('me', { threadId: 'e1', subject: 'a' });
      await t.service.updateThread('me', 'e1', { subject: 'b' });
      await t.service.hideThread('me', 'e1');
      await t.service.unhideThread('me', 'e1');
      await t.service.archiveThread('me', 'e1');
      await t.service.unarchiveThread('me', 'e1');
      await t.service.markAsSystemGenerated('me', 'e1', 'application', { aiGenerated: true });
      await t.service.scheduleFollowup('me', 'e1', '2026-06-02T12:00:00.000Z');
      await t.service.cancelFollowup('me', 'e1', { reason: 'replied' });
      await t.service.incrementFollowupCount('me', 'e1');
      await t.service.createThread('me', { threadId: 'e1', messageCount: 3 }, { upsert: true });
      await t.service.bulkAction('me', 'hide', ['e1']);
      await t.service.deleteThread('me', 'e1');
      await t.service.deleteThread('me', 'e1', { purge: true });

      const stored = await eventRows('e1');
      expect(stored.map((e) => e.type)).toEqual([
        'created',
        'updated',
        'hidden',
        'unhidden',
        'archived',
        'unarchived',
        'marked_system_generated',
        'followup_scheduled',
        'followup_cancelled',
        'followup_count_incremented',
        'upserted',
        'hidden',
        'deleted',
        'purged',
      ]);
      expect(stored[1]!.data).toEqual({ changes: { subject: 'b' } });
      expect(stored[8]!.data).toEqual({ reason: 'replied' });
      expect(stored[9]!.data).toEqual({ followupCount: 1 });
      expect(published.map((e) => [e.id, e.type, e.data])).toEqual(
        stored.map((e) => [String(e.id), e.type, e.data]),
      );
      expect(await t.service.getThreadEvents('me', 'e1')).toEqual(published);
      expect(published.every((e) => e.userId === 'me' && e.threadId === 'e1')).toBe(true);
    });

    it('writes one event per changed thread of a batch, none for an unchanged one', async () => {
      await t.service.createThread('me', { threadId: 'b1', subject: 'same' });
      published = [];
      const result = await t.service.batchUpsert('me', [
        { threadId: 'b1', subject: 'same' },
        { threadId: 'b2' },
        { threadId: 'b3', subject: 'x' },
      ]);
      expect(result).toMatchObject({ created: 2, updated: 0, unchanged: 1 });
      expect(published.map((e) => [e.threadId, e.type]).sort()).toEqual([
        ['b2', 'created'],
        ['b3', 'created'],
      ]);
      expect((await eventRows()).map((e) => e.type)).toEqual(['created', 'created', 'created']);
    });

    it('writes and publishes nothing when a write is refused', async () => {
      await t.service.createThread('me', { threadId: 'n1', status: 'deleted' });
      await t.service.createThread('me', { threadId: 'n2' });
      const before = await eventRows();
      published = [];
      const refusals: [string, () => Promise<unknown>][] = [
        ['archive a deleted thread', () => t.service.archiveThread('me', 'n1')],
        ['schedule in the past', () => t.service.scheduleFollowup('me', 'n2', '2001-01-01T00:00:00Z')],
        ['update a missing thread', () => t.service.updateThread('me', 'none', { subject: 'x' })],
        ['create a duplicate', () => t.service.createThread('me', { threadId: 'n2' })],
        ['bulk archive with one deleted thread', () => t.service.bulkAction('me', 'archive', ['n2', 'n1'])],
        [
          'batch with an unknown lead',
          () =>
            t.service.batchUpsert('me', [
              { threadId: 'n3' },
              { threadId: 'n4', leadId: '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b' },
            ]),
        ],
        [
          'batch with a duplicate',
          () => t.service.batchUpsert('me', [{ threadId: 'n5' }, { threadId: 'n5' }]),
        ],
        [
          'a batch over the batch size',
          () =>
            t.service.batchUpsert(
              'me',
              Array.from({ length: 101 }, (_, i) => ({ threadId: `m${i}` })),
            ),
        ],
      ];
      for (const [name, attempt] of refusals) {
        await expect(attempt(), name).rejects.toBeInstanceOf(AppError);
      }
      expect(await eventRows()).toEqual(before);
      expect(published).toEqual([]);
      expect((await row('n2')).status).toBe('active');
      expect(
        await t.store.db.selectFrom('thread_tracking').select('thread_id').orderBy('thread_id').execute(),
      ).toEqual([{ thread_id: 'n1' }, { thread_id: 'n2' }]);
    });

    it('rolls the change and its event back together when the transaction fails after the write', async () => {
      await t.service.createThread('me', { threadId: 'tx1' });
      const before = await eventRows();
      // The idempotency record is the last statement of a keyed write's transaction: make it fail.
      const failingStore = override<Store>(t.store, {
        transaction: <T>(fn: (scope: StoreScope) => Promise<T>) =>
          t.store.transaction((scope) =>
            fn({
              ...scope,
              idempotency: override(scope.idempotency, {
                complete: () => Promise.reject(new Error('disk full')),
              }),
            }),
          ),
      });
      const service = new ThreadTrackingService({
        store: failingStore,
        cache: t.cache,
        clock,
        events: t.events,
        config: { cacheTtlSeconds: 60, batchSize: 100 },
      });
      published = [];
      await expect(
        service.hideThread('me', 'tx1', { idempotencyKey: 'k', requestHash: 'h' }),
      ).rejects.toThrow('disk full');
      await expect(
        service.batchUpsert('me', [{ threadId: 'tx1', subject: 's' }, { threadId: 'tx2' }], {
          idempotencyKey: 'k2',
          requestHash: 'h',
        }),
      ).rejects.toThrow('disk full');
      expect(await row('tx1')).toMatchObject({ hidden: false, subject: null });
      expect(await t.store.db.selectFrom('thread_tracking').select('thread_id').execute()).toEqual([
        { thread_id: 'tx1' },
      ]);
      expect(await eventRows()).toEqual(before);
      expect(await t.store.db.selectFrom('idempotency_keys').select('key').execute()).toEqual([]);
      expect(published).toEqual([]);
      expect((await t.service.getThread('me', 'tx1')).hidden).toBe(false);
    });

    it('lists events after an id, across threads, oldest first', async () => {
      await t.service.createThread('me', { threadId: 'a' });
      await t.service.createThread('me', { threadId: 'b' });
      await t.service.createThread('other', { threadId: 'a' });
      await t.service.hideThread('me', 'a');
      const all = await t.service.listEvents('me');
      expect(all.map((e) => [e.threadId, e.type])).toEqual([
        ['a', 'created'],
        ['b', 'created'],
        ['a', 'hidden'],
      ]);
      expect(
        (await t.service.listEvents('me', { afterId: all[0]!.id, limit: 1 })).map((e) => e.threadId),
      ).toEqual(['b']);
      expect(await t.service.listEvents('me', { afterId: all[2]!.id })).toEqual([]);
    });
  });

  describe('the clock', () => {
    it('stamps hiddenAt, archivedAt and default lastActivity with the service clock', async () => {
      clock.fixed = new Date('2030-01-02T03:04:05.678Z');
      const created = await t.service.createThread('me', { threadId: 'k1' });
      expect(created.lastActivity).toBe('2030-01-02T03:04:05.678000Z');
      expect((await t.service.hideThread('me', 'k1')).hiddenAt).toBe('2030-01-02T03:04:05.678000Z');
      clock.fixed = new Date('2030-01-03T00:00:00.000Z');
      expect((await t.service.archiveThread('me', 'k1')).archivedAt).toBe('2030-01-03T00:00:00.000000Z');
    });

    it('decides whether a follow-up is in the past by the service clock', async () => {
      await t.service.createThread('me', { threadId: 'k2' });
      clock.fixed = new Date('2099-01-01T00:00:00Z');
      await expect(t.service.scheduleFollowup('me', 'k2', '2098-12-31T23:59:59Z')).rejects.toMatchObject({
        code: 'FOLLOWUP_IN_PAST',
      });
      clock.fixed = new Date('2001-01-01T00:00:00Z');
      const scheduled = await t.service.scheduleFollowup('me', 'k2', '2001-01-01T00:00:01Z');
      expect(scheduled).toMatchObject({
        followupScheduled: true,
        followupScheduledAt: '2001-01-01T00:00:01.000000Z',
      });
    });
  });

  describe('the spec methods', () => {
    it('lists with defaults, hidden and system-generated threads', async () => {
      await t.service.createThread('me', { threadId: 's1', hidden: true });
      await t.service.createThread('me', { threadId: 's2', systemGenerated: true, emailType: 'application' });
      await t.service.createThread('me', { threadId: 's3' });
      const page = await t.service.getThreadsByUser('me');
      expect(page.items).toHaveLength(3);
      expect(page.nextCursor).toBeNull();
      expect((await t.service.getHiddenThreads('me')).items.map((x) => x.threadId)).toEqual(['s1']);
      expect((await t.service.getSystemGeneratedThreads('me')).items.map((x) => x.threadId)).toEqual(['s2']);
      expect((await t.service.getThreadsByUser('me', { hidden: false, limit: 1 })).nextCursor).toEqual(
        expect.any(String),
      );
    });

    it('returns the existing thread from an upsert that changes nothing', async () => {
      const created = await t.service.createThread('me', { threadId: 'x1', subject: 's' });
      const again = await t.service.createThread('me', { threadId: 'x1', subject: 's' }, { upsert: true });
      expect(again).toEqual(created);
      expect((await eventRows('x1')).map((e) => e.type)).toEqual(['created']);
    });

    it('reports analytics for the default range', async () => {
      await t.service.createThread('me', { threadId: 'y1', responseTimeHours: 4 });
      await t.service.createThread('me', { threadId: 'y2' });
      const analytics = await t.service.getThreadAnalytics('me');
      expect(analytics.range.tz).toBe('UTC');
      expect(analytics.totals).toMatchObject({ threads: 2, replied: 1 });
      expect(analytics.replyRate).toBe(0.5);
      expect(analytics.responseTimeHours).toEqual({ count: 1, median: 4, p90: 4, average: 4 });
    });
  });
});
