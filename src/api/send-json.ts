import type { FastifyReply } from 'fastify';
import type { JsonResult } from '../service/json-result.ts';

/**
 * Sends a read result's JSON text as is (a cache hit is already serialized: no parse, no second serialization),
 * with what the client must know about it: `Age` and `X-Data-Stale` when the database could not be asked, and
 * `X-Pending-Writes` when queued writes of the caller are shown before the database has them.
 */
export function sendJson(reply: FastifyReply, result: JsonResult<unknown>): FastifyReply {
  if (result.staleAgeMs !== undefined) {
    reply.header('age', String(Math.floor(result.staleAgeMs / 1000)));
    reply.header('x-data-stale', 'database-unavailable');
  }
  if (result.pendingWrites !== undefined) reply.header('x-pending-writes', String(result.pendingWrites));
  return reply.type('application/json; charset=utf-8').send(result.json);
}
