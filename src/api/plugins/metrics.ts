/** Records every request's server-side duration by route template and status, and serves GET /metrics. */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from '../../metrics/metrics.ts';
import { toProblem } from '../problem.ts';

export const metricsPlugin = fp(async (app: FastifyInstance, opts: { metrics: Metrics }) => {
  const { httpDuration, httpErrors, registry } = opts.metrics;
  app.addHook('onError', async (request, _reply, error) => {
    httpErrors.inc({ route: request.routeOptions.url ?? 'unmatched', code: String(toProblem(error).code) });
  });
  app.addHook('onResponse', (request, reply, done) => {
    // The route template, never the raw URL: label values must stay a small, fixed set.
    const route = request.routeOptions.url ?? 'unmatched';
    httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
});
