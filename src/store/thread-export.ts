/**
 * Reading whole rows out: thread records for `export` (keyset pages in id order, never OFFSET, so memory stays flat
 * whatever the table's size) and the mapping between a row and a record, which keeps every value as stored (NULLs
 * stay null, timestamps keep their microseconds).
 */
import { type Kysely, sql } from 'kysely';
import type { ThreadRecord, ThreadRecordField } from '../domain/thread-record.ts';
import type { ThreadExportStore } from '../ports/thread-archive.ts';
import { COLUMN_OF, rowToRecord } from './row-mapper.ts';
import type { Database, ThreadTrackingTable } from './schema.ts';

/** Record field → column, for every column of thread_tracking. */
export const RECORD_COLUMN: Record<ThreadRecordField, keyof ThreadTrackingTable> = {
  id: 'id',
  userId: 'user_id',
  threadId: 'thread_id',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  ...COLUMN_OF,
};

export class KyselyThreadExporter implements ThreadExportStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async exportPage(query: { userId?: string; afterId?: string; limit: number }): Promise<ThreadRecord[]> {
    let qb = this.#db.selectFrom('thread_tracking').selectAll();
    if (query.userId !== undefined) qb = qb.where('user_id', '=', query.userId);
    if (query.afterId !== undefined) qb = qb.where('id', '>', query.afterId);
    const rows = await qb.orderBy('id').limit(query.limit).execute();
    return rows.map(rowToRecord);
  }

  async countThreads(userId?: string): Promise<number> {
    let qb = this.#db.selectFrom('thread_tracking').select(sql<string>`count(*)`.as('n'));
    if (userId !== undefined) qb = qb.where('user_id', '=', userId);
    return Number((await qb.executeTakeFirstOrThrow()).n);
  }
}
