/**
 * The follow-up engine's tables (migration 0005) over Kysely, for PGlite and PostgreSQL alike.
 * Invariants:
 * - A job is claimed in one statement: pick (FOR UPDATE SKIP LOCKED), lease, count the attempt and record it, so
 *   any number of workers claim disjoint jobs and a claim is never half-made.
 * - Leases are timed by the database clock (clock_timestamp()), the one clock every worker process shares; due
 *   times and windows are the service clock's.
 * - Every write a worker makes to a job names its lease (owner and attempt number); a worker that lost its job
 *   changes nothing.
 * - A thread event written with a job's outcome commits with it, in one transaction.
 */
import { type Generated, type Kysely, type Selectable, type SqlBool, sql, type Transaction } from 'kysely';
import { type FollowupTemplate, followupTemplateSchema } from '../domain/followup-draft.ts';
import {
  type FollowupPolicyInput,
  followupPolicyInputSchema,
  resolvePolicy,
} from '../domain/followup-policy.ts';
import type { ThreadEvent } from '../domain/thread.ts';
import type {
  AttemptOutcome,
  FollowupDelivery,
  FollowupJob,
  FollowupJobRepository,
  FollowupPlan,
  FollowupPlanRepository,
  FollowupPolicyRepository,
  JobEvent,
  JobStatus,
  Lease,
  PlanCandidate,
  ScheduledFollowupRow,
  StoredPolicy,
} from '../ports/followup-store.ts';
import { pgTimestampToIso, rowToEvent } from './row-mapper.ts';
import type { Database } from './schema.ts';

interface PoliciesTable {
  user_id: string;
  policy: unknown;
  auto_since: string;
  created_at: Generated<string>;
  updated_at: Generated<string>;
}

interface TemplatesTable {
  user_id: string;
  position: number;
  step: number | null;
  language: string | null;
  subject: string | null;
  body: string;
  updated_at: Generated<string>;
}

interface JobsTable {
  id: string;
  user_id: string;
  thread_id: string;
  step: number;
  origin: string;
  op_id: string;
  due_at: string;
  not_before: string;
  status: string;
  attempts: number;
  lease_owner: string | null;
  lease_until: string | null;
  anchor_at: string | null;
  previous_draft_at: string | null;
  cap_day: string | null;
  mode: string | null;
  draft_subject: string | null;
  draft_body: string | null;
  drafter: string | null;
  account_id: string | null;
  message_id: string | null;
  provider_message_id: string | null;
  provider_thread_id: string | null;
  draft_id: string | null;
  delivered_at: string | null;
  reason: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

interface PlansTable {
  user_id: string;
  thread_id: string;
  activity_at: string;
  step: number;
  outcome: string;
  scheduled_at: string | null;
  anchor_at: string | null;
  anchor_kind: string | null;
  delay_business_days: number | null;
  reason: string | null;
  created_at: Generated<string>;
}

export interface FollowupDatabase extends Database {
  followup_policies: PoliciesTable;
  followup_templates: TemplatesTable;
  followup_jobs: JobsTable;
  followup_plans: PlansTable;
}

type Db = Kysely<FollowupDatabase>;

/** JSON through text: a parameter typed jsonb would be encoded a second time by postgres.js. */
const json = (value: unknown) => sql<string>`${JSON.stringify(value)}::text::jsonb`;
const iso = (value: string | null | undefined): string | null => pgTimestampToIso(value ?? null);
const jsonValue = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;
/** A date column as YYYY-MM-DD whatever the driver returns. */
const day = (value: string | null): string | null => (value === null ? null : String(value).slice(0, 10));

function rowToJob(row: JobsTable): FollowupJob {
  return {
    id: row.id,
    userId: row.user_id,
    threadId: row.thread_id,
    step: row.step,
    origin: row.origin as FollowupJob['origin'],
    opId: row.op_id,
    dueAt: iso(row.due_at)!,
    notBefore: iso(row.not_before)!,
    status: row.status as JobStatus,
    attempts: row.attempts,
    leaseOwner: row.lease_owner,
    leaseUntil: iso(row.lease_until),
    anchorAt: iso(row.anchor_at),
    previousDraftAt: iso(row.previous_draft_at),
    capDay: day(row.cap_day),
    draft:
      row.draft_body === null
        ? null
        : { subject: row.draft_subject ?? '', body: row.draft_body, drafter: row.drafter ?? 'template' },
    delivery:
      row.delivered_at === null || row.message_id === null
        ? null
        : {
            mode: (row.mode ?? 'send') as FollowupDelivery['mode'],
            accountId: row.account_id,
            messageId: row.message_id,
            providerMessageId: row.provider_message_id,
            providerThreadId: row.provider_thread_id,
            draftId: row.draft_id,
            deliveredAt: iso(row.delivered_at)!,
          },
    reason: row.reason,
    lastError: row.last_error,
    createdAt: iso(row.created_at)!,
    finishedAt: iso(row.finished_at),
  };
}

function rowToPlan(row: Selectable<PlansTable>): FollowupPlan {
  return {
    userId: row.user_id,
    threadId: row.thread_id,
    activityAt: iso(row.activity_at)!,
    step: row.step,
    outcome: row.outcome as FollowupPlan['outcome'],
    scheduledAt: iso(row.scheduled_at),
    anchorAt: iso(row.anchor_at),
    anchorKind: row.anchor_kind as FollowupPlan['anchorKind'],
    delayBusinessDays: row.delay_business_days,
    reason: row.reason,
  };
}

function parseInput(value: unknown): FollowupPolicyInput {
  const parsed = followupPolicyInputSchema.safeParse(jsonValue(value) ?? {});
  return parsed.success ? parsed.data : {};
}

const LIVE = ['pending', 'running'] as const;

/** The job is still held by this lease. */
const held = (lease: Lease) =>
  sql<SqlBool>`status = 'running' and lease_owner = ${lease.owner} and attempts = ${lease.attempt}`;

export class KyselyFollowupPolicyRepository implements FollowupPolicyRepository {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  async get(userId: string): Promise<StoredPolicy> {
    const row = await this.#db
      .selectFrom('followup_policies')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!row) return { policy: resolvePolicy(), input: {}, autoSince: null, updatedAt: null };
    const input = parseInput(row.policy);
    return {
      policy: resolvePolicy(input),
      input,
      autoSince: iso(row.auto_since),
      updatedAt: iso(row.updated_at),
    };
  }

