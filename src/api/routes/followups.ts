/**
 * The follow-up engine's routes under /api/v1: the schedule (what goes out, when and why), a preview of the next
 * follow-up of a thread, the caller's policy and templates.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { followupTemplateSchema, followupTemplatesSchema } from '../../domain/followup-draft.ts';
import { DRAFTER_CHOICES, FOLLOWUP_MODES, followupPolicyInputSchema } from '../../domain/followup-policy.ts';
import type { FollowupService } from '../../service/followup-service.ts';
import { errorResponses, threadParams } from '../schemas.ts';

const timestamp = z.string().describe('ISO 8601, UTC');

const scheduledFollowupSchema = z
  .object({
    threadId: z.string(),
    subject: z.string().nullable(),
    participants: z.array(z.string()),
    scheduledAt: timestamp,
    sendsAt: timestamp.describe('The earliest moment it goes out: the next send-window slot'),
    due: z
      .boolean()
      .describe('Its time has come (it goes out at the next worker pass inside the send window)'),
    followupCount: z.number().int().describe('Follow-ups already sent in the thread'),
    reason: z.string().describe('Why and when it goes out, in one sentence'),
  })
  .meta({ id: 'ScheduledFollowup' });

const policySchema = z
  .object({
    autoSchedule: z.boolean(),
    mode: z.enum(FOLLOWUP_MODES),
    delaysBusinessDays: z.array(z.number().int()),
    maxFollowups: z.number().int(),
    timeZone: z.string(),
    businessDays: z.array(z.number().int()),
    sendWindow: z.object({ start: z.string(), end: z.string() }),
    holidays: z.array(z.string()),
    dailyCap: z.number().int(),
    openTracking: z.boolean(),
    drafter: z.enum(DRAFTER_CHOICES),
    senderName: z.string().nullable(),
    autoScheduleSince: timestamp.nullable(),
    updatedAt: timestamp.nullable(),
  })
  .meta({ id: 'FollowupPolicy' });

const previewSchema = z
  .object({ subject: z.string(), body: z.string(), drafter: z.enum(['openai', 'template']) })
  .meta({ id: 'FollowupPreview' });

const templatesResponse = z
  .object({ templates: z.array(followupTemplateSchema) })
  .meta({ id: 'FollowupTemplates' });

export function followupRoutes(followups: FollowupService) {
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['follow-ups'];
    r.get(
      '/followups',
      {
        schema: {
          tags,
          summary: 'Scheduled follow-ups: what will go out, when, and why',
          response: { 200: z.object({ items: z.array(scheduledFollowupSchema) }), ...errorResponses },
        },
      },
      async (request) => followups.list(request.principal.userId),
    );
    r.post(
      '/threads/:threadId/followup/preview',
      {
        schema: {
          tags,
          summary: 'Draft the next follow-up of a thread without sending anything',
          params: threadParams,
          body: z.strictObject({}).nullish(),
          response: { 200: previewSchema, ...errorResponses },
        },
      },
      async (request) => followups.preview(request.principal.userId, request.params.threadId),
    );
    r.get(
      '/followups/policy',
      {
        schema: {
          tags,
          summary: 'Your follow-up policy',
          response: { 200: policySchema, ...errorResponses },
        },
      },
      async (request) => followups.getPolicy(request.principal.userId),
    );
    r.put(
      '/followups/policy',
      {
        schema: {
          tags,
          summary: 'Replace your follow-up policy (fields left out take their defaults)',
          body: followupPolicyInputSchema,
          response: { 200: policySchema, ...errorResponses },
        },
      },
      async (request) => followups.putPolicy(request.principal.userId, request.body),
    );
    r.get(
      '/followups/templates',
      {
        schema: {
          tags,
          summary: 'Your follow-up templates',
          response: { 200: templatesResponse, ...errorResponses },
        },
      },
      async (request) => followups.getTemplates(request.principal.userId),
    );
    r.put(
      '/followups/templates',
      {
        schema: {
          tags,
          summary: 'Replace your follow-up templates',
          body: followupTemplatesSchema,
          response: { 200: templatesResponse, ...errorResponses },
        },
      },
      async (request) => followups.putTemplates(request.principal.userId, request.body.templates),
    );
  };
}
