/**
 * The thread record: every column of thread_tracking, camelCase, as export writes it and import reads it (also the
 * format of the old in-memory tracker's data, whose field names may be snake_case or camelCase).
 *
 * Values are kept exactly as stored (a NULL stays null; timestamps are ISO 8601 with microseconds), so an export
 * imported into an empty database gives identical rows. Records from elsewhere may leave fields out: a missing
 * field takes the column's default (`now` for created/updated times), never the value of another record.
 */
import { z } from 'zod';
import {
  EMAIL_TYPES,
  emailAddress,
  isStorableDateTime,
  safeText,
  THREAD_STATUSES,
  type Thread,
  threadIdSchema,
  userIdSchema,
  uuidSchema,
} from './thread.ts';

/** Columns the table allows to be NULL that the Thread type fills with a default. */
type NullableInTable =
  | 'status'
  | 'participants'
  | 'messageCount'
  | 'aiGenerated'
  | 'followupScheduled'
  | 'followupCount'
  | 'createdAt'
  | 'updatedAt';

/** A thread as stored: the Thread type, but NULL where the table has NULL. */
export type ThreadRecord = Omit<Thread, NullableInTable> & { [K in NullableInTable]: Thread[K] | null };

export type ThreadRecordField = keyof ThreadRecord;

/** Every field, in the table's column order (the CSV header). */
export const THREAD_RECORD_FIELDS = [
  'id',
  'userId',
  'threadId',
  'leadId',
  'tracked',
  'hidden',
  'systemGenerated',
  'emailType',
  'status',
  'subject',
  'participants',
  'messageCount',
  'lastActivity',
  'aiGenerated',
  'followupScheduled',
  'followupScheduledAt',
  'followupCount',
  'openRate',
  'replyRate',
  'responseTimeHours',
  'createdAt',
  'updatedAt',
  'hiddenAt',
  'archivedAt',
] as const satisfies readonly ThreadRecordField[];

type FieldKind = 'text' | 'boolean' | 'integer' | 'number' | 'timestamp' | 'list';

const KIND_OF: Record<ThreadRecordField, FieldKind> = {
  id: 'text',
  userId: 'text',
  threadId: 'text',
  leadId: 'text',
  tracked: 'boolean',
  hidden: 'boolean',
  systemGenerated: 'boolean',
  emailType: 'text',
  status: 'text',
  subject: 'text',
  participants: 'list',
  messageCount: 'integer',
  lastActivity: 'timestamp',
  aiGenerated: 'boolean',
  followupScheduled: 'boolean',
  followupScheduledAt: 'timestamp',
  followupCount: 'integer',
  openRate: 'number',
  replyRate: 'number',
  responseTimeHours: 'integer',
  createdAt: 'timestamp',
  updatedAt: 'timestamp',
  hiddenAt: 'timestamp',
  archivedAt: 'timestamp',
};

const isField = (key: string): key is ThreadRecordField => Object.hasOwn(KIND_OF, key);

/** `thread_id`, `threadId`, `ThreadId` and `thread-id` all name the field `threadId`. */
export function normalizeFieldName(name: string): string {
  const trimmed = name.trim().replace(/^\uFEFF/, '');
  const camel = trimmed.replace(/[_-]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
  return camel.charAt(0).toLowerCase() + camel.slice(1);
}

// ---------------------------------------------------------------------------------------------------------------
// Values

/** PostgreSQL's text form (`2026-01-02 03:04:05.123456+00`) and ISO 8601 both become ISO 8601. */
const PG_OR_ISO = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|z|[+-]\d{2}(?::?\d{2})?)$/;

export function normalizeTimestamp(value: string): string {
  const match = PG_OR_ISO.exec(value.trim());
  if (!match) return value;
  const [, date, time, zone] = match;
  const offset =
    zone === 'Z' || zone === 'z'
      ? 'Z'
      : zone!.length === 3
        ? `${zone}:00`
        : zone!.includes(':')
          ? zone
          : `${zone!.slice(0, 3)}:${zone!.slice(3)}`;
  return `${date}T${time}${offset}`;
}

const timestamp = z
  .string()
  .transform(normalizeTimestamp)
  .pipe(z.iso.datetime({ offset: true }))
  .refine(isStorableDateTime, 'must be between the years 0001 and 9999 (UTC)');
const percentage = z.number().min(0).max(100);
const count = z.number().int().min(0).max(2_147_483_647);
/** `Ada <ada@example.com>` is the address ada@example.com. */
const participant = z
  .string()
  .transform((s) => /<([^<>\s]+@[^<>\s]+)>\s*$/.exec(s)?.[1] ?? s)
  .pipe(emailAddress);

const recordSchema = z.object({
  id: uuidSchema,
  userId: userIdSchema,
  threadId: threadIdSchema,
  leadId: uuidSchema.nullable(),
  tracked: z.boolean(),
  hidden: z.boolean(),
  systemGenerated: z.boolean(),
  emailType: z.enum(EMAIL_TYPES).nullable(),
  status: z.enum(THREAD_STATUSES).nullable(),
  subject: safeText(2000).nullable(),
  participants: z.array(participant).max(200).nullable(),
  messageCount: count.nullable(),
  lastActivity: timestamp.nullable(),
  aiGenerated: z.boolean().nullable(),
  followupScheduled: z.boolean().nullable(),
  followupScheduledAt: timestamp.nullable(),
  followupCount: count.nullable(),
  openRate: percentage.nullable(),
  replyRate: percentage.nullable(),
  responseTimeHours: count.nullable(),
  createdAt: timestamp.nullable(),
  updatedAt: timestamp.nullable(),
  hiddenAt: timestamp.nullable(),
  archivedAt: timestamp.nullable(),
});