  async put(userId: string, input: FollowupPolicyInput, now: string): Promise<StoredPolicy> {
    await this.#db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('followup_policies')
        .select(['policy', 'auto_since'])
        .where('user_id', '=', userId)
        .forUpdate()
        .executeTakeFirst();
      const wasAuto = before ? resolvePolicy(parseInput(before.policy)).autoSchedule : false;
      const isAuto = resolvePolicy(input).autoSchedule;
      // Turning automatic scheduling on never reaches back: it considers activity from now on.
      const autoSince = before && (wasAuto || !isAuto) ? before.auto_since : now;
      await trx
        .insertInto('followup_policies')
        .values({ user_id: userId, policy: json(input) as never, auto_since: autoSince })
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet({
            policy: json(input) as never,
            auto_since: autoSince,
            updated_at: sql`clock_timestamp()` as never,
          }),
        )
        .execute();
    });
    return this.get(userId);
  }

  async ensure(userIds: readonly string[], now: string): Promise<void> {
    if (userIds.length === 0) return;
    await this.#db
      .insertInto('followup_policies')
      .values(userIds.map((user_id) => ({ user_id, policy: json({}) as never, auto_since: now })))
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
  }

  async autoScheduling() {
    const rows = await this.#db.selectFrom('followup_policies').selectAll().orderBy('user_id').execute();
    return rows
      .map((row) => ({
        userId: row.user_id,
        policy: resolvePolicy(parseInput(row.policy)),
        autoSince: iso(row.auto_since)!,
      }))
      .filter((p) => p.policy.autoSchedule && p.policy.maxFollowups > 0);
  }

  async getTemplates(userId: string): Promise<FollowupTemplate[]> {
    const rows = await this.#db
      .selectFrom('followup_templates')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('position')
      .execute();
    return rows.flatMap((row) => {
      const parsed = followupTemplateSchema.safeParse({
        step: row.step,
        language: row.language,
        subject: row.subject,
        body: row.body,
      });
      return parsed.success ? [parsed.data] : [];
    });
  }

  async putTemplates(userId: string, templates: readonly FollowupTemplate[]): Promise<FollowupTemplate[]> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('followup_templates').where('user_id', '=', userId).execute();
      if (templates.length === 0) return;
      await trx
        .insertInto('followup_templates')
        .values(
          templates.map((t, position) => ({
            user_id: userId,
            position,
            step: t.step,
            language: t.language,
            subject: t.subject,
            body: t.body,
          })),
        )
        .execute();
    });
    return this.getTemplates(userId);
  }
}

