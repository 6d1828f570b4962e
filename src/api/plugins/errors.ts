/** One error handler: problem+json for everything, 4xx logged at warn, 5xx at error (with the cause). */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { PROBLEM_CONTENT_TYPE, toProblem } from '../problem.ts';

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.url.split('?')[0], request.id);
    if (problem.status >= 500) request.log.error({ err: error, code: problem.code }, 'request failed');
    else request.log.warn({ code: problem.code, detail: problem.detail }, 'request refused');
    const retryAfter = (error as { retryAfter?: number }).retryAfter;
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    if (problem.code === 'UNAUTHENTICATED') {
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
    }
    return reply.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });
});
