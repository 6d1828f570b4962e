/**
 * Threads in PostgreSQL / PGlite. Invariants:
 * - every change and its thread_events row are written by ONE statement (a data-modifying CTE), so they commit
 *   together or not at all, in one round trip;
 * - lists are keyset-paginated on (sort column, id) with NULLs ordered as the oldest values, in at most two index
 *   range scans (non-NULL region, then NULL region), never OFFSET;
 * - every value reaches SQL as a bound parameter.
 */
import { type Kysely, type OperationNodeSource, type RawBuilder, type SqlBool, sql } from 'kysely';
import type {
  AnalyticsAggregates,
  AnalyticsRange,
  FollowupBucket,
  ResponseTimeBucket,
} from '../domain/analytics.ts';
import type { ThreadMutation } from '../domain/commands.ts';
import { AppError } from '../domain/errors.ts';
import type { EmailType, ThreadEventType, ThreadStatus } from '../domain/thread.ts';
import type {
  ListThreadsQuery,
  NewThread,
  ThreadChange,
  ThreadRepository,
  WriteMeta,
} from '../ports/store.ts';
import { COLUMN_OF, fieldsToColumns, rowToEvent, rowToThread, type ThreadRow } from './row-mapper.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

interface ChangeRow extends ThreadRow {
  ev_id: string;
  ev_type: string;
  ev_data: Record<string, unknown>;
  ev_created_at: string;
}

function toChange(row: ChangeRow): ThreadChange {
  const { ev_id, ev_type, ev_data, ev_created_at, ...thread } = row;
  return {
    thread: rowToThread(thread as ThreadRow),
    event: rowToEvent({
      id: ev_id,
      user_id: thread.user_id,
      thread_id: thread.thread_id,
      type: ev_type,
      data: ev_data,
      op_id: null,
      created_at: ev_created_at,
    }),
  };
}