export class KyselyFollowupJobRepository implements FollowupJobRepository {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  async materializeDue(now: string, limit: number): Promise<number> {
    const result = await sql`
      insert into followup_jobs (user_id, thread_id, step, origin, due_at, not_before, anchor_at, previous_draft_at)
      select t.user_id, t.thread_id, coalesce(t.followup_count, 0) + 1,
             case when p.anchor_at is not null or p.scheduled_at is not null then 'policy' else 'manual' end,
             t.followup_scheduled_at, t.followup_scheduled_at, p.anchor_at,
             (select d.delivered_at from followup_jobs d
               where d.user_id = t.user_id and d.thread_id = t.thread_id and d.status = 'drafted'
                 and d.step = coalesce(t.followup_count, 0)
               order by d.created_at desc limit 1)
      from thread_tracking t
      left join lateral (
        select fp.anchor_at, fp.scheduled_at from followup_plans fp
        where fp.user_id = t.user_id and fp.thread_id = t.thread_id and fp.outcome = 'scheduled'
          and fp.scheduled_at = t.followup_scheduled_at
        order by fp.created_at desc limit 1
      ) p on true
      where t.followup_scheduled = true and t.status = 'active' and t.followup_scheduled_at <= ${now}::timestamptz
        and not exists (
          select 1 from followup_jobs j
          where j.user_id = t.user_id and j.thread_id = t.thread_id
            and (j.status in ('pending', 'running')
                 or (j.status in ('sent', 'drafted') and j.step = coalesce(t.followup_count, 0) + 1)))
      order by t.followup_scheduled_at
      limit ${limit}
      on conflict do nothing`.execute(this.#db);
    return Number(result.numAffectedRows ?? 0);
  }

