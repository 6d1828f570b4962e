/** Authenticates every /api/v1 request before validation; `request.principal` is set for the handlers. */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.ts';
import type { Authenticator, Principal } from '../auth/authenticator.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export const authPlugin = fp(async (app: FastifyInstance, opts: { authenticator: Authenticator }) => {
  app.decorateRequest('principal', null as unknown as Principal);
  // Registered inside the /api/v1 scope, so it runs for exactly its routes. No test on request.url: the raw URL
  // is still percent-encoded (/ap%69/v1/...) while the router matches the decoded path.
  app.addHook('onRequest', async (request) => {
    request.principal = await opts.authenticator.authenticate(request.headers.authorization);
  });
});

export function requireAdmin(principal: Principal): void {
  if (!principal.admin) throw new AppError('FORBIDDEN', 'This operation needs an admin token');
}
