/**
 * Backups for rollbacks and disaster recovery: one NDJSON file holding leads, threads and their history as of one
 * moment, and the restore of such a file into an empty database.
 *
 * File layout, one JSON object per line:
 *   {"format":"thread-tracker-backup","version":1,"createdAt":…,"schemaVersion":N,"engine":…,"counts":{…}}
 *   {"table":"leads","row":{…}}            every row of leads, then thread_tracking, then thread_events
 *   {"end":true,"counts":{…}}              the same counts again: a file without it was cut short
 * A restore checks the header, that the database is empty, that the schema is at (or past) the backup's version,
 * and that the rows it read match the counts; anything else rolls the whole restore back.
 */
import { BACKUP_TABLES, type BackupStore, type BackupTable } from '../ports/thread-archive.ts';
import type { SourceRecord } from './thread-transfer.ts';

export const BACKUP_FORMAT = 'thread-tracker-backup';
export const BACKUP_VERSION = 1;
const PAGE_SIZE = 1000;
const RESTORE_BATCH = 500;

export type TableCounts = Record<BackupTable, number>;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  schemaVersion: number;
  engine: string;
  counts: TableCounts;
}

export async function writeBackup(
  store: BackupStore,
  write: (line: string) => Promise<void>,
  meta: { createdAt: string; schemaVersion: number; engine: string },
): Promise<TableCounts> {
  return store.snapshot(async (reader) => {
    const counts = Object.fromEntries(
      await Promise.all(BACKUP_TABLES.map(async (t) => [t, await reader.count(t)] as const)),
    ) as TableCounts;
    const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, ...meta, counts };
    await write(`${JSON.stringify(header)}\n`);
    for (const table of BACKUP_TABLES) {
      for await (const page of reader.rows(table, PAGE_SIZE)) {
        await write(page.map((row) => `${JSON.stringify({ table, row })}\n`).join(''));
      }
    }
    await write(`${JSON.stringify({ end: true, counts })}\n`);
    return counts;
  });
}

export class RestoreError extends Error {}

export interface RestoreOptions {
  /** The schema version the database is at now. */
  schemaVersion: number;
  /** The newest schema version this build knows. */
  latestSchemaVersion: number;
  /** Brings an empty database's schema up to `version` (the backup's), before rows are written. */
  migrateTo: (version: number) => Promise<void>;
}

/**
 * Restores a backup (its lines, as read by the NDJSON reader) into an empty database; returns the rows restored
 * per table. Throws RestoreError, with nothing written, when the file or the database is not fit for it.
 */
export async function restoreBackup(
  store: BackupStore,
  lines: AsyncIterable<SourceRecord>,
  options: RestoreOptions,
): Promise<{ header: BackupHeader; counts: TableCounts }> {
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  const header = readHeader(first.done ? undefined : first.value);
  if (header.schemaVersion > options.latestSchemaVersion) {
    throw new RestoreError(
      `the backup was made at schema version ${header.schemaVersion}; this version of thread-tracker knows up to ${options.latestSchemaVersion}: restore it with the version that made it`,
    );
  }
  if (options.schemaVersion > 0) {
    const present = await store.counts();
    const rows = BACKUP_TABLES.filter((t) => present[t] > 0).map((t) => `${t}: ${present[t]} rows`);
    if (rows.length > 0)
      throw new RestoreError(`restore needs an empty database; this one has ${rows.join(', ')}`);
  }
  if (options.schemaVersion < header.schemaVersion) await options.migrateTo(header.schemaVersion);

  const counts = Object.fromEntries(BACKUP_TABLES.map((t) => [t, 0])) as TableCounts;
  await store.restore(async (writer) => {
    let table: BackupTable | undefined;
    let batch: Record<string, unknown>[] = [];
    const flush = async () => {
      if (table && batch.length > 0) await writer.write(table, batch);
      batch = [];
    };
    let ended = false;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const item = next.value;
      if ('error' in item) throw new RestoreError(`line ${item.line}: ${item.error}`);
      if (ended) throw new RestoreError(`line ${item.line}: unexpected data after the end of the backup`);
      const entry = item.value as { table?: unknown; row?: unknown; end?: unknown; counts?: unknown };
      if (entry.end === true) {
        await flush();
        ended = true;
        continue;
      }
      if (!BACKUP_TABLES.includes(entry.table as BackupTable) || typeof entry.row !== 'object' || !entry.row)
        throw new RestoreError(`line ${item.line}: not a row of a backed-up table`);
      const rowTable = entry.table as BackupTable;
      if (rowTable !== table) {
        await flush();
        if (table && BACKUP_TABLES.indexOf(rowTable) < BACKUP_TABLES.indexOf(table))
          throw new RestoreError(`line ${item.line}: ${rowTable} rows must come before ${table} rows`);
        table = rowTable;
      }
      batch.push(entry.row as Record<string, unknown>);
      counts[rowTable]++;
      if (batch.length >= RESTORE_BATCH) await flush();
    }
    if (!ended) throw new RestoreError('the backup is incomplete: its end line is missing (cut short?)');
    for (const t of BACKUP_TABLES) {
      if (counts[t] !== header.counts[t])
        throw new RestoreError(`the backup says ${header.counts[t]} ${t} rows but holds ${counts[t]}`);
    }
  });
  return { header, counts };
}

function readHeader(first: SourceRecord | undefined): BackupHeader {
  const header = first && 'value' in first ? (first.value as Partial<BackupHeader>) : undefined;
  if (header?.format !== BACKUP_FORMAT)
    throw new RestoreError('not a thread-tracker backup (the first line is not its header)');
  if (header.version !== BACKUP_VERSION)
    throw new RestoreError(`backup format version ${header.version} is not supported (expected 1)`);
  if (!Number.isInteger(header.schemaVersion) || typeof header.counts !== 'object')
    throw new RestoreError('the backup header is incomplete');
  return header as BackupHeader;
}
