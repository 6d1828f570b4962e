/**
 * Whole-row access for moving data in and out: export, import (the migration from the old tracker), backup and
 * restore. Unlike the ThreadRepository, rows are written exactly as given, ids and timestamps included, so that
 * what was exported comes back identical.
 */
import type { ThreadRecord, ThreadRecordField } from '../domain/thread-record.ts';

export interface ThreadImportCounts {
  created: number;
  updated: number;
  unchanged: number;
}

export interface ThreadExportStore {
  /** Up to `limit` threads after `afterId`, in id order, of one user or of all. */
  exportPage(query: { userId?: string; afterId?: string; limit: number }): Promise<ThreadRecord[]>;
  countThreads(userId?: string): Promise<number>;
}

/** A record to import, and the fields its source gave: an existing thread changes only in those. */
export interface ThreadImport {
  record: ThreadRecord;
  fields: readonly ThreadRecordField[];
}

export interface ThreadImportStore {
  /**
   * Inserts each record as given, or, when (user_id, thread_id) exists, replaces the fields the record gives if any
   * of them differs (the row keeps its id; its updated_at becomes the time of the change, as it is the row's
   * version). One transaction per call, with one `imported` event per thread written. `dryRun` does all of it in a
   * transaction that is rolled back.
   */
  importThreads(imports: ThreadImport[], options?: { dryRun?: boolean }): Promise<ThreadImportCounts>;
}

/** Tables of a backup, in the order they are restored (a thread may name a lead; events name threads by id). */
export const BACKUP_TABLES = ['leads', 'thread_tracking', 'thread_events'] as const;
export type BackupTable = (typeof BACKUP_TABLES)[number];

/** A row of a backed-up table: column name → value as JSON (timestamps as ISO 8601 text). */
export type BackupRow = Record<string, unknown>;

export interface BackupReader {
  /** Every row of `table` in primary key order, a page at a time, all from the same snapshot. */
  rows(table: BackupTable, pageSize: number): AsyncIterable<BackupRow[]>;
  count(table: BackupTable): Promise<number>;
}

export interface BackupWriter {
  write(table: BackupTable, rows: BackupRow[]): Promise<void>;
}

export interface BackupStore {
  /** Runs `read` in one read-only REPEATABLE READ transaction: every table as of one moment. */
  snapshot<T>(read: (reader: BackupReader) => Promise<T>): Promise<T>;
  /**
   * Runs `write` in one transaction (the restore lands whole or not at all) and then moves the id sequences past
   * the restored ids.
   */
  restore<T>(write: (writer: BackupWriter) => Promise<T>): Promise<T>;
  /** Rows in each backed-up table (restore refuses a database that is not empty). */
  counts(): Promise<Record<BackupTable, number>>;
}
