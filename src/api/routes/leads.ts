import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { leadCreateSchema, leadPatchSchema, safeText } from '../../domain/thread.ts';
import type { LeadService } from '../../service/lead-service.ts';
import type { ThreadTrackingService } from '../../service/thread-tracking-service.ts';
import { errorResponses, leadSchema } from '../schemas.ts';
import { writeOptions } from '../write-options.ts';

const leadParams = z.strictObject({ leadId: z.uuid() });

export async function leadRoutes(
  app: FastifyInstance,
  opts: { leads: LeadService; service: ThreadTrackingService },
) {
  const { leads, service } = opts;
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['leads'];
  r.get(
    '/leads',
    {
      schema: {
        tags,
        summary: 'List leads',
        querystring: z.strictObject({
          q: safeText(200).trim().min(1).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          afterId: z.uuid().optional(),
        }),
        response: { 200: z.object({ items: z.array(leadSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ items: await leads.list(request.principal.userId, request.query) }),
  );
  r.post(
    '/leads',
    {
      schema: {
        tags,
        summary: 'Create a lead',
        body: leadCreateSchema,
        response: { 201: leadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await leads.create(request.principal.userId, request.body, writeOptions(request, reply, 201))),
  );
  r.get(
    '/leads/:leadId',
    {
      schema: {
        tags,
        summary: 'Get a lead',
        params: leadParams,
        response: { 200: leadSchema, ...errorResponses },
      },
    },
    async (request) => leads.get(request.principal.userId, request.params.leadId),
  );
  r.patch(
    '/leads/:leadId',
    {
      schema: {
        tags,
        summary: 'Update a lead',
        params: leadParams,
        body: leadPatchSchema,
        response: { 200: leadSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      leads.update(
        request.principal.userId,
        request.params.leadId,
        request.body,
        writeOptions(request, reply, 200),
      ),
  );
  r.delete(
    '/leads/:leadId',
    {
      schema: {
        tags,
        summary: 'Delete a lead (its threads keep existing, unlinked)',
        params: leadParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      // Through the thread service: deleting a lead unlinks its threads, whose cached copies must go.
      await service.deleteLead(
        request.principal.userId,
        request.params.leadId,
        writeOptions(request, reply, 204),
      );
      return reply.status(204).send(null);
    },
  );
}
