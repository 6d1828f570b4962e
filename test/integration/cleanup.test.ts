/**
 * The automated cleanup on PGlite and PostgreSQL, asserted on rows, cache answers and recorded runs: deleted threads
 * purged after their retention (never one restored meanwhile), each with a `purged` event, and no longer served from
 * the cache; expired idempotency keys and old events removed; orphaned threads marked deleted through the service;
 * dry runs change nothing; a failing step is recorded while the others run; runs never overlap and a scheduled run
 * is skipped when one ran within the interval; the schedule ticks its loop.
 */
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ThreadEvent } from '../../src/domain/thread.ts';
import type { Clock } from '../../src/ports/clock.ts';
import { noopJobMetrics } from '../../src/ports/job-metrics.ts';
import type { MailThreadExistence } from '../../src/ports/maintenance.ts';
import { CleanupService, type CleanupSettings } from '../../src/service/cleanup-service.ts';
import { Jobs } from '../../src/service/job-runs.ts';
import { KyselyMaintenanceStore } from '../../src/store/maintenance-repository.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

const engines = ['pglite', ...(hasService('postgres') ? (['postgres'] as const) : [])] as const;
const DAY = 86_400_000;

class ShiftedClock implements Clock {
  offsetMs = 0;
  now() {
    return new Date(Date.now() + this.offsetMs);
  }
}

