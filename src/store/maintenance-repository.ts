/**
 * The maintenance_runs table and the whole-table operations of the automated cleanup. Purges are batched (one
 * bounded statement at a time, so no transaction holds many locks for long) and conditional: a thread is purged
 * only if, when locked, it is still deleted and unchanged since the cut-off.
 */
import { type ColumnType, type Generated, type Kysely, type Selectable, sql } from 'kysely';
import type {
  MaintenanceRun,
  MaintenanceStatus,
  MaintenanceStore,
  MaintenanceTrigger,
  PurgedThread,
  StartRun,
} from '../ports/maintenance.ts';
import { pgTimestampToIso, rowToEvent } from './row-mapper.ts';
import type { Database } from './schema.ts';

interface MaintenanceRunsTable {
  id: Generated<string>;
  kind: string;
  trigger: string;
  dry_run: boolean;
  status: ColumnType<string, string | undefined, string>;
  started_at: ColumnType<string, string | undefined, never>;
  finished_at: ColumnType<string | null, never, string>;
  result: ColumnType<Record<string, unknown>, string | undefined, string>;
  error: string | null;
}

type Db = Kysely<Database & { maintenance_runs: MaintenanceRunsTable }>;

/** An arbitrary, fixed 64-bit key for pg_advisory_xact_lock, apart from the migrator's. */
const MAINTENANCE_LOCK_KEY = 7_311_505_101_871_262_434n;

function toRun(row: Selectable<MaintenanceRunsTable>): MaintenanceRun {
  return {
    id: String(row.id),
    kind: row.kind,
    trigger: row.trigger as MaintenanceTrigger,
    dryRun: row.dry_run,
    status: row.status as MaintenanceStatus,
    startedAt: pgTimestampToIso(row.started_at) ?? '',
    finishedAt: pgTimestampToIso(row.finished_at),
    result: typeof row.result === 'string' ? JSON.parse(row.result) : row.result,
    error: row.error,
  };
}

const count = (rows: { n: string | number }[]) => Number(rows[0]?.n ?? 0);

export class KyselyMaintenanceStore implements MaintenanceStore {
  readonly #db: Db;

  constructor(db: Kysely<Database>) {
    this.#db = db as unknown as Db;
  }

  startRun(run: StartRun): Promise<MaintenanceRun | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(MAINTENANCE_LOCK_KEY)})`.execute(trx);
      const staleBefore = sql<string>`now() - make_interval(secs => ${run.staleAfterMs / 1000})`;
      await trx
        .updateTable('maintenance_runs')
        .set({
          status: 'failed',
          finished_at: sql<string>`now()` as never,
          error: 'abandoned: the process running it stopped before it finished',
        })
        .where('kind', '=', run.kind)
        .where('status', '=', 'running')
        .where('started_at', '<', staleBefore)
        .execute();
      let busy = trx
        .selectFrom('maintenance_runs')
        .select('id')
        .where('kind', '=', run.kind)
        .where('dry_run', '=', false);
      busy =
        run.notStartedSince === undefined
          ? busy.where('status', '=', 'running')
          : busy.where((eb) =>
              eb.or([eb('status', '=', 'running'), eb('started_at', '>', run.notStartedSince!)]),
            );
      if (!run.dryRun && (await busy.limit(1).executeTakeFirst())) return undefined;
      const row = await trx
        .insertInto('maintenance_runs')
        .values({ kind: run.kind, trigger: run.trigger, dry_run: run.dryRun })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRun(row);
    });
  }

  async finishRun(id: string, outcome: { status: MaintenanceStatus; result: object; error?: string }) {
    await this.#db
      .updateTable('maintenance_runs')
      .set({
        status: outcome.status,
        finished_at: sql<string>`now()` as never,
        result: sql<string>`${JSON.stringify(outcome.result)}::text::jsonb` as never,
        error: outcome.error ?? null,
      })
      .where('id', '=', id)
      .execute();
  }

  async runs(kind: string, limit: number): Promise<MaintenanceRun[]> {
    const rows = await this.#db
      .selectFrom('maintenance_runs')
      .selectAll()
      .where('kind', '=', kind)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toRun);
  }

  async countDeletedBefore(before: string): Promise<number> {
    const result = await sql<{ n: string }>`
      select count(*) as n from thread_tracking where status = 'deleted' and updated_at < ${before}`.execute(
      this.#db,
    );
    return count(result.rows);
  }

  async purgeDeletedBefore(before: string, limit: number): Promise<PurgedThread[]> {
    const result = await sql<{
      user_id: string;
      thread_id: string;
      updated_at: string;
      ev_id: string;
      ev_type: string;
      ev_data: Record<string, unknown>;
      ev_created_at: string;
    }>`
      with victims as (
        select id from thread_tracking
        where status = 'deleted' and updated_at < ${before}
        order by updated_at
        limit ${limit}
        for update skip locked
      ),
      t as (
        delete from thread_tracking tt using victims v
        where tt.id = v.id and tt.status = 'deleted' and tt.updated_at < ${before}
        returning tt.user_id, tt.thread_id, tt.updated_at
      ),
      e as (
        insert into thread_events (user_id, thread_id, type, data)
        select t.user_id, t.thread_id, 'purged',
          jsonb_build_object('reason', 'cleanup', 'deletedBefore', ${before}::text)
        from t
        returning *
      )
      select t.user_id, t.thread_id, t.updated_at,
        e.id as ev_id, e.type as ev_type, e.data as ev_data, e.created_at as ev_created_at
      from t join e on e.user_id = t.user_id and e.thread_id = t.thread_id`.execute(this.#db);
    return result.rows.map((row) => ({
      userId: row.user_id,
      threadId: row.thread_id,
      updatedAt: pgTimestampToIso(row.updated_at) ?? '',
      event: rowToEvent({
        id: row.ev_id,
        user_id: row.user_id,
        thread_id: row.thread_id,
        type: row.ev_type,
        data: row.ev_data,
        op_id: null,
        created_at: row.ev_created_at,
      }),
    }));
  }

  async countEventsBefore(before: string): Promise<number> {
    const result = await sql<{ n: string }>`
      select count(*) as n from thread_events where created_at < ${before}`.execute(this.#db);
    return count(result.rows);
  }

  async deleteEventsBefore(before: string, limit: number): Promise<number> {
    const result = await sql`
      delete from thread_events where id in (
        select id from thread_events where created_at < ${before} order by id limit ${limit}
      )`.execute(this.#db);
    return Number(result.numAffectedRows ?? 0);
  }

  async countIdempotencyKeysBefore(before: string): Promise<number> {
    const result = await sql<{ n: string }>`
      select count(*) as n from idempotency_keys where created_at < ${before}`.execute(this.#db);
    return count(result.rows);
  }

  async liveThreadIds(userId: string, afterThreadId: string | undefined, limit: number): Promise<string[]> {
    let qb = this.#db
      .selectFrom('thread_tracking')
      .select('thread_id')
      .where('user_id', '=', userId)
      .where(sql<boolean>`status is distinct from 'deleted'`);
    if (afterThreadId !== undefined) qb = qb.where('thread_id', '>', afterThreadId);
    const rows = await qb.orderBy('thread_id').limit(limit).execute();
    return rows.map((r) => r.thread_id);
  }
}
