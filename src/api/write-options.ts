/**
 * Builds the service's WriteOptions from a request: the Idempotency-Key header and a hash of everything that makes
 * the request what it is (method, route, params, query, body), so the same key with another request is refused.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../domain/errors.ts';
import { stableStringify } from '../service/thread-cache.ts';
import type { WriteOptions } from '../service/thread-tracking-service.ts';

const KEY = /^[\x21-\x7e]{1,255}$/;

export function writeOptions(
  request: FastifyRequest,
  reply: FastifyReply,
  responseStatus: number,
): WriteOptions {
  const header = request.headers['idempotency-key'];
  const onQueued = (opId: string) => {
    // The status becomes 202 when the response is sent (see build-app): handlers set their usual status later.
    reply.header('x-write-queued', opId);
  };
  if (header === undefined) return { responseStatus, onQueued };
  if (typeof header !== 'string' || !KEY.test(header)) {
    throw new AppError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 255 visible ASCII characters', {
      details: [{ path: 'headers.idempotency-key', message: 'must be 1 to 255 visible ASCII characters' }],
    });
  }
  const requestHash = createHash('sha256')
    .update(
      [
        request.method,
        request.routeOptions.url ?? '',
        stableStringify(request.params ?? {}),
        stableStringify(request.query ?? {}),
        stableStringify(request.body ?? null),
      ].join('\n'),
    )
    .digest('base64url');
  return {
    idempotencyKey: header,
    requestHash,
    responseStatus,
    onReplay: () => {
      reply.header('idempotent-replayed', 'true');
    },
    onQueued,
  };
}