describe.each(engines)('cleanup on %s', (engine) => {
  let t: TestApp;
  const clock = new ShiftedClock();
  let published: ThreadEvent[];
  let unsubscribe: () => void;

  beforeAll(async () => {
    t = await createTestApp({
      database:
        engine === 'pglite'
          ? { engine: 'pglite' }
          : { engine: 'postgres', url: await createPostgresDatabase(sharedPostgresUrl(), 'cleanup') },
    });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
    await sql`truncate maintenance_runs`.execute(t.handle.db);
    clock.offsetMs = 0;
    published = [];
    unsubscribe = t.events.subscribe((event) => published.push(event));
  });
  afterEach(() => unsubscribe());

  const cleanupWith = (
    settings: Partial<CleanupSettings> = {},
    mailThreads?: MailThreadExistence,
    jobs = new Jobs({ logger: silent() }),
  ) =>
    new CleanupService({
      maintenance: new KyselyMaintenanceStore(t.handle.db),
      idempotency: t.store.idempotency,
      deleteThread: (userId, threadId) => t.service.deleteThread(userId, threadId),
      cache: t.cache,
      events: t.events,
      jobs,
      clock,
      logger: silent(),
      settings: { purgeDeletedAfterDays: 30, eventRetentionDays: null, cacheTtlSeconds: 300, ...settings },
      mailThreads,
    });

  const statusOf = async (threadId: string, userId = 'me') =>
    (
      await sql<{ status: string }>`
        select status from thread_tracking where user_id = ${userId} and thread_id = ${threadId}`.execute(
        t.handle.db,
      )
    ).rows[0]?.status;
  const runs = async () =>
    (
      await sql<{ trigger: string; dry_run: boolean; status: string; result: unknown; error: string | null }>`
        select trigger, dry_run, status, result, error from maintenance_runs order by id`.execute(t.handle.db)
    ).rows.map((r) => ({ ...r, result: typeof r.result === 'string' ? JSON.parse(r.result) : r.result }));

  it('purges threads deleted longer ago than the retention, with a purged event, and the cache forgets them', async () => {
    for (const id of ['d1', 'd2', 'r1', 'a1']) await t.service.createThread('me', { threadId: id });
    await t.service.createThread('bob', { threadId: 'd1' });
    for (const id of ['d1', 'd2', 'r1']) await t.service.deleteThread('me', id);
    await t.service.deleteThread('bob', 'd1');
    await t.service.updateThread('me', 'r1', { status: 'active' });
    // Cached as deleted, and a cached list of bob's.
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/threads/d1' })).json().status).toBe('deleted');

    // 31 days later.
    clock.offsetMs = 31 * DAY;
    const report = await cleanupWith().runOnce({ trigger: 'manual' });
    expect(report?.run.status).toBe('succeeded');
    expect(report?.steps.purgedThreads).toMatchObject({ purged: 3 });
    expect(await statusOf('d1')).toBeUndefined();
    expect(await statusOf('d2')).toBeUndefined();
    expect(await statusOf('d1', 'bob')).toBeUndefined();
    expect(await statusOf('r1')).toBe('active');
    expect(await statusOf('a1')).toBe('active');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/threads/d1' })).statusCode).toBe(404);

    const purgedEvents = await sql<{ user_id: string; thread_id: string; data: unknown }>`
      select user_id, thread_id, data from thread_events where type = 'purged' order by user_id, thread_id`.execute(
      t.handle.db,
    );
    expect(purgedEvents.rows.map((r) => [r.user_id, r.thread_id])).toEqual([
      ['bob', 'd1'],
      ['me', 'd1'],
      ['me', 'd2'],
    ]);
    expect(
      published
        .filter((e) => e.type === 'purged')
        .map((e) => e.threadId)
        .sort(),
    ).toEqual(['d1', 'd1', 'd2']);
    expect(await runs()).toEqual([
      {
        trigger: 'manual',
        dry_run: false,
        status: 'succeeded',
        error: null,
        result: {
          orphanedThreads: { skipped: 'no mail account is configured' },
          purgedThreads: { deletedBefore: expect.any(String), purged: 3 },
          expiredIdempotencyKeys: { olderThan: expect.any(String), removed: 0 },
          prunedEvents: { skipped: 'EVENT_RETENTION_DAYS=off' },
        },
      },
    ]);
  });

  it('keeps threads deleted within the retention, and everything when purging is off', async () => {
    await t.service.createThread('me', { threadId: 'd1' });
    await t.service.deleteThread('me', 'd1');
    clock.offsetMs = 29 * DAY;
    expect((await cleanupWith().runOnce({ trigger: 'manual' }))?.steps.purgedThreads).toMatchObject({
      purged: 0,
    });
    clock.offsetMs = 400 * DAY;
    const off = await cleanupWith({ purgeDeletedAfterDays: null }).runOnce({ trigger: 'manual' });
    expect(off?.steps.purgedThreads).toEqual({ skipped: 'CLEANUP_PURGE_DELETED_AFTER_DAYS=off' });
    expect(await statusOf('d1')).toBe('deleted');
  });

  it('removes expired idempotency keys and events beyond the retention, and only those', async () => {
    await sql`
      insert into idempotency_keys (user_id, key, request_hash, status, created_at) values
        ('me', 'old', 'h', 'completed', now() - interval '25 hours'),
        ('me', 'fresh', 'h', 'completed', now() - interval '23 hours')`.execute(t.handle.db);
    await sql`
      insert into thread_events (user_id, thread_id, type, created_at) values
        ('me', 'x', 'created', now() - interval '91 days'),
        ('me', 'x', 'updated', now() - interval '89 days'),
        ('me', 'x', 'hidden', now())`.execute(t.handle.db);
    const report = await cleanupWith({ eventRetentionDays: 90 }).runOnce({ trigger: 'manual' });
    expect(report?.steps.expiredIdempotencyKeys).toMatchObject({ removed: 1 });
    expect(report?.steps.prunedEvents).toMatchObject({ removed: 1 });
    const keys = await sql<{ key: string }>`select key from idempotency_keys`.execute(t.handle.db);
    expect(keys.rows).toEqual([{ key: 'fresh' }]);
    const events = await sql<{ type: string }>`select type from thread_events order by id`.execute(
      t.handle.db,
    );
    expect(events.rows.map((r) => r.type)).toEqual(['updated', 'hidden']);
  });

  it('marks orphaned threads deleted through the service, asking the mailbox only about live threads', async () => {
    for (let i = 0; i < 150; i++)
      await t.service.createThread('me', { threadId: `m${String(i).padStart(3, '0')}` });
    await t.service.deleteThread('me', 'm000');
    const asked: string[][] = [];
    const mailbox: MailThreadExistence = {
      usersWithMailbox: async () => ['me', 'nobody'],
      missingThreads: async (_user, ids) => {
        asked.push(ids);
        return ids.filter((id) => id === 'm007' || id === 'm120' || id === 'm000');
      },
    };
    const dry = await cleanupWith({}, mailbox).runOnce({ trigger: 'manual', dryRun: true });
    expect(dry?.steps.orphanedThreads).toEqual({ users: 2, checked: 149, wouldMark: 2 });
    // Mail sync is there but no mailbox is connected: nothing to ask.
    const none = await cleanupWith({}, { ...mailbox, usersWithMailbox: async () => [] }).runOnce({
      trigger: 'manual',
      dryRun: true,
    });
    expect(none?.steps.orphanedThreads).toEqual({ skipped: 'no mail account is configured' });
    expect(await statusOf('m007')).toBe('active');

    asked.length = 0;
    const report = await cleanupWith({}, mailbox).runOnce({ trigger: 'manual' });
    expect(report?.steps.orphanedThreads).toEqual({ users: 2, checked: 149, marked: 2 });
    expect(asked.flat()).not.toContain('m000');
    expect(Math.max(...asked.map((ids) => ids.length))).toBeLessThanOrEqual(100);
    expect(await statusOf('m007')).toBe('deleted');
    expect(await statusOf('m120')).toBe('deleted');
    expect(await statusOf('m008')).toBe('active');
    // The same path as a user's delete: its event, and the cache answers the new state.
    const events = await sql<{ thread_id: string }>`
      select thread_id from thread_events where type = 'deleted' order by thread_id`.execute(t.handle.db);
    expect(events.rows.map((r) => r.thread_id)).toEqual(['m000', 'm007', 'm120']);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/threads/m007' })).json().status).toBe(
      'deleted',
    );
  });

  it('records a step that fails, runs the others, and marks the run failed', async () => {
    await t.service.createThread('me', { threadId: 'live' });
    await t.service.createThread('me', { threadId: 'd1' });
    await t.service.deleteThread('me', 'd1');
    clock.offsetMs = 31 * DAY;
    const mailbox: MailThreadExistence = {
      usersWithMailbox: async () => ['me'],
      missingThreads: async () => {
        throw new Error('the mailbox did not answer');
      },
    };
    const outcomes: string[] = [];
    const jobs = new Jobs({
      logger: silent(),
      metrics: { ...noopJobMetrics, runFinished: (job, outcome) => void outcomes.push(`${job} ${outcome}`) },
    });
    const report = await cleanupWith({}, mailbox, jobs).runOnce({ trigger: 'manual' });
    expect(report?.run.status).toBe('failed');
    // The job counts as failed (alerts and the last-success gauge), though the caller gets the whole report.
    expect(outcomes).toEqual(['cleanup failure']);
    expect(report?.steps.orphanedThreads).toEqual({ error: 'the mailbox did not answer' });
    expect(report?.steps.purgedThreads).toMatchObject({ purged: 1 });
    expect((await runs())[0]).toMatchObject({
      status: 'failed',
      error: 'orphanedThreads: the mailbox did not answer',
    });
  });

  it('a dry run counts what it would do and changes nothing', async () => {
    await t.service.createThread('me', { threadId: 'd1' });
    await t.service.deleteThread('me', 'd1');
    await sql`
      insert into idempotency_keys (user_id, key, request_hash, created_at)
      values ('me', 'old', 'h', now() - interval '2 days')`.execute(t.handle.db);
    clock.offsetMs = 31 * DAY;
    const before = await sql`select count(*) as n from thread_events`.execute(t.handle.db);
    const report = await cleanupWith({ eventRetentionDays: 1 }).runOnce({ trigger: 'manual', dryRun: true });
    expect(report?.steps).toMatchObject({
      purgedThreads: { wouldPurge: 1 },
      expiredIdempotencyKeys: { wouldRemove: 1 },
      prunedEvents: { wouldRemove: 2 },
    });
    expect(await statusOf('d1')).toBe('deleted');
    expect(await sql`select count(*) as n from thread_events`.execute(t.handle.db)).toEqual(before);
    expect((await runs())[0]).toMatchObject({ dry_run: true, status: 'succeeded' });
  });

  it('never runs twice at once; a scheduled run is skipped when one ran within the interval', async () => {
    await t.service.createThread('me', { threadId: 'live' });
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let asking!: () => void;
    const asked = new Promise<void>((resolve) => {
      asking = resolve;
    });
    const slowMailbox: MailThreadExistence = {
      usersWithMailbox: async () => ['me'],
      missingThreads: async () => {
        asking();
        await held;
        return [];
      },
    };
    const service = cleanupWith({}, slowMailbox);
    const first = service.runOnce({ trigger: 'manual' });
    await asked;
    // The first run is in progress (its claim committed): another claim, from any instance, gets nothing.
    expect(await cleanupWith().runOnce({ trigger: 'manual' })).toBeUndefined();
    release();
    expect((await first)?.run.status).toBe('succeeded');
    const since = new Date(Date.now() - 60_000).toISOString();
    expect(await service.runOnce({ trigger: 'schedule', notStartedSince: since })).toBeUndefined();
    // A run left `running` by a process that stopped does not block forever.
    await sql`update maintenance_runs set status = 'running', started_at = now() - interval '7 hours'`.execute(
      t.handle.db,
    );
    expect(await service.runOnce({ trigger: 'manual' })).toBeDefined();
    expect((await runs()).map((r) => [r.status, r.error])).toEqual([
      ['failed', 'abandoned: the process running it stopped before it finished'],
      ['succeeded', null],
    ]);
  });

  it('runs on its schedule, ticking its loop, and stops cleanly', async () => {
    const jobs = new Jobs({ logger: silent() });
    const service = cleanupWith({}, undefined, jobs);
    service.schedule(300);
    await waitFor(async () => (await runs()).some((r) => r.status !== 'running'));
    expect((await runs())[0]).toMatchObject({ trigger: 'schedule', status: 'succeeded' });
    await waitFor(async () => (jobs.loops.snapshot()[0]?.ticks ?? 0) >= 2);
    expect(jobs.loops.snapshot()[0]).toMatchObject({ name: 'cleanup', status: 'ok' });
    await service.stop();
    expect(jobs.loops.snapshot()).toEqual([]);
  });
});

function silent() {
  const logger = {
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: () => {},
    child: () => logger,
  };
  return logger;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
