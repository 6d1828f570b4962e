/** One error handler: problem+json for everything, 4xx logged at warn, 5xx at error (with the cause). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../problem.ts';

const OPERATIONAL = new Set([
  'DB_UNAVAILABLE',
  'DB_TIMEOUT',
  'JOURNAL_FULL',
  'JOURNAL_UNAVAILABLE',
  'SHUTTING_DOWN',
]);

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.url.split('?')[0], request.id);
    // An unavailable dependency is an operating condition, reported by /ready and the breaker's own lines: one warn
    // line per request, no stack. Anything else at 5xx is a defect: error, with the cause.
    if (problem.status >= 500 && !OPERATIONAL.has(problem.code)) {
      request.log.error({ err: error, code: problem.code }, 'request failed');
    } else if (problem.status >= 500)
      request.log.warn({ code: problem.code }, 'request refused: dependency unavailable');
    else request.log.warn({ code: problem.code, detail: problem.detail }, 'request refused');
    const retryAfter = (error as { retryAfter?: number }).retryAfter;
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    if (problem.code === 'UNAUTHENTICATED') {
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
    }
    return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });
});