/** `'{"a":1}'::jsonb || jsonb_build_object('followupCount', t.followup_count)` for fields known after the write. */
function eventData(data: Record<string, unknown>, includeFields: readonly string[] = []) {
  // Through text: a parameter typed jsonb would be JSON-encoded a second time by postgres.js.
  const base = sql<string>`${JSON.stringify(data)}::text::jsonb`;
  if (includeFields.length === 0) return base;
  const pairs = includeFields.map(
    (field) => sql`${sql.lit(field)}, t.${sql.ref(COLUMN_OF[field as keyof typeof COLUMN_OF] ?? field)}`,
  );
  return sql<string>`${base} || jsonb_build_object(${sql.join(pairs)})`;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

interface KeysetRegion {
  nulls: boolean;
  predicate: RawBuilder<SqlBool> | null;
}

/**
 * The regions of a keyset page, in output order: DESC reads non-NULL values (high to low), then NULLs; ASC reads
 * NULLs, then values. Each region is one index range scan; the cursor says where to start.
 */
function keysetRegions(query: ListThreadsQuery): KeysetRegion[] {
  const column = query.sort === 'createdAt' ? 'created_at' : 'last_activity';
  const desc = query.order === 'desc';
  const after = query.after;
  const idCmp = desc ? sql.raw('<') : sql.raw('>');
  const ref = sql.ref(`thread_tracking.${column}`);
  if (!after)
    return [
      { nulls: !desc, predicate: null },
      { nulls: desc, predicate: null },
    ];
  if (after.value === null) {
    const regions: KeysetRegion[] = [
      { nulls: true, predicate: sql<SqlBool>`thread_tracking.id ${idCmp} ${after.id}::uuid` },
    ];
    if (!desc) regions.push({ nulls: false, predicate: null });
    return regions;
  }
  const regions: KeysetRegion[] = [
    {
      nulls: false,
      predicate: sql<SqlBool>`(${ref}, thread_tracking.id) ${idCmp} (${after.value}::timestamptz, ${after.id}::uuid)`,
    },
  ];
  if (desc) regions.push({ nulls: true, predicate: null });
  return regions;
}

/** A timestamp as the product writes it: ISO 8601 in UTC with all six fractional digits (see row-mapper.ts). */
const isoText = (column: RawBuilder<unknown> | ReturnType<typeof sql.ref>) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** One thread as JSON, field for field what rowToThread + JSON.stringify produce. */
const THREAD_JSON = sql`json_build_object(
  'id', id, 'userId', user_id, 'threadId', thread_id, 'leadId', lead_id, 'tracked', tracked, 'hidden', hidden,
  'systemGenerated', system_generated, 'emailType', email_type, 'status', coalesce(status, 'active'),
  'subject', subject, 'participants', coalesce(to_json(participants), '[]'::json),
  'messageCount', coalesce(message_count, 0), 'lastActivity', ${isoText(sql.ref('last_activity'))},
  'aiGenerated', coalesce(ai_generated, false), 'followupScheduled', coalesce(followup_scheduled, false),
  'followupScheduledAt', ${isoText(sql.ref('followup_scheduled_at'))}, 'followupCount', coalesce(followup_count, 0),
  'openRate', open_rate::float8, 'replyRate', reply_rate::float8, 'responseTimeHours', response_time_hours,
  'createdAt', coalesce(${isoText(sql.ref('created_at'))}, ''), 'updatedAt', coalesce(${isoText(sql.ref('updated_at'))}, ''),
  'hiddenAt', ${isoText(sql.ref('hidden_at'))}, 'archivedAt', ${isoText(sql.ref('archived_at'))})`;

export class KyselyThreadRepository implements ThreadRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async get(userId: string, threadId: string) {
    const row = await this.#db
      .selectFrom('thread_tracking')
      .selectAll()
      .where('user_id', '=', userId)
      .where('thread_id', '=', threadId)
      .executeTakeFirst();
    return row ? rowToThread(row) : undefined;
  }

  async list(userId: string, query: ListThreadsQuery) {
    const rows: ThreadRow[] = [];
    for (const region of keysetRegions(query)) {
      const need = query.limit + 1 - rows.length;
      if (need <= 0) break;
      rows.push(...(await this.#regionQuery(userId, query, region).selectAll().limit(need).execute()));
    }
    return { items: rows.slice(0, query.limit).map(rowToThread), hasMore: rows.length > query.limit };
  }

  /**
   * The same page as `list`, as JSON text built by the database (the same fields and order as JSON.stringify of
   * the mapped threads): Node then forwards one value instead of parsing, mapping and serializing 50 rows, which is
   * most of the cost of a page. Also returns what the next cursor needs.
   */
  async listJson(userId: string, query: ListThreadsQuery) {
    const column = query.sort === 'createdAt' ? 'created_at' : 'last_activity';
    const order = sql.raw(
      query.order === 'desc' ? `${column} desc nulls last, id desc` : `${column} asc nulls first, id asc`,
    );
    const parts: string[] = [];
    let fetched = 0;
    let last: { value: string | null; id: string } | null = null;
    for (const region of keysetRegions(query)) {
      const need = query.limit + 1 - fetched;
      if (need <= 0) break;
      const keep = Math.min(need, query.limit - fetched);
      const page = this.#regionQuery(userId, query, region).selectAll().limit(need);
      const result = await sql<{
        items: string;
        fetched: number;
        has_last: boolean;
        last_value: string | null;
        last_id: string | null;
      }>`
        with page as (select p.*, row_number() over (order by ${order}) as rn from (${page}) p)
        select coalesce(json_agg(${THREAD_JSON} order by rn) filter (where rn <= ${keep}), '[]')::text as items,
               count(*)::int as fetched,
               coalesce(bool_or(rn = ${keep}), false) as has_last,
               max(case when rn = ${keep} then ${isoText(sql.ref(column))} end) as last_value,
               max(case when rn = ${keep} then id::text end) as last_id
        from page`.execute(this.#db);
      const row = result.rows[0]!;
      if (row.items !== '[]') parts.push(row.items.slice(1, -1));
      if (row.has_last) last = { value: row.last_value, id: row.last_id! };
      fetched += Number(row.fetched);
    }
    return { itemsJson: `[${parts.join(',')}]`, hasMore: fetched > query.limit, last };
  }

  /** The filtered, ordered selection of one keyset region (see keysetRegions). */
  #regionQuery(userId: string, query: ListThreadsQuery, region: KeysetRegion) {
    const column = query.sort === 'createdAt' ? 'created_at' : 'last_activity';
    const desc = query.order === 'desc';
    let qb = this.#db.selectFrom('thread_tracking').where('user_id', '=', userId);
    qb = region.nulls ? qb.where(column, 'is', null) : qb.where(column, 'is not', null);
    if (region.predicate) qb = qb.where(region.predicate);
    if (query.status !== undefined) qb = qb.where('status', '=', query.status);
    else qb = qb.where(sql<SqlBool>`status is distinct from 'deleted'`);
    if (query.hidden !== undefined) qb = qb.where('hidden', '=', query.hidden);
    if (query.systemGenerated !== undefined) qb = qb.where('system_generated', '=', query.systemGenerated);
    if (query.tracked !== undefined) qb = qb.where('tracked', '=', query.tracked);
    if (query.emailType !== undefined) qb = qb.where('email_type', '=', query.emailType);
    if (query.leadId !== undefined) qb = qb.where('lead_id', '=', query.leadId);
    if (query.lastActivityFrom !== undefined) qb = qb.where('last_activity', '>=', query.lastActivityFrom);
    if (query.lastActivityTo !== undefined) qb = qb.where('last_activity', '<', query.lastActivityTo);
    if (query.q !== undefined) {
      const pattern = `%${escapeLike(query.q)}%`;
      qb = qb.where(
        sql<SqlBool>`(subject ilike ${pattern} or array_to_string(participants, ' ') ilike ${pattern})`,
      );
    }
    return qb
      .orderBy(column, (ob) => (desc ? ob.desc().nullsLast() : ob.asc().nullsFirst()))
      .orderBy('id', desc ? 'desc' : 'asc');
  }

  /**
   * The one shape of every write: `write` changes thread_tracking and returns the rows after the change; the same
   * statement appends one event per returned row (tagged with the operation id) and returns rows and events.
   */
  async #withEvent(
    write: OperationNodeSource,
    type: RawBuilder<string>,
    eventDataSql: RawBuilder<string>,
    meta: WriteMeta,
  ): Promise<ChangeRow[]> {
    const opId = meta.opId;
    const data = meta.eventData
      ? sql<string>`${eventDataSql} || ${JSON.stringify(meta.eventData)}::text::jsonb`
      : eventDataSql;
    const result = await sql<ChangeRow>`
      with t as (${write}),
      e as (
        insert into thread_events (user_id, thread_id, type, data, op_id)
        select t.user_id, t.thread_id, ${type}, ${data}, ${opId ?? null}::uuid from t
        returning *
      )
      select t.*, e.id as ev_id, e.type as ev_type, e.data as ev_data, e.created_at as ev_created_at
      from t join e on e.user_id = t.user_id and e.thread_id = t.thread_id`.execute(this.#db);
    return result.rows;
  }

  async insert(userId: string, thread: NewThread, options: WriteMeta = {}) {
    const values = { user_id: userId, thread_id: thread.threadId, ...fieldsToColumns(thread) };
    const [row] = await this.#withEvent(
      this.#db
        .insertInto('thread_tracking')
        .values(values as never)
        .onConflict((oc) => oc.constraint('unique_user_thread').doNothing())
        .returningAll(),
      sql`'created'`,
      eventData({ fields: Object.keys(thread).filter((k) => k !== 'threadId') }),
      options,
    );
    return row ? toChange(row) : undefined;
  }

  async upsertMany(
    userId: string,
    threads: NewThread[],
    eventType: ThreadEventType = 'upserted',
    options: WriteMeta = {},
  ) {
    // Rows with the same set of fields go in one statement; on conflict only those fields are replaced, so a
    // sync that knows nothing of `hidden` or `status` never overwrites what the user set.
    const groups = new Map<string, NewThread[]>();
    for (const thread of threads) {
      const signature = Object.keys(thread)
        .filter((k) => thread[k as keyof NewThread] !== undefined)
        .sort()
        .join(',');
      const group = groups.get(signature);
      if (group) group.push(thread);
      else groups.set(signature, [thread]);
    }
    const changes: ThreadChange[] = [];
    for (const group of groups.values()) {
      const rows = group.map((t) => ({ user_id: userId, thread_id: t.threadId, ...fieldsToColumns(t) }));
      const columns = Object.keys(rows[0]!).filter((c) => c !== 'user_id' && c !== 'thread_id');
      const write = this.#db
        .insertInto('thread_tracking')
        .values(rows as never)
        .onConflict((oc) => {
          const target = oc.constraint('unique_user_thread');
          if (columns.length === 0) return target.doNothing();
          const set = Object.fromEntries(columns.map((c) => [c, sql.ref(`excluded.${c}`)]));
          const changed = sql<SqlBool>`(${sql.join(columns.map((c) => sql.ref(`thread_tracking.${c}`)))}) is distinct from (${sql.join(columns.map((c) => sql.ref(`excluded.${c}`)))})`;
          return target.doUpdateSet(set as never).where(changed);
        })
        .returningAll()
        .returning(sql<boolean>`(xmax = 0)`.as('inserted'));
      const result = await this.#withEvent(
        write,
        sql`case when t.inserted then 'created' else ${eventType} end`,
        eventData({ fields: columns }),
        options,
      );
      for (const row of result) {
        const { inserted: _inserted, ...rest } = row as ChangeRow & { inserted: boolean };
        changes.push(toChange(rest as ChangeRow));
      }
    }
    return changes;
  }

  async update(userId: string, threadId: string, mutation: ThreadMutation, options: WriteMeta = {}) {
    const set: Record<string, unknown> = { ...fieldsToColumns(mutation.set) };
    if (mutation.increment?.followupCount) {
      set.followup_count = sql`coalesce(followup_count, 0) + ${mutation.increment.followupCount}`;
    }
    if (Object.keys(set).length === 0) {
      throw new AppError('VALIDATION_FAILED', 'Nothing to update');
    }
    let write = this.#db
      .updateTable('thread_tracking')
      .set(set as never)
      .where('user_id', '=', userId)
      .where('thread_id', '=', threadId);
    if (mutation.requireStatus) write = write.where('status', 'in', [...mutation.requireStatus]);
    const [row] = await this.#withEvent(
      write.returningAll(),
      sql`${mutation.event.type}`,
      eventData(mutation.event.data, mutation.event.includeFields),
      options,
    );
    if (row) return toChange(row);
    if (mutation.requireStatus) {
      const existing = await this.get(userId, threadId);
      if (existing) {
        throw new AppError(
          'THREAD_STATE_CONFLICT',
          `This operation needs the thread to be ${mutation.requireStatus.join(' or ')}; it is ${existing.status}`,
        );
      }
    }
    return undefined;
  }

  async purge(userId: string, threadId: string, options: WriteMeta = {}) {
    const [row] = await this.#withEvent(
      this.#db
        .deleteFrom('thread_tracking')
        .where('user_id', '=', userId)
        .where('thread_id', '=', threadId)
        .returningAll(),
      sql`'purged'`,
      eventData({}),
      options,
    );
    return row ? toChange(row) : undefined;
  }

  async appendEvents(
    userId: string,
    events: { threadId: string; type: string; data: Record<string, unknown> }[],
  ) {
    if (events.length === 0) return;
    await this.#db
      .insertInto('thread_events')
      .values(
        events.map((e) => ({
          user_id: userId,
          thread_id: e.threadId,
          type: e.type,
          data: sql<string>`${JSON.stringify(e.data)}::text::jsonb` as never,
        })),
      )
      .execute();
  }

  async applied(userId: string, opId: string) {
    const row = await this.#db
      .selectFrom('thread_events')
      .select('id')
      .where('user_id', '=', userId)
      .where('op_id', '=', opId as never)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async recent(limit: number) {
    const rows = await this.#db
      .selectFrom('thread_tracking')
      .selectAll()
      .where('last_activity', 'is not', null)
      .where(sql<SqlBool>`status is distinct from 'deleted'`)
      .orderBy('last_activity', 'desc')
      .limit(limit)
      .execute();
    return rows.map(rowToThread);
  }

  async lastEventId(userId: string) {
    const row = await this.#db
      .selectFrom('thread_events')
      .select('id')
      .where('user_id', '=', userId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? String(row.id) : null;
  }

  async listEvents(userId: string, query: { threadId?: string; afterId?: string; limit: number }) {
    let qb = this.#db.selectFrom('thread_events').selectAll().where('user_id', '=', userId);
    if (query.threadId !== undefined) qb = qb.where('thread_id', '=', query.threadId);
    if (query.afterId !== undefined) qb = qb.where('id', '>', query.afterId as never);
    const rows = await qb.orderBy('id', 'asc').limit(query.limit).execute();
    return rows.map(rowToEvent);
  }

  async aggregate(userId: string, range: AnalyticsRange): Promise<AnalyticsAggregates> {
    const byStatus = await this.#db
      .selectFrom('thread_tracking')
      .select(['status', sql<string>`count(*)`.as('count')])
      .where('user_id', '=', userId)
      .where('created_at', '>=', range.from)
      .where('created_at', '<', range.to)
      .groupBy('status')
      .execute();

    const groups = await this.population(userId, range)
      .select([
        'email_type',
        sql<FollowupBucket>`case when coalesce(followup_count, 0) >= 3 then '3+' else coalesce(followup_count, 0)::text end`.as(
          'bucket',
        ),
        sql<string>`count(*)`.as('threads'),
        sql<string>`count(response_time_hours)`.as('replied'),
        sql<string>`count(*) filter (where hidden)`.as('hidden'),
        sql<string>`count(*) filter (where system_generated)`.as('system_generated'),
        sql<string>`count(*) filter (where ai_generated)`.as('ai_generated'),
        sql<string>`count(*) filter (where tracked)`.as('tracked'),
        sql<string>`count(*) filter (where followup_scheduled)`.as('followups_scheduled'),
        sql<string>`coalesce(sum(followup_count), 0)`.as('followups_sent'),
        sql<string | null>`sum(open_rate)`.as('open_sum'),
        sql<string>`count(open_rate)`.as('open_count'),
        sql<string | null>`sum(reply_rate)`.as('reply_sum'),
        sql<string>`count(reply_rate)`.as('reply_count'),
      ])
      .groupBy(['email_type', 'bucket'])
      .execute();

    const response = await this.population(userId, range)
      .select([
        sql<string>`count(response_time_hours)`.as('count'),
        sql<number | null>`percentile_cont(0.5) within group (order by response_time_hours)`.as('median'),
        sql<number | null>`percentile_cont(0.9) within group (order by response_time_hours)`.as('p90'),
        sql<string | null>`avg(response_time_hours)`.as('average'),
        sql<string>`count(*) filter (where response_time_hours < 1)`.as('b0'),
        sql<string>`count(*) filter (where response_time_hours >= 1 and response_time_hours < 4)`.as('b1'),
        sql<string>`count(*) filter (where response_time_hours >= 4 and response_time_hours < 24)`.as('b2'),
        sql<string>`count(*) filter (where response_time_hours >= 24 and response_time_hours < 72)`.as('b3'),
        sql<string>`count(*) filter (where response_time_hours >= 72 and response_time_hours < 168)`.as('b4'),
        sql<string>`count(*) filter (where response_time_hours >= 168)`.as('b5'),
      ])
      .executeTakeFirstOrThrow();

    const createdDaily = await this.population(userId, range)
      .select([
        sql<string>`to_char(created_at at time zone ${range.tz}, 'YYYY-MM-DD')`.as('day'),
        sql<string>`count(*)`.as('count'),
      ])
      .groupBy('day')
      .execute();
    const activityDaily = await this.#db
      .selectFrom('thread_tracking')
      .select([
        sql<string>`to_char(last_activity at time zone ${range.tz}, 'YYYY-MM-DD')`.as('day'),
        sql<string>`count(*)`.as('count'),
      ])
      .where('user_id', '=', userId)
      .where('last_activity', '>=', range.from)
      .where('last_activity', '<', range.to)
      .where(sql<SqlBool>`status is distinct from 'deleted'`)
      .groupBy('day')
      .execute();

    const n = (v: string | number | null | undefined) => (v === null || v === undefined ? 0 : Number(v));
    const sum = (key: keyof (typeof groups)[number]) =>
      groups.reduce((acc, g) => acc + n(g[key] as string), 0);
    const openCount = sum('open_count');
    const replyCount = sum('reply_count');
    const daily = new Map<string, { date: string; created: number; lastActivity: number }>();
    for (const row of createdDaily)
      daily.set(row.day, { date: row.day, created: n(row.count), lastActivity: 0 });
    for (const row of activityDaily) {
      const entry = daily.get(row.day) ?? { date: row.day, created: 0, lastActivity: 0 };
      entry.lastActivity = n(row.count);
      daily.set(row.day, entry);
    }
    const histogramKeys: [ResponseTimeBucket, keyof typeof response][] = [
      ['<1h', 'b0'],
      ['1-4h', 'b1'],
      ['4-24h', 'b2'],
      ['1-3d', 'b3'],
      ['3-7d', 'b4'],
      ['>7d', 'b5'],
    ];
    const emailTypes = new Map<string, { emailType: EmailType | null; threads: number; replied: number }>();
    const followups = new Map<FollowupBucket, { bucket: FollowupBucket; threads: number; replied: number }>();
    for (const g of groups) {
      const key = g.email_type ?? '';
      const t = emailTypes.get(key) ?? {
        emailType: g.email_type as EmailType | null,
        threads: 0,
        replied: 0,
      };
      t.threads += n(g.threads);
      t.replied += n(g.replied);
      emailTypes.set(key, t);
      const f = followups.get(g.bucket) ?? { bucket: g.bucket, threads: 0, replied: 0 };
      f.threads += n(g.threads);
      f.replied += n(g.replied);
      followups.set(g.bucket, f);
    }
    return {
      byStatus: byStatus.map((r) => ({ status: (r.status ?? 'active') as ThreadStatus, count: n(r.count) })),
      byEmailType: [...emailTypes.values()],
      byFollowupCount: [...followups.values()],
      hidden: sum('hidden'),
      systemGenerated: sum('system_generated'),
      aiGenerated: sum('ai_generated'),
      tracked: sum('tracked'),
      followupsScheduled: sum('followups_scheduled'),
      followupsSent: sum('followups_sent'),
      averageOpenRate: openCount > 0 ? sum('open_sum') / openCount : null,
      averageReplyRate: replyCount > 0 ? sum('reply_sum') / replyCount : null,
      responseTime: {
        count: n(response.count),
        median: response.median === null ? null : Number(response.median),
        p90: response.p90 === null ? null : Number(response.p90),
        average: response.average === null ? null : Number(response.average),
      },
      histogram: histogramKeys.map(([bucket, key]) => ({ bucket, count: n(response[key] as string) })),
      daily: [...daily.values()],
    };
  }

  /** Threads of the analytics population: created in the range, not deleted. */
  private population(userId: string, range: AnalyticsRange) {
    return this.#db
      .selectFrom('thread_tracking')
      .where('user_id', '=', userId)
      .where('created_at', '>=', range.from)
      .where('created_at', '<', range.to)
      .where(sql<SqlBool>`status is distinct from 'deleted'`);
  }
}
