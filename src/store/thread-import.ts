/**
 * Writing thread records as given (the import path): ids, created_at and updated_at are stored as they are in the
 * record, so an export imported into an empty database gives identical rows.
 *
 * A call is one transaction: the upserts and their `imported` events commit together or not at all. Records that
 * give the same fields share one statement. On a conflict on (user_id, thread_id) the row keeps its id and takes
 * the values of the fields the record gives, only when one of them differs: re-importing the same file changes
 * nothing, writes no event and leaves updated_at alone. A row that does change gets a new updated_at from the
 * table's trigger (updated_at is the row's version, which the cache relies on), not the one in the record.
 */
import { type Kysely, type SqlBool, sql } from 'kysely';
import type { ThreadImport, ThreadImportCounts, ThreadImportStore } from '../ports/thread-archive.ts';
import type { Database } from './schema.ts';
import { RECORD_COLUMN } from './thread-export.ts';

/** Never replaced on a conflict: the row's identity and its version. */
const KEPT = new Set(['id', 'user_id', 'thread_id', 'updated_at']);

const ROLLBACK = new Error('dry run: rolled back');

export class KyselyThreadImporter implements ThreadImportStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async importThreads(
    imports: ThreadImport[],
    options: { dryRun?: boolean } = {},
  ): Promise<ThreadImportCounts> {
    const total: ThreadImportCounts = { created: 0, updated: 0, unchanged: 0 };
    if (imports.length === 0) return total;
    const groups = new Map<string, ThreadImport[]>();
    for (const item of imports) {
      const signature = item.fields.join(',');
      const group = groups.get(signature);
      if (group) group.push(item);
      else groups.set(signature, [item]);
    }
    const writeAll = async (db: Kysely<Database>) => {
      for (const group of groups.values()) {
        const counts = await this.#write(db, group);
        total.created += counts.created;
        total.updated += counts.updated;
        total.unchanged += counts.unchanged;
      }
    };
    if (groups.size === 1 && !options.dryRun) {
      await writeAll(this.#db);
      return total;
    }
    try {
      await this.#db.transaction().execute(async (trx) => {
        await writeAll(trx);
        if (options.dryRun) throw ROLLBACK;
      });
    } catch (error) {
      if (error !== ROLLBACK) throw error;
    }
    return total;
  }

  /** One statement for records that give the same fields. */
  async #write(db: Kysely<Database>, group: ThreadImport[]): Promise<ThreadImportCounts> {
    const rows = group.map(({ record }) => {
      const row: Record<string, unknown> = {};
      for (const [field, column] of Object.entries(RECORD_COLUMN))
        row[column] = record[field as keyof typeof RECORD_COLUMN];
      return row;
    });
    const replaced = group[0]!.fields.map((field) => RECORD_COLUMN[field]).filter((c) => !KEPT.has(c));
    const upsert = db
      .insertInto('thread_tracking')
      .values(rows as never)
      .onConflict((oc) => {
        const target = oc.constraint('unique_user_thread');
        if (replaced.length === 0) return target.doNothing();
        const changed = sql<SqlBool>`(${sql.join(replaced.map((c) => sql.ref(`thread_tracking.${c}`)))}) is distinct from (${sql.join(replaced.map((c) => sql.ref(`excluded.${c}`)))})`;
        return target
          .doUpdateSet(Object.fromEntries(replaced.map((c) => [c, sql.ref(`excluded.${c}`)])) as never)
          .where(changed);
      })
      .returning(['user_id', 'thread_id', sql<boolean>`(xmax = 0)`.as('inserted')]);
    const result = await sql<{ created: string; updated: string }>`
      with t as (${upsert}),
      e as (
        insert into thread_events (user_id, thread_id, type, data)
        select t.user_id, t.thread_id, 'imported', jsonb_build_object('created', t.inserted) from t
      )
      select count(*) filter (where t.inserted) as created, count(*) filter (where not t.inserted) as updated
      from t`.execute(db);
    const created = Number(result.rows[0]?.created ?? 0);
    const updated = Number(result.rows[0]?.updated ?? 0);
    return { created, updated, unchanged: group.length - created - updated };
  }
}
