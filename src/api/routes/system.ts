/** Health, readiness, the caller's identity and cache administration. */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HealthService } from '../../service/health-service.ts';
import type { ThreadTrackingService } from '../../service/thread-tracking-service.ts';
import { requireAdmin } from '../plugins/auth.ts';
import { errorResponses } from '../schemas.ts';

const readySchema = z.object({
  status: z.enum(['ready', 'degraded', 'unavailable']),
  checks: z.record(z.string(), z.object({ status: z.enum(['ok', 'degraded', 'down']) }).loose()),
});

export interface PublicConfig {
  authMode: 'local' | 'jwt';
  supabaseUrl?: string;
  supabaseAnonKey?: string;
}

export async function healthRoutes(
  app: FastifyInstance,
  opts: { health: HealthService; publicConfig: PublicConfig },
) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/api/config',
    {
      schema: {
        tags: ['account'],
        summary: 'What a client needs before signing in (public)',
        response: {
          200: z.object({
            authMode: z.enum(['local', 'jwt']),
            supabaseUrl: z.string().optional(),
            supabaseAnonKey: z.string().optional(),
          }),
        },
      },
    },
    async () => opts.publicConfig,
  );
  r.get(
    '/health',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers (never touches a dependency)',
        response: { 200: z.object({ status: z.literal('ok'), uptimeSeconds: z.number() }) },
      },
    },
    async () => opts.health.liveness(),
  );
  r.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: database, pool and cache status (503 when the service cannot serve)',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_request, reply) => {
      const report = await opts.health.readiness();
      return reply.status(report.status === 'unavailable' ? 503 : 200).send(report);
    },
  );
}

export async function accountRoutes(
  app: FastifyInstance,
  opts: { service: ThreadTrackingService; authMode: 'local' | 'jwt' },
) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/me',
    {
      schema: {
        tags: ['account'],
        summary: 'Who the caller is',
        response: {
          200: z.object({ userId: z.string(), admin: z.boolean(), authMode: z.enum(['local', 'jwt']) }),
          ...errorResponses,
        },
      },
    },
    async (request) => ({ ...request.principal, authMode: opts.authMode }),
  );
  r.post(
    '/cache/clear',
    {
      schema: {
        tags: ['cache'],
        summary: "Clear the caller's cached threads and lists (every tier)",
        body: z.strictObject({}).nullish(),
        response: { 200: z.object({ cleared: z.number() }), ...errorResponses },
      },
    },
    async (request) => ({ cleared: await opts.service.clearUserCache(request.principal.userId) }),
  );
  r.post(
    '/admin/cache/clear',
    {
      schema: {
        tags: ['cache'],
        summary: 'Clear the whole cache (admin)',
        body: z.strictObject({}).nullish(),
        response: { 200: z.object({ cleared: z.number() }), 403: errorResponses[401], ...errorResponses },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      return { cleared: await opts.service.clearAllCache() };
    },
  );
}
