/** Authenticates every /api/v1 request before validation; `request.principal` is set for the handlers. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.ts';
import { type Authenticator, LocalAuthenticator, type Principal } from '../auth/authenticator.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export const authPlugin = fp(async (app: FastifyInstance, opts: { authenticator: Authenticator }) => {
  app.decorateRequest('principal', null as unknown as Principal);
  // Registered inside the /api/v1 scope, so it runs for exactly its routes. No test on request.url: the raw URL
  // is still percent-encoded (/ap%69/v1/...) while the router matches the decoded path.
  if (opts.authenticator instanceof LocalAuthenticator) {
    // Local mode: one principal for everyone, set without a promise per request.
    const principal = opts.authenticator.principal;
    app.addHook('onRequest', (request, _reply, done) => {
      request.principal = principal;
      done();
    });
    return;
  }
  app.addHook('onRequest', async (request) => {
    request.principal = await opts.authenticator.authenticate(
      request.headers.authorization ?? webSocketToken(request),
    );
  });
});

/**
 * A browser cannot set headers on a WebSocket, so a WebSocket upgrade (and only that) may carry its token as the
 * `access_token` query parameter. Request logs leave query strings out, so the token is not logged.
 */
function webSocketToken(request: FastifyRequest): string | undefined {
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') return undefined;
  const token = (request.query as { access_token?: unknown } | undefined)?.access_token;
  return typeof token === 'string' ? `Bearer ${token}` : undefined;
}

export function requireAdmin(principal: Principal): void {
  if (!principal.admin) throw new AppError('FORBIDDEN', 'This operation needs an admin token');
}
