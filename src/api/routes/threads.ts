/** Thread routes under /api/v1. Handlers only translate HTTP to service calls; rules live in the service. */
import type { FastifyInstance } from 'fastify';
import '../plugins/auth.ts';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  analyticsQuerySchema,
  emailTypeSchema,
  isoDateTime,
  threadCreateSchema,
  threadIdSchema,
  threadPatchSchema,
  threadQuerySchema,
} from '../../domain/thread.ts';
import type { ThreadTrackingService } from '../../service/thread-tracking-service.ts';
import {
  analyticsSchema,
  errorResponses,
  eventsQuery,
  threadEventSchema,
  threadPageSchema,
  threadParams,
  threadSchema,
} from '../schemas.ts';
import { sendJson } from '../send-json.ts';
import { writeOptions } from '../write-options.ts';

const emptyBody = z.strictObject({}).nullish();

export async function threadRoutes(app: FastifyInstance, opts: { service: ThreadTrackingService }) {
  const { service } = opts;
  const r = app.withTypeProvider<ZodTypeProvider>();
  const batchSize = service.config.batchSize;
  const tags = ['threads'];

  r.get(
    '/threads',
    {
      schema: {
        tags,
        summary: 'List threads (keyset pages)',
        querystring: threadQuerySchema,
        response: { 200: threadPageSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await service.listThreadsResult(request.principal.userId, request.query);
      return sendJson(reply, result);
    },
  );

  r.get(
    '/hidden-threads',
    {
      schema: {
        tags,
        summary: 'List hidden threads',
        querystring: threadQuerySchema.omit({ hidden: true }),
        response: { 200: threadPageSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await service.listThreadsResult(request.principal.userId, {
        ...request.query,
        hidden: true,
      });
      return sendJson(reply, result);
    },
  );

  r.get(
    '/system-generated-threads',
    {
      schema: {
        tags,
        summary: 'List threads the system started',
        querystring: threadQuerySchema.omit({ systemGenerated: true }),
        response: { 200: threadPageSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await service.listThreadsResult(request.principal.userId, {
        ...request.query,
        systemGenerated: true,
      });
      return sendJson(reply, result);
    },
  );

  r.post(
    '/threads',
    {
      schema: {
        tags,
        summary: 'Start tracking a thread (409 when already tracked)',
        body: threadCreateSchema,
        response: { 201: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const thread = await service.createThread(
        request.principal.userId,
        request.body,
        writeOptions(request, reply, 201),
      );
      return reply.status(201).header('location', `/api/v1/threads/${thread.threadId}`).send(thread);
    },
  );

  r.post(
    '/threads/batch',
    {
      schema: {
        tags,
        summary: `Insert or update up to ${batchSize} threads in one transaction`,
        body: z.strictObject({ threads: z.array(threadCreateSchema).min(1).max(batchSize) }),
        response: {
          200: z.object({
            created: z.number(),
            updated: z.number(),
            unchanged: z.number(),
            threads: z.array(threadSchema),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      service.batchUpsert(request.principal.userId, request.body.threads, writeOptions(request, reply, 200)),
  );

  r.post(
    '/threads/bulk',
    {
      schema: {
        tags,
        summary: 'Hide, unhide, archive or unarchive many threads in one transaction',
        body: z.strictObject({
          action: z.enum(['hide', 'unhide', 'archive', 'unarchive']),
          threadIds: z.array(threadIdSchema).min(1).max(batchSize),
        }),
        response: {
          200: z.object({ updated: z.array(threadSchema), notFound: z.array(z.string()) }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      service.bulkAction(
        request.principal.userId,
        request.body.action,
        request.body.threadIds,
        writeOptions(request, reply, 200),
      ),
  );

  r.get(
    '/threads/:threadId',
    {
      schema: {
        tags,
        summary: 'Get one thread',
        params: threadParams,
        response: { 200: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await service.getThreadResult(request.principal.userId, request.params.threadId);
      return sendJson(reply, result);
    },
  );

  r.put(
    '/threads/:threadId',
    {
      schema: {
        tags,
        summary: 'Create or update a thread (only the given fields change on update)',
        params: threadParams,
        body: threadCreateSchema.omit({ threadId: true }),
        response: { 200: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      service.createThread(
        request.principal.userId,
        { ...request.body, threadId: request.params.threadId },
        { ...writeOptions(request, reply, 200), upsert: true },
      ),
  );

  r.patch(
    '/threads/:threadId',
    {
      schema: {
        tags,
        summary: 'Update allowed fields of a thread',
        params: threadParams,
        body: threadPatchSchema,
        response: { 200: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      service.updateThread(
        request.principal.userId,
        request.params.threadId,
        request.body,
        writeOptions(request, reply, 200),
      ),
  );

  r.delete(
    '/threads/:threadId',
    {
      schema: {
        tags,
        summary: 'Delete a thread: status "deleted", or removed with purge=true (its history stays)',
        params: threadParams,
        querystring: z.strictObject({ purge: z.enum(['true', 'false']).default('false') }),
        response: { 200: threadSchema, 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const purge = request.query.purge === 'true';
      const thread = await service.deleteThread(request.principal.userId, request.params.threadId, {
        ...writeOptions(request, reply, purge ? 204 : 200),
        purge,
      });
      return purge ? reply.status(204).send(null) : thread;
    },
  );

  const actions = {
    hide: (u: string, t: string, o: ReturnType<typeof writeOptions>) => service.hideThread(u, t, o),
    unhide: (u: string, t: string, o: ReturnType<typeof writeOptions>) => service.unhideThread(u, t, o),
    archive: (u: string, t: string, o: ReturnType<typeof writeOptions>) => service.archiveThread(u, t, o),
    unarchive: (u: string, t: string, o: ReturnType<typeof writeOptions>) => service.unarchiveThread(u, t, o),
    'followup/increment': (u: string, t: string, o: ReturnType<typeof writeOptions>) =>
      service.incrementFollowupCount(u, t, o),
  } as const;
  for (const [action, run] of Object.entries(actions)) {
    r.post(
      `/threads/:threadId/${action}`,
      {
        schema: {
          tags,
          summary: `${action[0]!.toUpperCase()}${action.slice(1).replace('/', ': ')} a thread`,
          params: threadParams,
          body: emptyBody,
          response: { 200: threadSchema, ...errorResponses },
        },
      },
      async (request, reply) =>
        run(request.principal.userId, request.params.threadId, writeOptions(request, reply, 200)),
    );
  }

  r.post(
    '/threads/:threadId/system-generated',
    {
      schema: {
        tags,
        summary: 'Mark a thread as started by the system, with its email type',
        params: threadParams,
        body: z.strictObject({ emailType: emailTypeSchema, aiGenerated: z.boolean().optional() }),
        response: { 200: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      service.markAsSystemGenerated(
        request.principal.userId,
        request.params.threadId,
        request.body.emailType,
        {
          ...writeOptions(request, reply, 200),
          ...(request.body.aiGenerated === undefined ? {} : { aiGenerated: request.body.aiGenerated }),
        },
      ),
  );

  r.put(
    '/threads/:threadId/followup',
    {
      schema: {
        tags,
        summary: 'Schedule the follow-up of a thread (a future time)',
        params: threadParams,
        body: z.strictObject({ scheduledAt: isoDateTime }),
        response: { 200: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      service.scheduleFollowup(
        request.principal.userId,
        request.params.threadId,
        new Date(request.body.scheduledAt).toISOString(),
        writeOptions(request, reply, 200),
      ),
  );

  r.delete(
    '/threads/:threadId/followup',
    {
      schema: {
        tags,
        summary: 'Cancel the scheduled follow-up of a thread',
        params: threadParams,
        response: { 200: threadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      service.cancelFollowup(
        request.principal.userId,
        request.params.threadId,
        writeOptions(request, reply, 200),
      ),
  );

  r.get(
    '/threads/:threadId/events',
    {
      schema: {
        tags,
        summary: 'History of a thread, oldest first',
        params: threadParams,
        querystring: eventsQuery,
        response: { 200: z.object({ items: z.array(threadEventSchema) }), ...errorResponses },
      },
    },
    async (request) => ({
      items: await service.getThreadEvents(request.principal.userId, request.params.threadId, request.query),
    }),
  );

  r.get(
    '/analytics',
    {
      schema: {
        tags: ['analytics'],
        summary: 'Figures for threads created in a time range (see the README for definitions)',
        querystring: analyticsQuerySchema,
        response: { 200: analyticsSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await service.getThreadAnalyticsResult(request.principal.userId, request.query);
      return sendJson(reply, result);
    },
  );
}
