/**
 * One contract suite, every engine: the same assertions on PGlite and on a real PostgreSQL server. Assertions are
 * on rows and results, never on how the repository talks to the database.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planCommand, planCreate } from '../../src/domain/commands.ts';
import { AppError } from '../../src/domain/errors.ts';
import type { Thread } from '../../src/domain/thread.ts';
import type { ListThreadsQuery } from '../../src/ports/store.ts';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { KyselyStore } from '../../src/store/kysely-store.ts';
import { type PgBouncerServer, startPgBouncer } from '../harness/pgbouncer.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { openTestDatabase } from '../support/test-app.ts';

type EngineName = 'pglite' | 'postgres' | 'postgres through PgBouncer (transaction pooling)';
const engines: EngineName[] = [
  'pglite',
  ...(hasService('postgres') ? (['postgres'] as const) : []),
  ...(hasService('pgbouncer') ? (['postgres through PgBouncer (transaction pooling)'] as const) : []),
];

const NOW = '2026-06-01T12:00:00.000Z';
const query = (overrides: Partial<ListThreadsQuery> = {}): ListThreadsQuery => ({
  sort: 'lastActivity',
  order: 'desc',
  limit: 50,
  ...overrides,
});

describe.each(engines)('thread store on %s', (engine) => {
  let handle: DatabaseHandle;
  let store: KyselyStore;
  let bouncer: PgBouncerServer | undefined;

  beforeAll(async () => {
    if (engine === 'pglite') handle = await openTestDatabase({ engine: 'pglite' });
    else {
      const url = await createPostgresDatabase(sharedPostgresUrl(), 'contract');
      if (engine === 'postgres') handle = await openTestDatabase({ engine: 'postgres', url });
      else {
        // Fewer server connections (4) than the pool's clients (10): statements and transactions share them.
        bouncer = await startPgBouncer(Number(new URL(url).port), { poolSize: 4 });
        handle = await openTestDatabase({
          engine: 'postgres',
          url: bouncer.url(new URL(url).pathname.slice(1)),
        });
      }
    }
    store = new KyselyStore(handle);
  });
  afterAll(async () => {
    await store?.close();
    await bouncer?.stop();
  });
  beforeEach(async () => {
    await sql`truncate thread_tracking, thread_events, idempotency_keys, leads`.execute(handle.db);
  });

  const insert = async (
    threadId: string,
    fields: Parameters<typeof planCreate>[0] extends infer T ? Partial<T> : never = {},
    userId = 'u1',
  ) => {
    const change = await store.threads.insert(userId, planCreate({ threadId, ...fields }, NOW));
    if (!change) throw new Error(`insert of ${threadId} returned nothing`);
    return change.thread;
  };
  const eventsOf = (userId: string, threadId: string) =>
    handle.db
      .selectFrom('thread_events')
      .selectAll()
      .where('user_id', '=', userId)
      .where('thread_id', '=', threadId)
      .orderBy('id')
      .execute();

  it('inserts a thread with its created event, and refuses a duplicate without writing an event', async () => {
    const thread = await insert('t1', { subject: 'Hello', participants: ['a@x.io'] });
    expect(thread).toMatchObject({
      userId: 'u1',
      threadId: 't1',
      subject: 'Hello',
      participants: ['a@x.io'],
      status: 'active',
      tracked: true,
      hidden: false,
      followupCount: 0,
      messageCount: 1,
      lastActivity: '2026-06-01T12:00:00.000000Z',
    });
    expect(thread.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(await store.threads.insert('u1', planCreate({ threadId: 't1' }, NOW))).toBeUndefined();
    const events = await eventsOf('u1', 't1');
    expect(events.map((e) => e.type)).toEqual(['created']);
    // The same thread id belongs to another user independently.
    expect((await insert('t1', {}, 'u2')).userId).toBe('u2');
  });

  it('applies a mutation and writes its event in the same statement; nothing when the thread is missing', async () => {
    await insert('t1');
    const change = await store.threads.update('u1', 't1', planCommand({ type: 'hide', threadId: 't1' }, NOW));
    expect(change?.thread).toMatchObject({ hidden: true, hiddenAt: '2026-06-01T12:00:00.000000Z' });
    expect(change?.event).toMatchObject({ type: 'hidden', threadId: 't1', userId: 'u1' });
    expect(
      await store.threads.update('u1', 'missing', planCommand({ type: 'hide', threadId: 'missing' }, NOW)),
    ).toBe(undefined);
    expect(await store.threads.update('u2', 't1', planCommand({ type: 'hide', threadId: 't1' }, NOW))).toBe(
      undefined,
    );
    expect((await eventsOf('u1', 't1')).map((e) => e.type)).toEqual(['created', 'hidden']);
    expect(await eventsOf('u1', 'missing')).toHaveLength(0);
  });

  it('refuses a mutation whose status precondition fails, with no change and no event', async () => {
    await insert('t1', { status: 'deleted' });
    const before = await store.threads.get('u1', 't1');
    const attempt = store.threads.update(
      'u1',
      't1',
      planCommand({ type: 'scheduleFollowup', threadId: 't1', scheduledAt: '2026-07-01T00:00:00Z' }, NOW),
    );
    await expect(attempt).rejects.toMatchObject({ code: 'THREAD_STATE_CONFLICT' });
    expect(await store.threads.get('u1', 't1')).toEqual(before);
    expect((await eventsOf('u1', 't1')).map((e) => e.type)).toEqual(['created']);
  });

  it('keeps updated_at strictly increasing, even for updates within one microsecond', async () => {
    await insert('t1');
    let previous = (await store.threads.get('u1', 't1'))!.updatedAt;
    for (let i = 0; i < 20; i++) {
      const change = await store.threads.update(
        'u1',
        't1',
        planCommand({ type: 'incrementFollowupCount', threadId: 't1' }, NOW),
      );
      expect(change!.thread.updatedAt > previous).toBe(true);
      previous = change!.thread.updatedAt;
    }
  });

  it('increments atomically: 100 concurrent increments add exactly 100, each with its event', async () => {
    await insert('t1');
    await Promise.all(
      Array.from({ length: 100 }, () =>
        store.threads.update(
          'u1',
          't1',
          planCommand({ type: 'incrementFollowupCount', threadId: 't1' }, NOW),
        ),
      ),
    );
    expect((await store.threads.get('u1', 't1'))!.followupCount).toBe(100);
    const events = (await eventsOf('u1', 't1')).filter((e) => e.type === 'followup_count_incremented');
    expect(events).toHaveLength(100);
    expect(new Set(events.map((e) => (e.data as { followupCount: number }).followupCount)).size).toBe(100);
  });

  it('walks keyset pages in both sorts and orders without skipping or repeating rows (NULLs and ties included)', async () => {
    const rows: Thread[] = [];
    for (let i = 0; i < 137; i++) {
      // Ties: 7 threads share each timestamp; every 10th has no last activity at all.
      const lastActivity =
        i % 10 === 0 ? null : new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 7) * 60_000).toISOString();
      rows.push(await insert(`k${i}`, { lastActivity }));
    }
    const expected = (sort: 'lastActivity' | 'createdAt', order: 'asc' | 'desc') => {
      const key = (t: Thread) => (sort === 'lastActivity' ? t.lastActivity : t.createdAt);
      const sorted = [...rows].sort((a, b) => {
        const [ka, kb] = [key(a), key(b)];
        // NULL sorts as the oldest value: last in descending order, first in ascending order.
        const cmp =
          ka === kb ? (a.id < b.id ? -1 : 1) : ka === null ? -1 : kb === null ? 1 : ka < kb ? -1 : 1;
        return order === 'asc' ? cmp : -cmp;
      });
      return sorted.map((t) => t.threadId);
    };
    for (const sort of ['lastActivity', 'createdAt'] as const) {
      for (const order of ['desc', 'asc'] as const) {
        const seen: string[] = [];
        let after: ListThreadsQuery['after'];
        for (let page = 0; page < 20; page++) {
          const result = await store.threads.list(
            'u1',
            query({ sort, order, limit: 13, ...(after ? { after } : {}) }),
          );
          seen.push(...result.items.map((t) => t.threadId));
          if (!result.hasMore) break;
          const last = result.items.at(-1)!;
          after = {
            sort,
            order,
            value: sort === 'lastActivity' ? last.lastActivity : last.createdAt,
            id: last.id,
          };
        }
        expect(seen, `${sort} ${order}`).toEqual(expected(sort, order));
      }
    }
  });

  it('builds the same page as JSON in the database, field for field, with the same cursor position', async () => {
    const lead = await store.leads.insert('u1', { name: 'L' });
    await insert('j1', {
      subject: 'Ünïcode "quotes" \\ back\\slash\ttab \u2028 👋 مرحبا',
      participants: ['a@x.io', 'b@y.io'],
      emailType: 'application',
      leadId: lead.id,
      openRate: 12.5,
      replyRate: 33.33,
      responseTimeHours: 7,
      followupScheduledAt: '2030-01-01T00:00:00.123456Z',
      hidden: true,
      status: 'archived',
    });
    await insert('j2', { lastActivity: null, subject: null, participants: [] });
    for (let i = 0; i < 12; i++)
      await insert(`j${i + 3}`, { lastActivity: i % 3 ? '2026-02-01T10:00:00Z' : null });
    for (const sort of ['lastActivity', 'createdAt'] as const) {
      for (const order of ['desc', 'asc'] as const) {
        let after: ListThreadsQuery['after'];
        for (let page = 0; page < 10; page++) {
          const q = query({ sort, order, limit: 4, ...(after ? { after } : {}) });
          const objects = await store.threads.list('u1', q);
          const json = await store.threads.listJson('u1', q);
          expect(JSON.parse(json.itemsJson), `${sort} ${order} page ${page}`).toEqual(
            JSON.parse(JSON.stringify(objects.items)),
          );
          expect(json.hasMore).toBe(objects.hasMore);
          if (!objects.hasMore) break;
          const last = objects.items.at(-1)!;
          const value = sort === 'lastActivity' ? last.lastActivity : last.createdAt;
          expect(json.last).toEqual({ value, id: last.id });
          after = { sort, order, value, id: last.id };
        }
      }
    }
    const empty = await store.threads.listJson('nobody', query());
    expect(empty).toEqual({ itemsJson: '[]', hasMore: false, last: null });
  });

  it('filters by every field, searches subject and participants with LIKE wildcards taken literally', async () => {
    const lead = await store.leads.insert('u1', { name: 'Ada', email: 'ada@acme.io', company: 'Acme' });
    await insert('a', {
      subject: '100% match_here',
      participants: ['ada@acme.io'],
      emailType: 'application',
      leadId: lead.id,
    });
    await insert('b', {
      subject: '100 percent',
      participants: ['bob@corp.io'],
      emailType: 'manual',
      systemGenerated: true,
    });
    await insert('c', { subject: 'Hidden one', hidden: true, tracked: false });
    await insert('d', { subject: 'Gone', status: 'deleted' });
    await insert('e', { subject: 'Old', lastActivity: '2025-01-01T00:00:00Z', status: 'archived' });
    const ids = async (q: Partial<ListThreadsQuery>) =>
      (await store.threads.list('u1', query(q))).items.map((t) => t.threadId).sort();
    expect(await ids({})).toEqual(['a', 'b', 'c', 'e']);
    expect(await ids({ status: 'deleted' })).toEqual(['d']);
    expect(await ids({ status: 'archived' })).toEqual(['e']);
    expect(await ids({ hidden: true })).toEqual(['c']);
    expect(await ids({ tracked: false })).toEqual(['c']);
    expect(await ids({ systemGenerated: true })).toEqual(['b']);
    expect(await ids({ emailType: 'application' })).toEqual(['a']);
    expect(await ids({ leadId: lead.id })).toEqual(['a']);
    expect(await ids({ q: '100%' })).toEqual(['a']);
    expect(await ids({ q: 'h_re' })).toEqual([]);
    expect(await ids({ q: 'match_here' })).toEqual(['a']);
    expect(await ids({ q: 'CORP.IO' })).toEqual(['b']);
    expect(await ids({ q: "'; drop table thread_tracking; --" })).toEqual([]);
    expect(await ids({ lastActivityTo: '2025-06-01T00:00:00Z' })).toEqual(['e']);
    expect(await ids({ lastActivityFrom: '2025-06-01T00:00:00Z' })).toEqual(['a', 'b', 'c']);
    expect(await ids({ status: 'active', hidden: false })).toEqual(['a', 'b']);
  });

  it('upserts in batches: inserts, updates only the given fields, skips unchanged rows', async () => {
    await insert('x', { subject: 'Old subject', hidden: true });
    const changes = await store.threads.upsertMany('u1', [
      { threadId: 'x', subject: 'New subject', messageCount: 4 },
      { threadId: 'y', subject: 'Brand new', messageCount: 1 },
    ]);
    expect(changes.map((c) => [c.thread.threadId, c.event.type]).sort()).toEqual([
      ['x', 'upserted'],
      ['y', 'created'],
    ]);
    const x = await store.threads.get('u1', 'x');
    expect(x).toMatchObject({ subject: 'New subject', messageCount: 4, hidden: true });
    const again = await store.threads.upsertMany('u1', [
      { threadId: 'x', subject: 'New subject', messageCount: 4 },
    ]);
    expect(again).toHaveLength(0);
    expect((await eventsOf('u1', 'x')).map((e) => e.type)).toEqual(['created', 'upserted']);
  });

  it('purges a row and keeps its history', async () => {
    await insert('p');
    const change = await store.threads.purge('u1', 'p');
    expect(change?.event.type).toBe('purged');
    expect(await store.threads.get('u1', 'p')).toBeUndefined();
    expect((await eventsOf('u1', 'p')).map((e) => e.type)).toEqual(['created', 'purged']);
    expect(await store.threads.purge('u1', 'p')).toBeUndefined();
  });

  it('lists events after an id, per user and per thread', async () => {
    await insert('a');
    await insert('b');
    await insert('a', {}, 'other');
    const all = await store.threads.listEvents('u1', { limit: 10 });
    expect(all.map((e) => e.threadId)).toEqual(['a', 'b']);
    expect(
      (await store.threads.listEvents('u1', { limit: 10, afterId: all[0]!.id })).map((e) => e.threadId),
    ).toEqual(['b']);
    expect(await store.threads.listEvents('u1', { limit: 10, threadId: 'b' })).toHaveLength(1);
  });

  it('sets lead_id to NULL when the lead is deleted (ON DELETE SET NULL)', async () => {
    const lead = await store.leads.insert('u1', { name: 'L', email: 'l@x.io' });
    await insert('t', { leadId: lead.id });
    expect(await store.leads.delete('u1', lead.id)).toBe(true);
    expect((await store.threads.get('u1', 't'))!.leadId).toBeNull();
  });

  it('claims idempotency keys once, replays the stored response, and lets an expired key be claimed again', async () => {
    const first = await store.transaction(async (tx) => {
      const claim = await tx.idempotency.claim('u1', 'k1', 'hash-a');
      await tx.idempotency.complete('u1', 'k1', { status: 201, body: { ok: 1 } });
      return claim;
    });
    expect(first).toEqual({ state: 'claimed' });
    const second = await store.transaction((tx) => tx.idempotency.claim('u1', 'k1', 'hash-a'));
    expect(second).toEqual({
      state: 'completed',
      requestHash: 'hash-a',
      response: { status: 201, body: { ok: 1 } },
    });
    expect(await store.transaction((tx) => tx.idempotency.claim('u2', 'k1', 'hash-b'))).toEqual({
      state: 'claimed',
    });
    // A rolled-back claim leaves nothing behind.
    await expect(
      store.transaction(async (tx) => {
        await tx.idempotency.claim('u1', 'k2', 'h');
        throw new AppError('INTERNAL', 'boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.transaction((tx) => tx.idempotency.claim('u1', 'k2', 'h'))).toEqual({
      state: 'claimed',
    });
    await sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = 'k1'`.execute(
      handle.db,
    );
    expect(await store.transaction((tx) => tx.idempotency.claim('u1', 'k1', 'hash-new'))).toEqual({
      state: 'claimed',
    });
  });

  it('aggregates analytics over threads created in the range', async () => {
    await insert('a1', { emailType: 'application', responseTimeHours: 2, followupCount: 1 });
    await insert('a2', { emailType: 'application', responseTimeHours: 30, followupCount: 0 });
    await insert('a3', { emailType: 'application', followupCount: 3, hidden: true });
    await insert('m1', { emailType: 'manual', systemGenerated: true, openRate: 50, replyRate: 20 });
    await insert('m2', { emailType: null, openRate: 100 });
    await insert('d1', { status: 'deleted', responseTimeHours: 1 });
    const range = {
      from: new Date(Date.now() - 3600_000).toISOString(),
      to: new Date(Date.now() + 3600_000).toISOString(),
      tz: 'UTC',
    };
    const agg = await store.threads.aggregate('u1', range);
    expect(Object.fromEntries(agg.byStatus.map((s) => [s.status, s.count]))).toEqual({
      active: 5,
      deleted: 1,
    });
    const byType = Object.fromEntries(
      agg.byEmailType.map((t) => [t.emailType ?? 'none', [t.threads, t.replied]]),
    );
    expect(byType).toEqual({ application: [3, 2], manual: [1, 0], none: [1, 0] });
    expect(Object.fromEntries(agg.byFollowupCount.map((f) => [f.bucket, f.threads]))).toEqual({
      '0': 3,
      '1': 1,
      '3+': 1,
    });
    expect(agg).toMatchObject({
      hidden: 1,
      systemGenerated: 1,
      followupsSent: 4,
      averageOpenRate: 75,
      averageReplyRate: 20,
    });
    expect(agg.responseTime).toEqual({ count: 2, median: 16, p90: 27.2, average: 16 });
    expect(Object.fromEntries(agg.histogram.map((h) => [h.bucket, h.count]))).toMatchObject({
      '1-4h': 1,
      '1-3d': 1,
    });
    expect(agg.daily.reduce((n, d) => n + d.created, 0)).toBe(5);
    // Another user's range is empty.
    expect((await store.threads.aggregate('u2', range)).byStatus).toEqual([]);
  });

  it('rolls back every statement of a failed transaction', async () => {
    await expect(
      store.transaction(async (tx) => {
        await tx.threads.insert('u1', planCreate({ threadId: 'tx1' }, NOW));
        await tx.threads.update('u1', 'tx1', planCommand({ type: 'hide', threadId: 'tx1' }, NOW));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(await store.threads.get('u1', 'tx1')).toBeUndefined();
    expect(await eventsOf('u1', 'tx1')).toHaveLength(0);
  });

  it('refuses to modify the append-only history', async () => {
    await insert('h');
    await expect(sql`update thread_events set type = 'forged'`.execute(handle.db)).rejects.toThrow(
      /append-only/,
    );
  });
});
