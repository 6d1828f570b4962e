/**
 * Builds the HTTP application from its dependencies. Never listens: `cli/serve` does, tests use `app.inject()`.
 * Validation comes from the domain's zod schemas (which also generate the OpenAPI document), every error leaves as
 * problem+json, every request carries a request id in its log lines and in the X-Request-Id response header.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, validatorCompiler } from 'fastify-type-provider-zod';
import { AppError } from '../domain/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type { HealthService } from '../service/health-service.ts';
import type { LeadService } from '../service/lead-service.ts';
import type { ThreadTrackingService } from '../service/thread-tracking-service.ts';
import type { Authenticator } from './auth/authenticator.ts';
import { authPlugin } from './plugins/auth.ts';
import { errorsPlugin } from './plugins/errors.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.ts';
import { EventHub } from './realtime/event-hub.ts';
import { eventRoutes } from './routes/events.ts';
import { leadRoutes } from './routes/leads.ts';
import { accountRoutes, healthRoutes } from './routes/system.ts';
import { threadRoutes } from './routes/threads.ts';

export interface AppDeps {
  service: ThreadTrackingService;
  leads: LeadService;
  health: HealthService;
  authenticator: Authenticator;
  /** A pino logger; omitted = no logging (tests). */
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
  trustProxy?: boolean;
  /** Directory of the built web app, served at `/` when it exists. */
  webDistDir?: string;
  /** More route plugins under /api/v1 (later capabilities register here). */
  apiPlugins?: ((app: FastifyInstance) => Promise<void>)[];
  /**
   * Route plugins under /api/v1 that take no sign-in (an OAuth callback a browser lands on, a signed webhook): each
   * authenticates its own requests.
   */
  publicApiPlugins?: ((app: FastifyInstance) => Promise<void>)[];
  version?: string;
  /** Committed thread events, for the live WebSocket feed; omitted = no live feed (catch-up only). */
  events?: EventBus;
  /** Prometheus metrics; omitted = no /metrics and no per-request recording. */
  metrics?: Metrics;
  /** Public sign-in settings for the web app (Supabase URL and anon key). */
  publicConfig?: { supabaseUrl?: string; supabaseAnonKey?: string };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** One log line per request, when it completes (Fastify's default writes two, with whole request objects). */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = {
      method: request.method,
      url: request.url.split('?')[0],
      statusCode: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    };
    if (error) request.log.error({ ...line, err: error }, 'request errored');
    else request.log.info(line, 'request completed');
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    logController: new OneLinePerRequest({ requestIdLogLabel: 'reqId' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: deps.bodyLimit ?? 102_400,
    trustProxy: deps.trustProxy ?? false,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: true },
    // Errors raised before routing (bad percent-encoding, over-long path parameter) never reach the error handler:
    // answer them as problem+json here, as the not-found handler does.
    frameworkErrors: (error, request, reply: FastifyReply) => {
      const problem = toProblem(error, request.url.split('?')[0], request.id);
      return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
    },
    ajv: { customOptions: { coerceTypes: false } },
  });

  app.setValidatorCompiler(validatorCompiler);
  // Responses come from typed mappers; schemas document them. Plain JSON.stringify keeps the hot path short.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.removeContentTypeParser('text/plain');

  // Hooks on every request are callback-style: an async hook costs a promise per request.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // A write that was queued (the database is unavailable) is accepted, not done.
    if (reply.statusCode < 300 && reply.hasHeader('x-write-queued')) reply.code(202);
    done(null, payload);
  });
  await app.register(errorsPlugin);
  if (deps.metrics) await app.register(metricsPlugin, { metrics: deps.metrics });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'thread-tracker API',
        version: deps.version ?? '0.1.0',
        description:
          'Tracks outreach email threads: reply detection, follow-ups that stop on reply, analytics. Errors are RFC 9457 problem details with a stable `code`. Mutating routes accept an `Idempotency-Key` header.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: deps.authenticator.mode === 'jwt' ? [{ bearer: [] }] : [],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs' });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, {
    health: deps.health,
    publicConfig: { authMode: deps.authenticator.mode, ...deps.publicConfig },
  });

  const hub = new EventHub(
    deps.events ?? { publish: () => {}, subscribe: () => () => {}, close: async () => {} },
  );
  app.addHook('onClose', async () => hub.close());
  await app.register(fastifyWebsocket, { options: { maxPayload: 4096 } });
  // Browsers send an Origin with a WebSocket, and no same-origin policy applies to it: refuse other sites, so a page
  // elsewhere cannot read a local user's events.
  app.addHook('onRequest', (request, _reply, done) => {
    const origin = request.headers.origin;
    if (
      request.headers.upgrade !== undefined &&
      request.headers.upgrade.toLowerCase() === 'websocket' &&
      origin !== undefined &&
      !sameHost(origin, request.headers.host)
    ) {
      done(new AppError('FORBIDDEN', "WebSocket connections are accepted from this server's own pages only"));
      return;
    }
    done();
  });

  await app.register(
    async (api) => {
      await api.register(authPlugin, { authenticator: deps.authenticator });
      await api.register(eventRoutes, { service: deps.service, hub });
      await api.register(threadRoutes, { service: deps.service });
      await api.register(leadRoutes, { leads: deps.leads, service: deps.service });
      await api.register(accountRoutes, { service: deps.service, authMode: deps.authenticator.mode });
      for (const plugin of deps.apiPlugins ?? []) await api.register(plugin);
    },
    { prefix: '/api/v1' },
  );
  await app.register(
    async (api) => {
      for (const plugin of deps.publicApiPlugins ?? []) await api.register(plugin);
    },
    { prefix: '/api/v1' },
  );

  const webRoot = deps.webDistDir ? resolve(deps.webDistDir) : undefined;
  const serveWeb = webRoot !== undefined && existsSync(resolve(webRoot, 'index.html'));
  if (serveWeb) {
    // The build writes .br and .gz next to each asset; serve those to clients that accept them.
    await app.register(fastifyStatic, {
      root: webRoot,
      prefix: '/',
      wildcard: false,
      index: ['index.html'],
      preCompressed: true,
    });
  }
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    // Client-side routes (/threads/abc, /analytics) load the web app; unknown /api paths are problem+json 404s.
    if (serveWeb && request.method === 'GET' && !path.startsWith('/api/') && !path.includes('.')) {
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    }
    const problem = toProblem(
      Object.assign(new Error(`No route for ${request.method} ${path}`), { statusCode: 404 }),
      path,
      request.id,
    );
    return reply.status(404).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });

  return app;
}
