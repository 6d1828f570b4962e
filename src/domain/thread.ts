/**
 * Thread types and the zod schemas that validate every input reaching the service. The same schemas generate the
 * OpenAPI document, so what is documented is exactly what is accepted.
 *
 * Timestamps travel as ISO 8601 strings with microsecond precision (as PostgreSQL stores them), never as Date:
 * a Date drops microseconds, and a keyset cursor built from one would skip or repeat rows.
 */
import { z } from 'zod';

export const THREAD_STATUSES = ['active', 'archived', 'deleted', 'spam'] as const;
export const EMAIL_TYPES = ['application', 'followup', 'manual', 'auto_followup'] as const;

export type ThreadStatus = (typeof THREAD_STATUSES)[number];
export type EmailType = (typeof EMAIL_TYPES)[number];

export const THREAD_EVENT_TYPES = [
  'created',
  'upserted',
  'updated',
  'hidden',
  'unhidden',
  'archived',
  'unarchived',
  'marked_system_generated',
  'followup_scheduled',
  'followup_cancelled',
  'followup_count_incremented',
  'deleted',
  'purged',
  'journal_conflict',
  // Written as given by `thread-tracker import` (the thread came from a file).
  'imported',
  // Recorded by mail sync, once per message.
  'reply_detected',
  'auto_reply_received',
  'bounce_received',
  // Recorded by the follow-up engine (README: Follow-ups).
  'followup_sent',
  'followup_drafted',
  'followup_skipped',
  'followup_failed',
  'followup_opened',
] as const;
export type ThreadEventType = (typeof THREAD_EVENT_TYPES)[number];

/** A thread as the product sees it (camelCase; the table is snake_case, mapped in one place in the store). */
export interface Thread {
  id: string;
  userId: string;
  threadId: string;
  leadId: string | null;
  tracked: boolean;
  hidden: boolean;
  systemGenerated: boolean;
  emailType: EmailType | null;
  status: ThreadStatus;
  subject: string | null;
  participants: string[];
  messageCount: number;
  lastActivity: string | null;
  aiGenerated: boolean;
  followupScheduled: boolean;
  followupScheduledAt: string | null;
  followupCount: number;
  openRate: number | null;
  replyRate: number | null;
  responseTimeHours: number | null;
  createdAt: string;
  updatedAt: string;
  hiddenAt: string | null;
  archivedAt: string | null;
}

