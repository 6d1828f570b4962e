/**
 * The one place that converts between table rows (snake_case, PostgreSQL text timestamps, NUMERIC as text) and
 * domain objects. Timestamps become ISO 8601 with all six fractional digits, so they compare and round-trip exactly.
 */
import type { Selectable } from 'kysely';
import type { ThreadFields } from '../domain/commands.ts';
import type {
  EmailType,
  Lead,
  Thread,
  ThreadEvent,
  ThreadEventType,
  ThreadStatus,
} from '../domain/thread.ts';
import type { ThreadRecord } from '../domain/thread-record.ts';
import type { LeadsTable, ThreadEventsTable, ThreadTrackingTable } from './schema.ts';

export type ThreadRow = Selectable<ThreadTrackingTable>;
export type LeadRow = Selectable<LeadsTable>;
export type EventRow = Selectable<ThreadEventsTable>;

const PG_TIMESTAMP = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** PostgreSQL text ("2026-12-03 14:02:05.12+00", UTC session) → "2026-12-03T14:02:05.120000Z". */
export function pgTimestampToIso(value: string | Date | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return `${value.toISOString().slice(0, 23)}000Z`;
  const match = PG_TIMESTAMP.exec(value);
  if (!match) return value;
  const [, date, time, fraction = '', zone = 'Z'] = match;
  if (zone !== 'Z' && !/^\+00(:?00)?$/.test(zone)) {
    // Not UTC (should not happen: sessions are set to UTC). Normalize through Date, losing only sub-milliseconds.
    return `${new Date(`${date}T${time}.${fraction.padEnd(3, '0').slice(0, 3)}${zone}`).toISOString().slice(0, 23)}${fraction.padEnd(6, '0').slice(3, 6)}Z`;
  }
  return `${date}T${time}.${fraction.padEnd(6, '0')}Z`;
}

const toNumber = (value: string | number | null | undefined): number | null =>
  value === null || value === undefined ? null : Number(value);

/** A row as stored, NULL where the table has NULL (export, backup). */
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
    openRate: toNumber(row.open_rate),
    replyRate: toNumber(row.reply_rate),
    responseTimeHours: row.response_time_hours,
    createdAt: pgTimestampToIso(row.created_at),
    updatedAt: pgTimestampToIso(row.updated_at),
    hiddenAt: pgTimestampToIso(row.hidden_at),
    archivedAt: pgTimestampToIso(row.archived_at),
  };
}

/** A row as the service sees it: the stored record with the Thread type's defaults where the table has NULL. */
export function rowToThread(row: ThreadRow): Thread {
  const record = rowToRecord(row);
  return {
    ...record,
    status: record.status ?? 'active',
    participants: record.participants ?? [],
    messageCount: record.messageCount ?? 0,
    aiGenerated: record.aiGenerated ?? false,
    followupScheduled: record.followupScheduled ?? false,
    followupCount: record.followupCount ?? 0,
    createdAt: record.createdAt ?? '',
    updatedAt: record.updatedAt ?? '',
  };
}

export function rowToEvent(row: EventRow): ThreadEvent {
  return {
    id: String(row.id),
    userId: row.user_id,
    threadId: row.thread_id,
    type: row.type as ThreadEventType,
    data: typeof row.data === 'string' ? JSON.parse(row.data) : row.data,
    createdAt: pgTimestampToIso(row.created_at) ?? '',
  };
}

export function rowToLead(row: LeadRow): Lead {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    email: row.email,
    company: row.company,
    createdAt: pgTimestampToIso(row.created_at) ?? '',
    updatedAt: pgTimestampToIso(row.updated_at) ?? '',
  };
}

/** Domain field → column. Only fields a mutation may write are listed. */
export const COLUMN_OF = {
  leadId: 'lead_id',
  tracked: 'tracked',
  hidden: 'hidden',
  systemGenerated: 'system_generated',
  emailType: 'email_type',
  status: 'status',
  subject: 'subject',
  participants: 'participants',
  messageCount: 'message_count',
  lastActivity: 'last_activity',
  aiGenerated: 'ai_generated',
  followupScheduled: 'followup_scheduled',
  followupScheduledAt: 'followup_scheduled_at',
  followupCount: 'followup_count',
  openRate: 'open_rate',
  replyRate: 'reply_rate',
  responseTimeHours: 'response_time_hours',
  hiddenAt: 'hidden_at',
  archivedAt: 'archived_at',
} as const satisfies Record<keyof ThreadFields, keyof ThreadTrackingTable>;

export type WritableColumn = (typeof COLUMN_OF)[keyof typeof COLUMN_OF];

/** Domain fields → a row fragment for INSERT/UPDATE. Undefined fields are left out. */
export function fieldsToColumns(fields: ThreadFields): Partial<Record<WritableColumn, unknown>> {
  const out: Partial<Record<WritableColumn, unknown>> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const column = COLUMN_OF[key as keyof ThreadFields];
    if (column) out[column] = value;
  }
  return out;
}
