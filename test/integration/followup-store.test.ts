/**
 * The follow-up engine's store, one contract on every engine (PGlite, PostgreSQL): jobs created from due schedules
 * once, claims under a lease with FOR UPDATE SKIP LOCKED (disjoint under concurrency on PostgreSQL), writes that
 * need the lease, the daily cap under concurrency, plans, policies, templates and open tracking.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { planCreate } from '../../src/domain/commands.ts';
import { classifyPixelLoad } from '../../src/domain/followup-open-tracking.ts';
import type { ThreadCreate } from '../../src/domain/thread.ts';
import type { FollowupDelivery, FollowupJob, Lease } from '../../src/ports/followup-store.ts';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { KyselyOpenTrackingRepository } from '../../src/store/followup-open-tracking-repository.ts';
import {
  KyselyFollowupJobRepository,
  KyselyFollowupPlanRepository,
  KyselyFollowupPolicyRepository,
} from '../../src/store/followup-repository.ts';
import { KyselyStore } from '../../src/store/kysely-store.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { openTestDatabase } from '../support/test-app.ts';

const engines = ['pglite', ...(hasService('postgres') ? (['postgres'] as const) : [])] as const;
const NOW = '2026-06-03T10:00:00.000Z';
const PAST = '2026-06-03T09:00:00.000Z';
const FUTURE = '2026-06-04T09:00:00.000Z';
const lease = (job: FollowupJob): Lease => ({ owner: job.leaseOwner!, attempt: job.attempts });
const delivery = (messageId: string): FollowupDelivery => ({
  mode: 'send',
  accountId: null,
  messageId,
  providerMessageId: 'p1',
  providerThreadId: null,
  draftId: null,
  deliveredAt: NOW,
});

describe.each(engines)('follow-up store on %s', (engine) => {
  let handle: DatabaseHandle;
  let store: KyselyStore;
  let jobs: KyselyFollowupJobRepository;
  let plans: KyselyFollowupPlanRepository;
  let policies: KyselyFollowupPolicyRepository;
  let tracking: KyselyOpenTrackingRepository;

  const thread = async (threadId: string, fields: Partial<ThreadCreate> = {}, userId = 'u1') => {
    const change = await store.threads.insert(
      userId,
      planCreate(
        { threadId, followupScheduledAt: PAST, lastActivity: '2026-06-01T10:00:00Z', ...fields },
        NOW,
      ),
    );
    return change!.thread;
  };
  const claimOne = async (owner = 'w1', leaseMs = 60_000) => {
    const [job] = await jobs.claim(owner, NOW, leaseMs, 1);
    return job;
  };

  beforeAll(async () => {
    handle =
      engine === 'pglite'
        ? await openTestDatabase({ engine: 'pglite' })
        : await openTestDatabase({
            engine: 'postgres',
            url: await createPostgresDatabase(sharedPostgresUrl(), 'followups'),
          });
    store = new KyselyStore(handle);
    jobs = new KyselyFollowupJobRepository(handle.db);
    plans = new KyselyFollowupPlanRepository(handle.db);
    policies = new KyselyFollowupPolicyRepository(handle.db);
    tracking = new KyselyOpenTrackingRepository(handle.db);
  });
  afterAll(async () => {
    await store?.close();
  });
  beforeEach(async () => {
    await sql`truncate thread_tracking, thread_events, followup_jobs, followup_attempts, followup_plans,
      followup_policies, followup_templates, open_tracking_pixels, open_tracking_loads,
      followup_daily_counts`.execute(handle.db);
  });

  describe('jobs', () => {
    it('creates one job per due schedule of an active thread, once', async () => {
      await thread('due');
      await thread('later', { followupScheduledAt: FUTURE });
      await thread('archived', { status: 'archived' });
      await thread('unscheduled', { followupScheduledAt: null });
      expect(await jobs.materializeDue(NOW, 100)).toBe(1);
      expect(await jobs.materializeDue(NOW, 100)).toBe(0);
      const job = await claimOne();
      expect(job).toMatchObject({
        threadId: 'due',
        step: 1,
        origin: 'manual',
        status: 'running',
        attempts: 1,
        leaseOwner: 'w1',
        dueAt: '2026-06-03T09:00:00.000000Z',
        draft: null,
        delivery: null,
      });
      expect(await jobs.depth(NOW)).toBe(1);
    });

    it('marks a job the engine planned, with its anchor', async () => {
      await thread('t');
      await plans.record({
        userId: 'u1',
        threadId: 't',
        activityAt: '2026-06-01T10:00:00Z',
        step: 1,
        outcome: 'scheduled',
        scheduledAt: PAST,
        anchorAt: '2026-05-29T10:00:00Z',
        anchorKind: 'message',
        delayBusinessDays: 3,
        reason: null,
      });
      await jobs.materializeDue(NOW, 100);
      expect(await claimOne()).toMatchObject({ origin: 'policy', anchorAt: '2026-05-29T10:00:00.000000Z' });
    });

    it('never makes a second job for a follow-up number that was delivered', async () => {
      await thread('t');
      await jobs.materializeDue(NOW, 100);
      const job = (await claimOne())!;
      await jobs.deliver(job.id, lease(job), delivery('<tt.a@x.test>'), { type: 'followup_sent', data: {} });
      expect(await jobs.finish(job.id, lease(job), 'sent', 'sent', {})).toMatchObject({ finished: true });
      // The thread still says "follow-up 1 due" (its count not yet written): nothing new.
      expect(await jobs.materializeDue(NOW, 100)).toBe(0);
      // Once counted and due again, follow-up 2 gets its job.
      await sql`update thread_tracking set followup_count = 1`.execute(handle.db);
      expect(await jobs.materializeDue(NOW, 100)).toBe(1);
      expect(await claimOne()).toMatchObject({ step: 2 });
    });

    it('does not make a job while another job of the thread is pending or running', async () => {
      await thread('t');
      await jobs.materializeDue(NOW, 100);
      await claimOne();
      await sql`update thread_tracking set followup_count = 1`.execute(handle.db);
      expect(await jobs.materializeDue(NOW, 100)).toBe(0);
    });

    it('records the previous draft of a thread on its next job', async () => {
      await thread('t');
      await jobs.materializeDue(NOW, 100);
      const job = (await claimOne())!;
      await jobs.deliver(
        job.id,
        lease(job),
        { ...delivery('<tt.b@x.test>'), mode: 'draft', draftId: 'd1' },
        {
          type: 'followup_drafted',
          data: {},
        },
      );
      await jobs.finish(job.id, lease(job), 'drafted', 'drafted', {});
      await sql`update thread_tracking set followup_count = 1`.execute(handle.db);
      await jobs.materializeDue(NOW, 100);
      expect(await claimOne()).toMatchObject({ step: 2, previousDraftAt: '2026-06-03T10:00:00.000000Z' });
    });

    it('leases a job to one worker; an expired lease is taken over and the old holder can change nothing', async () => {
      await thread('t');
      await jobs.materializeDue(NOW, 100);
      const first = (await claimOne('w1', 50))!;
      expect(await claimOne('w2')).toBeUndefined();
      await new Promise((r) => setTimeout(r, 80));
      const second = (await claimOne('w2'))!;
      expect(second).toMatchObject({ id: first.id, attempts: 2, leaseOwner: 'w2' });
      const stale = lease(first);
      expect(await jobs.renew(first.id, stale, 60_000)).toBe(false);
      expect(await jobs.note(first.id, stale, { lastError: 'x' })).toBe(false);
      expect(await jobs.release(first.id, stale, NOW, 'retry', {})).toBe(false);
      expect(
        await jobs.deliver(first.id, stale, delivery('<tt.c@x.test>'), { type: 'followup_sent', data: {} }),
      ).toBe(null);
      expect((await jobs.finish(first.id, stale, 'sent', 'sent', {})).finished).toBe(false);
      expect(await jobs.reserveDailySlot(first.id, stale, 'u1', '2026-06-03', 10)).toBe(false);
      expect(await jobs.renew(second.id, lease(second), 60_000)).toBe(true);
      expect((await jobs.attempts(first.id)).map((a) => [a.attempt, a.worker, a.outcome])).toEqual([
        [1, 'w1', 'abandoned'],
        [2, 'w2', null],
      ]);
    });

    it('releases a job until later, keeps what an attempt learned, and delivers once with its event', async () => {
      await thread('t');
      await jobs.materializeDue(NOW, 100);
      let job = (await claimOne())!;
      const draft = { subject: 'Re: t', body: 'Hello there, following up.', drafter: 'template' };
      expect(await jobs.note(job.id, lease(job), { draft, capDay: '2026-06-03' })).toBe(true);
      expect(await jobs.release(job.id, lease(job), FUTURE, 'waiting', { reason: 'send_window' })).toBe(true);
      expect(await claimOne()).toBeUndefined();
      job = (await jobs.claim('w1', FUTURE, 60_000, 1))[0]!;
      // The draft stays; a job put back gives up its place in the day's count.
      expect(job).toMatchObject({ attempts: 2, draft, capDay: null, reason: 'send_window' });
      const event = await jobs.deliver(job.id, lease(job), delivery('<tt.d@x.test>'), {
        type: 'followup_sent',
        data: { step: 1 },
      });
      expect(event).toMatchObject({ threadId: 't', type: 'followup_sent', data: { step: 1 } });
      expect(
        await jobs.deliver(job.id, lease(job), delivery('<tt.d@x.test>'), {
          type: 'followup_sent',
          data: {},
        }),
      ).toBe(null);
      const { rows } = await sql<{
        op_id: string;
      }>`select op_id from thread_events where type = 'followup_sent'`.execute(handle.db);
      expect(rows.map((r) => r.op_id)).toEqual([job.opId]);
      const latest = await jobs.latestForThreads('u1', ['t']);
      expect(latest.get('t')?.delivery).toMatchObject({ messageId: '<tt.d@x.test>', mode: 'send' });
      expect((await jobs.attempts(job.id)).map((a) => a.outcome)).toEqual(['waiting', 'sent']);
    });

    it('tells when the next follow-up falls due, or a waiting job may be claimed', async () => {
      expect(await jobs.nextDueAfter(NOW)).toBeNull();
      await thread('due');
      await thread('later', { followupScheduledAt: FUTURE });
      const at = async () => Date.parse((await jobs.nextDueAfter(NOW))!);
      expect(await at()).toBe(Date.parse(FUTURE));
      await jobs.materializeDue(NOW, 100);
      const job = (await claimOne())!;
      const soon = new Date(Date.parse(NOW) + 60_000).toISOString();
      await jobs.release(job.id, lease(job), soon, 'waiting', { reason: 'send_window' });
      expect(await at()).toBe(Date.parse(soon));
    });

    it('counts failed and abandoned attempts as failures, and waits not', async () => {
      await thread('f');
      await jobs.materializeDue(NOW, 100);
      let job = (await claimOne())!;
      expect(await jobs.failures(job.id)).toBe(0);
      await jobs.release(job.id, lease(job), NOW, 'waiting', { reason: 'send_window' });
      job = (await claimOne())!;
      await jobs.release(job.id, lease(job), NOW, 'retry', { reason: 'MAIL_TEMPORARY' });
      // A worker that dies with the job: its lease of 1 ms runs out and another worker takes the job over.
      await jobs.claim('w-dead', NOW, 1, 1);
      await new Promise((r) => setTimeout(r, 20));
      job = (await jobs.claim('w2', NOW, 60_000, 1))[0]!;
      expect(job.attempts).toBe(4);
      expect(await jobs.failures(job.id)).toBe(2);
    });

    it('counts against a daily cap, at most `cap` jobs per user and day', async () => {
      for (const id of ['a', 'b', 'c']) await thread(id);
      await jobs.materializeDue(NOW, 100);
      const claimed = await jobs.claim('w1', NOW, 60_000, 3);
      const reserved = [];
      for (const job of claimed)
        reserved.push(await jobs.reserveDailySlot(job.id, lease(job), 'u1', '2026-06-03', 2));
      expect(reserved).toEqual([true, true, false]);
      // A job counted once stays counted when it asks again; another day is another count.
      expect(await jobs.reserveDailySlot(claimed[0]!.id, lease(claimed[0]!), 'u1', '2026-06-03', 2)).toBe(
        true,
      );
      expect(await jobs.reserveDailySlot(claimed[2]!.id, lease(claimed[2]!), 'u1', '2026-06-04', 2)).toBe(
        true,
      );
      // A follow-up that does not go out after all gives its slot back.
      await jobs.finish(claimed[1]!.id, lease(claimed[1]!), 'skipped', 'skipped', { reason: 'reply' });
      expect(await jobs.reserveDailySlot(claimed[2]!.id, lease(claimed[2]!), 'u1', '2026-06-03', 2)).toBe(
        true,
      );
      const { rows } = await sql<{ day: string; count: number }>`
        select day::text as day, count from followup_daily_counts order by day`.execute(handle.db);
      expect(rows).toEqual([
        { day: '2026-06-03', count: 2 },
        { day: '2026-06-04', count: 1 },
      ]);
    });

    it.runIf(engine === 'postgres')('hands disjoint jobs to concurrent claimers (SKIP LOCKED)', async () => {
      await store.threads.upsertMany(
        'u1',
        Array.from({ length: 200 }, (_, i) =>
          planCreate({ threadId: `t${i}`, followupScheduledAt: PAST }, NOW),
        ),
      );
      expect(await jobs.materializeDue(NOW, 1000)).toBe(200);
      const claimers = Array.from({ length: 10 }, async (_, w) => {
        const mine: string[] = [];
        for (;;) {
          const batch = await jobs.claim(`w${w}`, NOW, 60_000, 7);
          if (batch.length === 0) return mine;
          mine.push(...batch.map((j) => j.id));
        }
      });
      const all = (await Promise.all(claimers)).flat();
      expect(all).toHaveLength(200);
      expect(new Set(all).size).toBe(200);
    });

    it.runIf(engine === 'postgres')('holds the daily cap under concurrent reservations', async () => {
      await store.threads.upsertMany(
        'u1',
        Array.from({ length: 20 }, (_, i) =>
          planCreate({ threadId: `t${i}`, followupScheduledAt: PAST }, NOW),
        ),
      );
      await jobs.materializeDue(NOW, 100);
      const claimed = await jobs.claim('w1', NOW, 60_000, 20);
      const results = await Promise.all(
        claimed.map((job) => jobs.reserveDailySlot(job.id, lease(job), 'u1', '2026-06-03', 5)),
      );
      expect(results.filter(Boolean)).toHaveLength(5);
    });
  });

  describe('plans', () => {
    const activity = '2026-06-01T10:00:00.000Z';

    it('offers threads with new activity and nothing decided since, and each activity once', async () => {
      await thread('fresh', { followupScheduledAt: null });
      await thread('old', { followupScheduledAt: null, lastActivity: '2026-05-01T10:00:00Z' });
      await thread('scheduled');
      await thread('hidden', { followupScheduledAt: null, hidden: true });
      await thread('untracked', { followupScheduledAt: null, tracked: false });
      await thread('capped', { followupScheduledAt: null, followupCount: 3 });
      await thread('cancelled', { followupScheduledAt: null });
      await store.threads.appendEvents('u1', [
        { threadId: 'cancelled', type: 'followup_cancelled', data: {} },
      ]);
      const since = '2026-05-15T00:00:00Z';
      expect((await plans.candidates('u1', since, 3, 100)).map((c) => c.threadId)).toEqual(['fresh']);
      await plans.record({
        userId: 'u1',
        threadId: 'fresh',
        activityAt: activity,
        step: 1,
        outcome: 'skipped',
        scheduledAt: null,
        anchorAt: null,
        anchorKind: null,
        delayBusinessDays: null,
        reason: 'reply',
      });
      expect(await plans.candidates('u1', since, 3, 100)).toEqual([]);
      await sql`update thread_tracking set last_activity = '2026-06-02T10:00:00Z' where thread_id = 'fresh'`.execute(
        handle.db,
      );
      expect(await plans.candidates('u1', since, 3, 100)).toEqual([
        { threadId: 'fresh', lastActivity: '2026-06-02T10:00:00.000000Z', followupCount: 0 },
      ]);
    });

    it('finds the plan behind a schedule, and lists the schedule soonest first', async () => {
      await thread('a', { followupScheduledAt: FUTURE, subject: 'A', participants: ['x@y.test'] });
      await thread('b', { followupScheduledAt: PAST, subject: 'B' });
      await plans.record({
        userId: 'u1',
        threadId: 'a',
        activityAt: activity,
        step: 1,
        outcome: 'scheduled',
        scheduledAt: FUTURE,
        anchorAt: activity,
        anchorKind: 'message',
        delayBusinessDays: 3,
        reason: null,
      });
      const rows = await plans.schedule('u1', 10);
      expect(rows.map((r) => [r.threadId, r.subject, r.participants])).toEqual([
        ['b', 'B', []],
        ['a', 'A', ['x@y.test']],
      ]);
      const found = await plans.forSchedules('u1', rows);
      expect([...found.keys()]).toEqual(['a']);
      expect(found.get('a')).toMatchObject({ delayBusinessDays: 3, anchorKind: 'message' });
    });
  });

  describe('policies and templates', () => {
    it('gives defaults until stored; turning automatic scheduling on starts it from then', async () => {
      expect(await policies.get('u1')).toMatchObject({
        autoSince: null,
        input: {},
        policy: { mode: 'draft' },
      });
      await policies.put('u1', { autoSchedule: false, mode: 'send' }, '2026-06-01T00:00:00Z');
      expect(await policies.autoScheduling()).toEqual([]);
      await policies.put('u1', { autoSchedule: true, mode: 'send', timeZone: 'Europe/Paris' }, NOW);
      const stored = await policies.get('u1');
      expect(stored).toMatchObject({
        autoSince: '2026-06-03T10:00:00.000000Z',
        policy: { mode: 'send', timeZone: 'Europe/Paris', maxFollowups: 3 },
      });
      // A later change that keeps it on does not move the start.
      await policies.put('u1', { mode: 'draft' }, FUTURE);
      expect((await policies.get('u1')).autoSince).toBe('2026-06-03T10:00:00.000000Z');
      await policies.ensure(['u1', 'u2'], FUTURE);
      expect((await policies.autoScheduling()).map((p) => [p.userId, p.autoSince])).toEqual([
        ['u1', '2026-06-03T10:00:00.000000Z'],
        ['u2', '2026-06-04T09:00:00.000000Z'],
      ]);
    });

    it('replaces templates as a whole, in order', async () => {
      const templates = [
        { step: 1, language: 'en', subject: null, body: 'Hi {{first_name}}, one.' },
        { step: null, language: null, subject: 'Still there?', body: 'Hi, any.' },
      ];
      expect(await policies.putTemplates('u1', templates)).toEqual(templates);
      expect(await policies.putTemplates('u1', [templates[1]!])).toEqual([templates[1]]);
      expect(await policies.getTemplates('u2')).toEqual([]);
    });
  });

  describe('open tracking', () => {
    it('counts a pixel’s first real open once, with its event, and ignores loads before sending', async () => {
      await thread('t');
      await jobs.materializeDue(NOW, 100);
      const job = (await claimOne())!;
      const pixel = await tracking.pixelForJob(job.id, 'u1', 't', 'token-aaaaaaaaaaaaaaaaaaaa');
      expect(await tracking.pixelForJob(job.id, 'u1', 't', 'token-bbbbbbbbbbbbbbbbbbbb')).toEqual(pixel);
      const classify = (l: Parameters<typeof classifyPixelLoad>[0]) => classifyPixelLoad(l, 60);
      const load = (seconds: number, userAgent = 'Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0') => ({
        at: new Date(Date.parse(NOW) + seconds * 1000),
        ip: '203.0.113.5',
        userAgent,
      });
      expect(await tracking.recordLoad(pixel.token, load(1), classify)).toBeUndefined();
      await tracking.markSent(pixel.token, '<tt.e@x.test>', NOW);
      expect(await tracking.recordLoad(pixel.token, load(2), classify)).toMatchObject({
        firstOpen: false,
        verdict: { counted: false, reason: 'too_soon' },
      });
      expect(await tracking.recordLoad(pixel.token, load(300, 'Mozilla/5.0'), classify)).toMatchObject({
        firstOpen: false,
        verdict: { counted: false, reason: 'privacy_proxy' },
      });
      const first = await tracking.recordLoad(pixel.token, load(600), classify);
      expect(first).toMatchObject({ firstOpen: true, event: { type: 'followup_opened', threadId: 't' } });
      expect(await tracking.recordLoad(pixel.token, load(900), classify)).toMatchObject({
        firstOpen: false,
        event: null,
      });
      expect(await tracking.threadStats('u1', 't')).toEqual({ tracked: 1, opened: 1 });
      expect(await tracking.recordLoad('unknown-token-aaaaaaaa', load(600), classify)).toBeUndefined();
    });
  });
});
