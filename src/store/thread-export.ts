/**
 * Reading whole rows out: thread records for `export` (keyset pages in id order, never OFFSET, so memory stays flat
 * whatever the table's size) and the mapping between a row and a record, which keeps every value as stored (NULLs
 * stay null, timestamps keep their microseconds).
 */
import { type Kysely, type Selectable, sql } from 'kysely';
import type { EmailType, ThreadStatus } from '../domain/thread.ts';
import type { ThreadRecord, ThreadRecordField } from '../domain/thread-record.ts';
import type { ThreadExportStore } from '../ports/thread-archive.ts';
import { COLUMN_OF, pgTimestampToIso } from './row-mapper.ts';
import type { Database, ThreadTrackingTable } from './schema.ts';

type ThreadRow = Selectable<ThreadTrackingTable>;

/** Record field → column, for every column of thread_tracking. */
export const RECORD_COLUMN: Record<ThreadRecordField, keyof ThreadTrackingTable> = {
  id: 'id',
  userId: 'user_id',
  threadId: 'thread_id',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  ...COLUMN_OF,
};

const numberOrNull = (value: string | number | null) => (value === null ? null : Number(value));

export function rowToRecord(row: ThreadRow): ThreadRecord {
  return {
    id: row.id,
    userId: row.user_id,
    threadId: row.thread_id,
    leadId: row.lead_id,
    tracked: row.tracked,
    hidden: row.hidden,
    systemGenerated: row.system_generated,
    emailType: row.email_type as EmailType | null,
    status: row.status as ThreadStatus | null,
    subject: row.subject,
    participants: row.participants,
    messageCount: row.message_count,
    lastActivity: pgTimestampToIso(row.last_activity),
    aiGenerated: row.ai_generated,
    followupScheduled: row.followup_scheduled,
    followupScheduledAt: pgTimestampToIso(row.followup_scheduled_at),
    followupCount: row.followup_count,
    openRate: numberOrNull(row.open_rate),
    replyRate: numberOrNull(row.reply_rate),
    responseTimeHours: row.response_time_hours,
    createdAt: pgTimestampToIso(row.created_at),
    updatedAt: pgTimestampToIso(row.updated_at),
    hiddenAt: pgTimestampToIso(row.hidden_at),
    archivedAt: pgTimestampToIso(row.archived_at),
  };
}

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
