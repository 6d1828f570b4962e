/**
 * Response schemas, for the OpenAPI document. Requests are validated by the domain's input schemas; responses are
 * produced by typed mappers and serialized with JSON.stringify, so these describe rather than re-validate them.
 */
import { z } from 'zod';
import { EMAIL_TYPES, THREAD_EVENT_TYPES, THREAD_STATUSES, threadIdSchema } from '../domain/thread.ts';

const timestamp = z.string().describe('ISO 8601, UTC, microseconds');

export const threadSchema = z
  .object({
    id: z.uuid(),
    userId: z.string(),
    threadId: z.string(),
    leadId: z.uuid().nullable(),
    tracked: z.boolean(),
    hidden: z.boolean(),
    systemGenerated: z.boolean(),
    emailType: z.enum(EMAIL_TYPES).nullable(),
    status: z.enum(THREAD_STATUSES),
    subject: z.string().nullable(),
    participants: z.array(z.string()),
    messageCount: z.number().int(),
    lastActivity: timestamp.nullable(),
    aiGenerated: z.boolean(),
    followupScheduled: z.boolean(),
    followupScheduledAt: timestamp.nullable(),
    followupCount: z.number().int(),
    openRate: z.number().nullable(),
    replyRate: z.number().nullable(),
    responseTimeHours: z.number().int().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp.describe('Strictly increasing per thread: its version'),
    hiddenAt: timestamp.nullable(),
    archivedAt: timestamp.nullable(),
  })
  .meta({ id: 'Thread' });

export const threadPageSchema = z
  .object({
    items: z.array(threadSchema),
    nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  })
  .meta({ id: 'ThreadPage' });

export const threadEventSchema = z
  .object({
    id: z.string().describe('Increasing event id (a resume point)'),
    userId: z.string(),
    threadId: z.string(),
    type: z.enum(THREAD_EVENT_TYPES),
    data: z.record(z.string(), z.unknown()),
    createdAt: timestamp,
  })
  .meta({ id: 'ThreadEvent' });

export const leadSchema = z
  .object({
    id: z.uuid(),
    userId: z.string(),
    name: z.string().nullable(),
    email: z.string().nullable(),
    company: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Lead' });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('Stable error code, e.g. THREAD_NOT_FOUND'),
    instance: z.string().optional(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export const analyticsSchema = z
  .object({
    range: z.object({ from: z.string(), to: z.string(), tz: z.string() }),
    totals: z.record(z.string(), z.number()),
    byStatus: z.record(z.string(), z.number()),
    byEmailType: z.record(z.string(), z.number()),
    replyRate: z.number().nullable(),
    averageOpenRate: z.number().nullable(),
    averageReplyRate: z.number().nullable(),
    responseTimeHours: z.object({
      count: z.number(),
      median: z.number().nullable(),
      p90: z.number().nullable(),
      average: z.number().nullable(),
    }),
    replyRateByEmailType: z.array(z.record(z.string(), z.unknown())),
    replyRateByFollowupCount: z.array(z.record(z.string(), z.unknown())),
    responseTimeHistogram: z.array(z.object({ bucket: z.string(), count: z.number() })),
    daily: z.array(z.object({ date: z.string(), created: z.number(), lastActivity: z.number() })),
  })
  .meta({ id: 'ThreadAnalytics' });

export const threadParams = z.strictObject({ threadId: threadIdSchema });

const problems = {
  400: problemSchema,
  401: problemSchema,
  404: problemSchema,
  409: problemSchema,
  422: problemSchema,
};
export const errorResponses = problems;

/** Paging of thread_events by id. */
export const eventsQuery = z.strictObject({
  afterId: z
    .string()
    .regex(/^\d{1,19}$/, 'must be an event id')
    // Event ids are bigint: a larger number would reach the database as an out-of-range value.
    .refine((id) => !/^\d{19}$/.test(id) || id <= '9223372036854775807', 'must be an event id')
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
