import type { FastifyReply } from 'fastify';

/** Sends JSON text as is (a cache hit is already serialized): no parse, no second serialization. */
export function sendJson(reply: FastifyReply, json: string, status = 200): FastifyReply {
  return reply.status(status).type('application/json; charset=utf-8').send(json);
}
