/**
 * Backup and restore at the row level: every column of leads, thread_tracking and thread_events, as stored.
 * - A backup reads every table in one read-only REPEATABLE READ transaction, so the tables agree with each other
 *   (no event without its thread, no thread pointing at a lead that is not in the file) while the service keeps
 *   writing. Pages are keyset on the primary key, so memory stays flat.
 * - A restore writes in one transaction (whole or not at all), identity columns included (OVERRIDING SYSTEM VALUE),
 *   then moves the event id sequence past the restored ids so new events never collide with them.
 * Values travel as JSON: timestamps as ISO 8601 text with microseconds, bigints and NUMERIC as text, JSON as JSON.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type {
  BackupReader,
  BackupRow,
  BackupStore,
  BackupTable,
  BackupWriter,
} from '../ports/thread-archive.ts';
import { BACKUP_TABLES } from '../ports/thread-archive.ts';
import { pgTimestampToIso } from './row-mapper.ts';
import type { Database } from './schema.ts';

/** Bound parameters per INSERT stay well under PostgreSQL's limit of 65,535. */
const MAX_PARAMETERS = 20_000;

type ColumnTypes = Map<string, string>;

// biome-ignore lint/suspicious/noExplicitAny: the tables are addressed by name here, whatever their row types
type AnyDb = Kysely<any>;

async function columnTypesOf(db: AnyDb, table: BackupTable): Promise<ColumnTypes> {
  const result = await sql<{ column_name: string; data_type: string }>`
    select column_name, data_type from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}`.execute(db);
  return new Map(result.rows.map((r) => [r.column_name, r.data_type]));
}

const isTimestamp = (type: string | undefined) => type?.startsWith('timestamp') === true || type === 'date';
const isJson = (type: string | undefined) => type === 'jsonb' || type === 'json';

function toJsonRow(row: Record<string, unknown>, types: ColumnTypes): BackupRow {
  const out: BackupRow = {};
  for (const [column, value] of Object.entries(row)) {
    const type = types.get(column);
    if (value === null || value === undefined) out[column] = null;
    else if (typeof value === 'bigint') out[column] = value.toString();
    else if (isTimestamp(type)) out[column] = pgTimestampToIso(value as string | Date);
    else if (isJson(type) && typeof value === 'string') out[column] = JSON.parse(value);
    else out[column] = value;
  }
  return out;
}

function toParameter(value: unknown, type: string | undefined): unknown {
  // Through text: a parameter typed jsonb would be JSON-encoded a second time by postgres.js.
  if (isJson(type) && value !== null) return sql`${JSON.stringify(value)}::text::jsonb`;
  return value;
}

export class KyselyBackupStore implements BackupStore {
  readonly #db: AnyDb;

  constructor(db: Kysely<Database>) {
    this.#db = db as AnyDb;
  }

  snapshot<T>(read: (reader: BackupReader) => Promise<T>): Promise<T> {
    return this.#db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        await sql`set transaction read only`.execute(trx);
        return read({
          rows: (table, pageSize) => this.#pages(trx, table, pageSize),
          count: (table) => this.#count(trx, table),
        });
      });
  }

  async *#pages(db: AnyDb, table: BackupTable, pageSize: number): AsyncIterable<BackupRow[]> {
    const types = await columnTypesOf(db, table);
    let after: unknown;
    for (;;) {
      const where = after === undefined ? sql`` : sql`where id > ${after}`;
      const page = await sql<Record<string, unknown>>`
        select * from ${sql.table(table)} ${where} order by id limit ${pageSize}`.execute(db);
      if (page.rows.length === 0) return;
      yield page.rows.map((row) => toJsonRow(row, types));
      after = page.rows.at(-1)!.id;
      if (page.rows.length < pageSize) return;
    }
  }

  async #count(db: AnyDb, table: BackupTable): Promise<number> {
    const result = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(db);
    return Number(result.rows[0]?.n ?? 0);
  }

  async counts(): Promise<Record<BackupTable, number>> {
    const entries = await Promise.all(
      BACKUP_TABLES.map(async (table) => [table, await this.#count(this.#db, table)] as const),
    );
    return Object.fromEntries(entries) as Record<BackupTable, number>;
  }

  restore<T>(write: (writer: BackupWriter) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute(async (trx) => {
      const types = new Map<BackupTable, ColumnTypes>();
      const result = await write({
        write: async (table, rows) => {
          if (rows.length === 0) return;
          let columnTypes = types.get(table);
          if (!columnTypes) {
            columnTypes = await columnTypesOf(trx, table);
            types.set(table, columnTypes);
          }
          await insertRows(trx, table, rows, columnTypes);
        },
      });
      await sql`
        select setval(pg_get_serial_sequence('thread_events', 'id'), coalesce(max(id), 0) + 1, false)
        from thread_events`.execute(trx);
      return result;
    });
  }
}

async function insertRows(db: AnyDb, table: BackupTable, rows: BackupRow[], types: ColumnTypes) {
  const columns = Object.keys(rows[0]!);
  const unknown = columns.filter((c) => !types.has(c));
  if (unknown.length > 0) {
    throw new Error(
      `the backup has ${unknown.map((c) => `${table}.${c}`).join(', ')}, which this database does not have`,
    );
  }
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  for (let start = 0; start < rows.length; start += perStatement) {
    const values: RawBuilder<unknown>[] = rows
      .slice(start, start + perStatement)
      .map((row) => sql`(${sql.join(columns.map((c) => toParameter(row[c] ?? null, types.get(c))))})`);
    await sql`
      insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))})
      overriding system value values ${sql.join(values)}`.execute(db);
  }
}