/** A CSV cell is text; this reads it as the field's type. An empty cell is null. */
export function decodeCsvCell(field: string, cell: string): unknown {
  if (!isField(field)) return cell;
  const text = cell.trim();
  if (text === '') return null;
  switch (KIND_OF[field]) {
    case 'boolean': {
      const lower = text.toLowerCase();
      if (['true', 't', '1', 'yes', 'y'].includes(lower)) return true;
      if (['false', 'f', '0', 'no', 'n'].includes(lower)) return false;
      return cell;
    }
    case 'integer':
    case 'number':
      return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) ? Number(text) : cell;
    case 'list':
      if (text.startsWith('[')) {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return cell;
        }
      }
      // PostgreSQL's array text ({a,b}) or a list separated by ; or ,
      return text
        .replace(/^\{(.*)\}$/, '$1')
        .split(/[;,]/)
        .map((s) => s.trim().replace(/^"(.*)"$/, '$1'))
        .filter((s) => s !== '');
    default:
      return cell;
  }
}

/** A record's value as one CSV cell (the inverse of decodeCsvCell for every value export writes). */
export function encodeCsvCell(field: ThreadRecordField, value: unknown): string {
  if (value === null || value === undefined) return '';
  if (KIND_OF[field] === 'list') return JSON.stringify(value);
  return String(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

export interface RecordContext {
  /** The user of records that name none (the old tracker was single-user). */
  defaultUserId: string;
  /** The import's clock, ISO 8601: the default of created and updated times. */
  now: string;
  /** A fresh thread row id, for records that have none. */
  newId: () => string;
}

export type ParsedRecord =
  | {
      ok: true;
      record: ThreadRecord;
      /** The fields the source gave (with those that move with them): an existing thread changes only these. */
      fields: ThreadRecordField[];
      ignoredFields: string[];
    }
  | { ok: false; errors: string[]; ignoredFields: string[] };

/**
 * Validates one record from a file (any field naming; CSV cells already decoded) and fills what it leaves out.
 * Unknown fields are ignored and named in `ignoredFields`; every invalid field is named in `errors`.
 */
export function parseThreadRecord(raw: unknown, context: RecordContext): ParsedRecord {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, errors: ['a record must be an object'], ignoredFields: [] };
  }
  const given: Partial<Record<ThreadRecordField, unknown>> = {};
  const ignoredFields: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const name = normalizeFieldName(key);
    if (isField(name)) given[name] = value;
    else ignoredFields.push(key);
  }
  const has = (field: ThreadRecordField) => given[field] !== undefined;
  const createdAt = has('createdAt') ? given.createdAt : context.now;
  const candidate: Record<ThreadRecordField, unknown> = {
    id: has('id') ? given.id : context.newId(),
    userId: has('userId') && given.userId !== null ? given.userId : context.defaultUserId,
    threadId: given.threadId,
    leadId: given.leadId ?? null,
    tracked: has('tracked') ? given.tracked : true,
    hidden: has('hidden') ? given.hidden : false,
    systemGenerated: has('systemGenerated') ? given.systemGenerated : false,
    emailType: given.emailType ?? null,
    status: has('status') ? given.status : 'active',
    subject: given.subject ?? null,
    participants: has('participants') ? given.participants : [],
    messageCount: has('messageCount') ? given.messageCount : 1,
    lastActivity: has('lastActivity') ? given.lastActivity : (createdAt ?? context.now),
    aiGenerated: has('aiGenerated') ? given.aiGenerated : false,
    followupScheduled: has('followupScheduled')
      ? given.followupScheduled
      : given.followupScheduledAt !== undefined && given.followupScheduledAt !== null,
    followupScheduledAt: given.followupScheduledAt ?? null,
    followupCount: has('followupCount') ? given.followupCount : 0,
    openRate: given.openRate ?? null,
    replyRate: given.replyRate ?? null,
    responseTimeHours: given.responseTimeHours ?? null,
    createdAt,
    updatedAt: has('updatedAt') ? given.updatedAt : context.now,
    hiddenAt: given.hiddenAt ?? null,
    archivedAt: given.archivedAt ?? null,
  };
  const parsed = recordSchema.safeParse(candidate);
  // The table's CHECK, stated here so that it is reported with the record's other problems.
  const scheduleError =
    candidate.followupScheduled === true && candidate.followupScheduledAt === null
      ? ['followupScheduledAt: is required when followupScheduled is true']
      : [];
  if (parsed.success && scheduleError.length === 0) {
    const fields = THREAD_RECORD_FIELDS.filter(
      (field) => has(field) || (field === 'followupScheduled' && has('followupScheduledAt')),
    );
    return { ok: true, record: parsed.data as ThreadRecord, fields, ignoredFields };
  }
  // One message per field: the first thing wrong with it.
  const byField = new Map<string, string>();
  for (const issue of parsed.error?.issues ?? []) {
    const path = issue.path.join('.') || 'record';
    const field = String(issue.path[0] ?? '');
    const missing = issue.code === 'invalid_type' && candidate[field as ThreadRecordField] === undefined;
    if (!byField.has(path)) byField.set(path, `${path}: ${missing ? 'is required' : issue.message}`);
  }
  return { ok: false, errors: [...byField.values(), ...scheduleError], ignoredFields };
}