  async claim(owner: string, now: string, leaseMs: number, limit: number): Promise<FollowupJob[]> {
    const result = await sql<JobsTable>`
      with picked as (
        select id from followup_jobs
        where (status = 'pending' and not_before <= ${now}::timestamptz)
           or (status = 'running' and lease_until < clock_timestamp())
        order by not_before, id
        limit ${limit}
        for update skip locked
      ),
      claimed as (
        update followup_jobs j
        set status = 'running', lease_owner = ${owner},
            lease_until = clock_timestamp() + ${leaseMs} * interval '1 millisecond',
            attempts = j.attempts + 1, updated_at = clock_timestamp()
        from picked where j.id = picked.id
        returning j.*
      ),
      abandoned as (
        update followup_attempts a set outcome = 'abandoned', finished_at = clock_timestamp()
        from claimed c where a.job_id = c.id and a.outcome is null and a.attempt < c.attempts
      ),
      recorded as (
        insert into followup_attempts (job_id, attempt, worker, started_at, detail)
        select id, attempts, ${owner}, clock_timestamp(), jsonb_build_object('leaseUntil', lease_until)
        from claimed
      )
      select * from claimed`.execute(this.#db);
    return result.rows.map(rowToJob);
  }

  async renew(jobId: string, lease: Lease, leaseMs: number): Promise<boolean> {
    // The attempt keeps its lease's end, so a takeover's delay after it can be measured.
    const result = await sql<{ id: string }>`
      with renewed as (
        update followup_jobs
        set lease_until = clock_timestamp() + ${leaseMs} * interval '1 millisecond', updated_at = clock_timestamp()
        where id = ${jobId} and ${held(lease)}
        returning id, attempts, lease_until
      )
      update followup_attempts a set detail = a.detail || jsonb_build_object('leaseUntil', r.lease_until)
      from renewed r where a.job_id = r.id and a.attempt = r.attempts
      returning a.job_id as id`.execute(this.#db);
    return result.rows.length === 1;
  }

  async note(
    jobId: string,
    lease: Lease,
    patch: { draft?: FollowupJob['draft']; capDay?: string | null; lastError?: string | null },
  ): Promise<boolean> {
    const set: Record<string, unknown> = { updated_at: sql`clock_timestamp()` };
    if (patch.draft !== undefined) {
      set.draft_subject = patch.draft?.subject ?? null;
      set.draft_body = patch.draft?.body ?? null;
      set.drafter = patch.draft?.drafter ?? null;
    }
    if (patch.capDay !== undefined) set.cap_day = patch.capDay;
    if (patch.lastError !== undefined) set.last_error = patch.lastError;
    const result = await this.#db
      .updateTable('followup_jobs')
      .set(set as never)
      .where('id', '=', jobId)
      .where(held(lease))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async release(
    jobId: string,
    lease: Lease,
    notBefore: string,
    outcome: AttemptOutcome,
    detail: Record<string, unknown>,
  ): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await this.#giveBackSlot(trx, jobId, lease);
      const result = await trx
        .updateTable('followup_jobs')
        .set({
          status: 'pending',
          not_before: notBefore,
          lease_owner: null,
          lease_until: null,
          cap_day: null,
          reason: typeof detail.reason === 'string' ? detail.reason : null,
          updated_at: sql`clock_timestamp()` as never,
        })
        .where('id', '=', jobId)
        .where(held(lease))
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) !== 1) return false;
      await this.#endAttempt(trx, jobId, lease, outcome, detail);
      return true;
    });
  }

  async deliver(
    jobId: string,
    lease: Lease,
    delivery: FollowupDelivery,
    event: JobEvent,
  ): Promise<ThreadEvent | null> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('followup_jobs')
        .set({
          mode: delivery.mode,
          account_id: delivery.accountId,
          message_id: delivery.messageId,
          provider_message_id: delivery.providerMessageId,
          provider_thread_id: delivery.providerThreadId,
          draft_id: delivery.draftId,
          delivered_at: delivery.deliveredAt,
          last_error: null,
          updated_at: sql`clock_timestamp()` as never,
        })
        .where('id', '=', jobId)
        .where(held(lease))
        .where('delivered_at', 'is', null)
        .returning(['user_id', 'thread_id', 'op_id'])
        .executeTakeFirst();
      if (!row) return null;
      const stored = await this.#event(trx, row.user_id, row.thread_id, event, row.op_id);
      await this.#endAttempt(
        trx,
        jobId,
        lease,
        delivery.recognised ? 'recognised' : delivery.mode === 'draft' ? 'drafted' : 'sent',
        {
          messageId: delivery.messageId,
        },
        false,
      );
      return stored;
    });
  }

  async finish(
    jobId: string,
    lease: Lease,
    status: Exclude<JobStatus, 'pending' | 'running'>,
    outcome: AttemptOutcome,
    detail: Record<string, unknown>,
    event?: JobEvent,
  ): Promise<{ finished: boolean; event: ThreadEvent | null }> {
    return this.#db.transaction().execute(async (trx) => {
      const delivered = status === 'sent' || status === 'drafted';
      if (!delivered) await this.#giveBackSlot(trx, jobId, lease);
      const row = await trx
        .updateTable('followup_jobs')
        .set({
          status,
          ...(delivered ? {} : { cap_day: null }),
          lease_owner: null,
          lease_until: null,
          reason: typeof detail.reason === 'string' ? detail.reason : null,
          finished_at: sql`clock_timestamp()` as never,
          updated_at: sql`clock_timestamp()` as never,
        })
        .where('id', '=', jobId)
        .where(held(lease))
        .returning(['user_id', 'thread_id'])
        .executeTakeFirst();
      if (!row) return { finished: false, event: null };
      await this.#endAttempt(trx, jobId, lease, outcome, detail);
      const stored = event ? await this.#event(trx, row.user_id, row.thread_id, event, null) : null;
      return { finished: true, event: stored };
    });
  }

  async reserveDailySlot(
    jobId: string,
    lease: Lease,
    userId: string,
    dayKey: string,
    cap: number,
  ): Promise<boolean> {
    // One statement: the counter row is incremented only below the cap, under its row lock (concurrent
    // reservations wait for each other only that long); a job already counted for that day is not counted again.
    const result = await sql<{ id: string }>`
      with job as (
        select id, cap_day from followup_jobs where id = ${jobId} and ${held(lease)}
      ),
      counted as (
        insert into followup_daily_counts (user_id, day, count)
        select ${userId}, ${dayKey}::date, 1 from job where job.cap_day is distinct from ${dayKey}::date
        on conflict (user_id, day) do update set count = followup_daily_counts.count + 1
          where followup_daily_counts.count < ${cap}
        returning 1
      )
      update followup_jobs j set cap_day = ${dayKey}::date
      from job
      where j.id = job.id and (job.cap_day = ${dayKey}::date or exists (select 1 from counted))
      returning j.id`.execute(this.#db);
    return result.rows.length === 1;
  }

  async depth(now: string): Promise<number> {
    const row = await sql<{ count: string }>`
      select count(*) as count from thread_tracking
      where followup_scheduled = true and status = 'active' and followup_scheduled_at <= ${now}::timestamptz`.execute(
      this.#db,
    );
    return Number(row.rows[0]?.count ?? 0);
  }

  async nextDueAfter(now: string): Promise<string | null> {
    const { rows } = await sql<{ at: string | null }>`
      select least(
        (select min(followup_scheduled_at) from thread_tracking
          where followup_scheduled = true and status = 'active' and followup_scheduled_at > ${now}::timestamptz),
        (select min(not_before) from followup_jobs
          where status = 'pending' and not_before > ${now}::timestamptz)
      ) as at`.execute(this.#db);
    return iso(rows[0]?.at);
  }

  async latestForThreads(userId: string, threadIds: readonly string[]): Promise<Map<string, FollowupJob>> {
    if (threadIds.length === 0) return new Map();
    const rows = await sql<JobsTable>`
      select distinct on (thread_id) * from followup_jobs
      where user_id = ${userId} and thread_id = any(${[...threadIds]}::text[])
      order by thread_id, created_at desc`.execute(this.#db);
    return new Map(rows.rows.map((row) => [row.thread_id, rowToJob(row)]));
  }

  async failures(jobId: string): Promise<number> {
    const { rows } = await sql<{ n: string | number }>`
      select count(*) as n from followup_attempts
      where job_id = ${jobId} and outcome in ('retry', 'abandoned')`.execute(this.#db);
    return Number(rows[0]?.n ?? 0);
  }

  /** Lists a job's attempts, oldest first (tests and diagnostics). */
  async attempts(jobId: string) {
    const rows = await sql<{ attempt: number; worker: string; outcome: string | null; detail: unknown }>`
      select attempt, worker, outcome, detail from followup_attempts where job_id = ${jobId} order by attempt`.execute(
      this.#db,
    );
    return rows.rows.map((r) => ({ ...r, detail: jsonValue<Record<string, unknown>>(r.detail) }));
  }

  /** A follow-up that was counted against a day and did not go out gives its slot back. */
  async #giveBackSlot(trx: Transaction<FollowupDatabase>, jobId: string, lease: Lease): Promise<void> {
    await sql`
      with job as (
        select user_id, cap_day from followup_jobs
        where id = ${jobId} and ${held(lease)} and cap_day is not null and delivered_at is null
      )
      update followup_daily_counts c set count = greatest(c.count - 1, 0)
      from job where c.user_id = job.user_id and c.day = job.cap_day`.execute(trx);
  }

  async #endAttempt(
    trx: Transaction<FollowupDatabase>,
    jobId: string,
    lease: Lease,
    outcome: AttemptOutcome,
    detail: Record<string, unknown>,
    finished = true,
  ): Promise<void> {
    await sql`
      update followup_attempts
      set outcome = ${outcome}, detail = detail || ${json(detail)},
          finished_at = ${finished ? sql`clock_timestamp()` : sql`null`}
      where job_id = ${jobId} and attempt = ${lease.attempt}`.execute(trx);
  }

  async #event(
    trx: Transaction<FollowupDatabase>,
    userId: string,
    threadId: string,
    event: JobEvent,
    opId: string | null,
  ): Promise<ThreadEvent> {
    const row = await trx
      .insertInto('thread_events')
      .values({
        user_id: userId,
        thread_id: threadId,
        type: event.type,
        data: json(event.data) as never,
        op_id: opId,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return rowToEvent(row);
  }
}

export class KyselyFollowupPlanRepository implements FollowupPlanRepository {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  async candidates(
    userId: string,
    since: string,
    maxFollowups: number,
    limit: number,
  ): Promise<PlanCandidate[]> {
    const rows = await sql<{ thread_id: string; last_activity: string; followup_count: number }>`
      select t.thread_id, t.last_activity, coalesce(t.followup_count, 0) as followup_count
      from thread_tracking t
      where t.user_id = ${userId} and t.status = 'active' and t.hidden = false and t.tracked = true
        and coalesce(t.followup_scheduled, false) = false
        and coalesce(t.followup_count, 0) < ${maxFollowups}
        and t.last_activity > ${since}::timestamptz
        and not exists (
          select 1 from followup_plans p
          where p.user_id = t.user_id and p.thread_id = t.thread_id and p.activity_at >= t.last_activity)
        and not exists (
          select 1 from thread_events e
          where e.user_id = t.user_id and e.thread_id = t.thread_id
            and e.type in ('followup_scheduled', 'followup_cancelled') and e.created_at >= t.last_activity)
        and not exists (
          select 1 from followup_jobs j
          where j.user_id = t.user_id and j.thread_id = t.thread_id and j.status in (${sql.join([...LIVE])}))
      order by t.last_activity
      limit ${limit}`.execute(this.#db);
    return rows.rows.map((r) => ({
      threadId: r.thread_id,
      lastActivity: iso(r.last_activity)!,
      followupCount: Number(r.followup_count),
    }));
  }

  async lastCancelledAt(userId: string, threadId: string): Promise<string | null> {
    const { rows } = await sql<{ at: string | null }>`
      select max(created_at) as at from thread_events
      where user_id = ${userId} and thread_id = ${threadId} and type = 'followup_cancelled'`.execute(
      this.#db,
    );
    return iso(rows[0]?.at);
  }

  async record(plan: FollowupPlan): Promise<void> {
    const values = {
      user_id: plan.userId,
      thread_id: plan.threadId,
      activity_at: plan.activityAt,
      step: plan.step,
      outcome: plan.outcome,
      scheduled_at: plan.scheduledAt,
      anchor_at: plan.anchorAt,
      anchor_kind: plan.anchorKind,
      delay_business_days: plan.delayBusinessDays,
      reason: plan.reason,
    };
    const { user_id: _u, thread_id: _t, activity_at: _a, ...rest } = values;
    await this.#db
      .insertInto('followup_plans')
      .values(values)
      .onConflict((oc) => oc.columns(['user_id', 'thread_id', 'activity_at']).doUpdateSet(rest))
      .execute();
  }

  async forSchedules(
    userId: string,
    schedules: readonly { threadId: string; scheduledAt: string }[],
  ): Promise<Map<string, FollowupPlan>> {
    if (schedules.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('followup_plans')
      .selectAll()
      .where('user_id', '=', userId)
      .where('outcome', '=', 'scheduled')
      .where('thread_id', 'in', [...new Set(schedules.map((s) => s.threadId))])
      .orderBy('created_at', 'desc')
      .execute();
    const wanted = new Map(schedules.map((s) => [s.threadId, Date.parse(s.scheduledAt)]));
    const out = new Map<string, FollowupPlan>();
    for (const row of rows) {
      const plan = rowToPlan(row);
      if (out.has(plan.threadId) || plan.scheduledAt === null) continue;
      if (Date.parse(plan.scheduledAt) === wanted.get(plan.threadId)) out.set(plan.threadId, plan);
    }
    return out;
  }

  async schedule(userId: string, limit: number): Promise<ScheduledFollowupRow[]> {
    const rows = await sql<{
      thread_id: string;
      subject: string | null;
      participants: string[] | null;
      followup_scheduled_at: string;
      followup_count: number | null;
    }>`
      select thread_id, subject, participants, followup_scheduled_at, followup_count
      from followup_schedule where user_id = ${userId}
      order by followup_scheduled_at, thread_id
      limit ${limit}`.execute(this.#db);
    return rows.rows.map((r) => ({
      threadId: r.thread_id,
      subject: r.subject,
      participants: r.participants ?? [],
      scheduledAt: iso(r.followup_scheduled_at)!,
      due: false,
      followupCount: r.followup_count ?? 0,
    }));
  }
}

/** Which mail account's sync wrote a thread of the user's (mail_threads of migration 0003). */
export async function accountOfThread(
  db: Kysely<Database>,
  userId: string,
  threadId: string,
): Promise<string | undefined> {
  const row = await sql<{ account_id: string }>`
    select mt.account_id from mail_threads mt join mail_accounts a on a.id = mt.account_id
    where a.user_id = ${userId} and mt.thread_id = ${threadId}
    order by mt.retired, a.created_at
    limit 1`.execute(db);
  return row.rows[0]?.account_id;
}
