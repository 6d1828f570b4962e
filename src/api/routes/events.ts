/**
 * The caller's thread events: `GET /api/v1/events` pages through them (catch-up), and the same path upgraded to a
 * WebSocket streams them live.
 *
 * WebSocket protocol: connect with `?afterId=<last event id seen>` to resume (omit it to start from now; in JWT mode
 * pass the token as `access_token`, browsers cannot set headers on a WebSocket). The server sends every missed event
 * as `{"type":"event","event":...}`, then `{"type":"hello","lastEventId":...}`, then each new event as it commits.
 * Event ids come from a sequence, and a transaction can commit after one that took a later id; so a resume re-reads
 * a margin of ids before `afterId`, and clients apply events idempotently (an event may arrive twice, never not at
 * all). Live events are fed by the event bus (across instances through Redis when it is configured).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { ThreadEvent } from '../../domain/thread.ts';
import type { ThreadTrackingService } from '../../service/thread-tracking-service.ts';
import type { EventHub } from '../realtime/event-hub.ts';
import { errorResponses, eventsQuery, threadEventSchema } from '../schemas.ts';

/** How far before `afterId` a resume re-reads: more than the writes that can be in flight at once. */
export const RESUME_MARGIN = 1000;
const CATCH_UP_PAGE = 500;
/** A socket whose unsent data grows beyond this is too slow to follow; it is closed (it will resume). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const querystring = eventsQuery.extend({
  access_token: z
    .string()
    .max(8192)
    .optional()
    .describe('JWT for WebSocket clients (browsers cannot set headers)'),
});

export async function eventRoutes(
  app: FastifyInstance,
  opts: { service: ThreadTrackingService; hub: EventHub },
) {
  const { service, hub } = opts;
  app.withTypeProvider<ZodTypeProvider>().route({
    method: 'GET',
    url: '/events',
    schema: {
      tags: ['events'],
      summary: "The caller's events after an id, oldest first; upgrade to a WebSocket for the live stream",
      querystring,
      response: {
        200: z.object({ items: z.array(threadEventSchema), lastEventId: z.string().nullable() }),
        ...errorResponses,
      },
    },
    handler: async (request) => {
      const { access_token: _token, ...query } = request.query;
      const [items, lastEventId] = await Promise.all([
        service.listEvents(request.principal.userId, query),
        service.lastEventId(request.principal.userId),
      ]);
      return { items, lastEventId };
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      void stream(
        socket,
        request as FastifyRequest<{ Querystring: z.output<typeof querystring> }>,
        service,
        hub,
      );
    },
  });
}

async function stream(
  socket: WebSocket,
  request: FastifyRequest<{ Querystring: z.output<typeof querystring> }>,
  service: ThreadTrackingService,
  hub: EventHub,
): Promise<void> {
  const userId = request.principal.userId;
  const sent = new Set<string>();
  const order: string[] = [];
  let live = false;
  const buffered: ThreadEvent[] = [];
  const send = (event: ThreadEvent) => {
    if (sent.has(event.id) || socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      socket.close(1013, 'too slow: resume from the last event id');
      return;
    }
    // Remember recent ids only: duplicates can only come from the overlap of catch-up and live events.
    sent.add(event.id);
    order.push(event.id);
    if (order.length > 4 * RESUME_MARGIN) sent.delete(order.shift()!);
    socket.send(JSON.stringify({ type: 'event', event }));
  };
  // Listen before reading the history, so nothing committed in between is missed.
  const unsubscribe = hub.subscribe(userId, (event) => (live ? send(event) : buffered.push(event)));
  socket.on('close', unsubscribe);
  socket.on('error', unsubscribe);
  try {
    let lastEventId = await service.lastEventId(userId);
    const afterId = request.query.afterId;
    if (afterId !== undefined) {
      let cursor = String(Math.max(0, Number(afterId) - RESUME_MARGIN));
      for (;;) {
        const page = await service.listEvents(userId, { afterId: cursor, limit: CATCH_UP_PAGE });
        for (const event of page) send(event);
        if (page.length < CATCH_UP_PAGE) break;
        cursor = page.at(-1)!.id;
      }
    }
    for (const event of buffered.splice(0)) {
      send(event);
      if (lastEventId === null || BigInt(event.id) > BigInt(lastEventId)) lastEventId = event.id;
    }
    live = true;
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type: 'hello', lastEventId }));
  } catch (error) {
    request.log.warn({ err: error }, 'event stream could not catch up; closing it (the client resumes)');
    unsubscribe();
    socket.close(1011, 'catch-up failed: retry');
  }
}