export interface ThreadEvent {
  id: string;
  userId: string;
  threadId: string;
  type: ThreadEventType;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface Lead {
  id: string;
  userId: string;
  name: string | null;
  email: string | null;
  company: string | null;
  createdAt: string;
  updatedAt: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Scalar schemas. Every free-text field refuses NUL (PostgreSQL cannot store it) and lone UTF-16 surrogates (they
// would be silently replaced by U+FFFD on the way to the database, so what is stored would not be what was sent).

const LONE_SURROGATE = /\p{Surrogate}/u;

export const safeText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be valid Unicode (no lone surrogates)');

/** Gmail thread ids are hex; IMAP-derived ids are prefixed (`imap:...`). Path-safe characters only. */
export const threadIdSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._~:@+=-]+$/, 'may contain only letters, digits and . _ ~ : @ + = -');

export const userIdSchema = safeText(255).min(1);

export const uuidSchema = z.uuid();

/** Whether an ISO date-time falls in years 0001..9999 once in UTC (PostgreSQL refuses year 0000; 5-digit years
 * and BC dates would not round-trip as ISO 8601). */
export function isStorableDateTime(value: string): boolean {
  const year = new Date(value).getUTCFullYear();
  return year >= 1 && year <= 9999;
}

export const isoDateTime = z.iso
  .datetime({ offset: true, precision: undefined })
  .refine(isStorableDateTime, 'must be between the years 0001 and 9999 (UTC)')
  .describe('ISO 8601 date-time with a time zone, e.g. 2026-12-03T14:00:00Z');

/** Email addresses are kept lower-cased so that search, lead matching and participant filters agree. */
export const emailAddress = safeText(320)
  .trim()
  .toLowerCase()
  .refine((s) => /^[^\s@]+@[^\s@]+$/.test(s), 'must be an email address');

const percentage = z.number().min(0).max(100).describe('A percentage, 0 to 100, two decimals kept');
const nonNegativeInt = z.number().int().min(0).max(2_147_483_647);

export const threadStatusSchema = z.enum(THREAD_STATUSES);
export const emailTypeSchema = z.enum(EMAIL_TYPES);

// ---------------------------------------------------------------------------------------------------------------
// Inputs

/** Fields a client may set when creating a thread. */
export const threadCreateSchema = z.strictObject({
  threadId: threadIdSchema,
  leadId: uuidSchema.nullable().optional(),
  tracked: z.boolean().optional(),
  hidden: z.boolean().optional(),
  systemGenerated: z.boolean().optional(),
  emailType: emailTypeSchema.nullable().optional(),
  status: threadStatusSchema.optional(),
  subject: safeText(2000).nullable().optional(),
  participants: z.array(emailAddress).max(200).optional(),
  messageCount: nonNegativeInt.optional(),
  lastActivity: isoDateTime.nullable().optional(),
  aiGenerated: z.boolean().optional(),
  followupScheduledAt: isoDateTime.nullable().optional(),
  followupCount: nonNegativeInt.optional(),
  openRate: percentage.nullable().optional(),
  replyRate: percentage.nullable().optional(),
  responseTimeHours: nonNegativeInt.nullable().optional(),
});
export type ThreadCreate = z.infer<typeof threadCreateSchema>;

/**
 * The allow-list of fields updateThread may change. Identity (id, userId, threadId), audit timestamps and the
 * fields owned by dedicated operations (hidden, systemGenerated, follow-up schedule and count) are not in it.
 */
export const threadPatchSchema = threadCreateSchema
  .omit({
    threadId: true,
    hidden: true,
    systemGenerated: true,
    followupScheduledAt: true,
    followupCount: true,
  })
  .refine((patch) => Object.keys(patch).length > 0, 'at least one field is required');
export type ThreadPatch = z.infer<typeof threadPatchSchema>;

export const THREAD_SORTS = ['lastActivity', 'createdAt'] as const;
export type ThreadSort = (typeof THREAD_SORTS)[number];

const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

/** Query string of the thread list. Everything optional; the default is every thread that is not deleted. */
export const threadQuerySchema = z.strictObject({
  status: threadStatusSchema.optional(),
  hidden: booleanQuery.optional(),
  systemGenerated: booleanQuery.optional(),
  tracked: booleanQuery.optional(),
  emailType: emailTypeSchema.optional(),
  leadId: uuidSchema.optional(),
  q: safeText(200).trim().min(1).optional().describe('Text search over subject and participants'),
  lastActivityFrom: isoDateTime.optional(),
  lastActivityTo: isoDateTime.optional(),
  sort: z.enum(THREAD_SORTS).default('lastActivity'),
  order: z.enum(['desc', 'asc']).default('desc'),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional(),
});
export type ThreadQuery = z.output<typeof threadQuerySchema>;
export type ThreadQueryInput = z.input<typeof threadQuerySchema>;

export interface ThreadPage {
  items: Thread[];
  nextCursor: string | null;
}

export const leadCreateSchema = z.strictObject({
  name: safeText(300).nullable().optional(),
  email: emailAddress.nullable().optional(),
  company: safeText(300).nullable().optional(),
});
export type LeadCreate = z.infer<typeof leadCreateSchema>;
export const leadPatchSchema = leadCreateSchema.refine(
  (patch) => Object.keys(patch).length > 0,
  'at least one field is required',
);
export type LeadPatch = z.infer<typeof leadPatchSchema>;

export const analyticsQuerySchema = z.strictObject({
  from: isoDateTime.optional(),
  to: isoDateTime.optional(),
  tz: safeText(64).refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Paris').default('UTC'),
});
export type AnalyticsQuery = z.output<typeof analyticsQuerySchema>;

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
