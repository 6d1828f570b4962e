/**
 * The live event feed: a WebSocket on /api/v1/events streams the caller's committed events, resumes from the last
 * event id it saw without losing any, keeps users apart, refuses other sites' pages, and reaches every API instance
 * through Redis.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { mintToken } from '../../src/api/auth/authenticator.ts';
import { RedisEventBus } from '../../src/events/redis-event-bus.ts';
import { createRedisDatabase } from '../harness/redis.ts';
import { describeWithService, sharedRedisUrl } from '../harness/require-services.ts';
import { createTestApp, TEST_JWT_SECRET, type TestApp } from '../support/test-app.ts';

interface Message {
  type: 'event' | 'hello';
  event?: { id: string; type: string; threadId: string; userId: string };
  lastEventId?: string | null;
}

/** The app's loopback address, listening on a free port the first time (a WebSocket needs a real connection). */
async function addressOf(app: FastifyInstance): Promise<string> {
  if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('not listening');
  return `127.0.0.1:${address.port}`;
}

/** A socket and everything it received, with a way to wait for a message. */
async function connect(app: FastifyInstance, path: string, headers: Record<string, string> = {}) {
  const messages: Message[] = [];
  const waiters: (() => void)[] = [];
  const socket = new WebSocket(`ws://${await addressOf(app)}${path}`, { headers });
  // Listening before the connection opens: the server speaks first.
  socket.on('message', (data) => {
    messages.push(JSON.parse(String(data)) as Message);
    for (const wake of waiters.splice(0)) wake();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`Unexpected server response: ${res.statusCode}`)),
    );
    socket.once('error', reject);
  });
  const waitFor = async (predicate: (m: Message[]) => boolean, timeoutMs = 1000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(messages)) {
      if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(messages)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  return { socket, messages, waitFor };
}

const eventsOf = (messages: Message[]) => messages.filter((m) => m.type === 'event').map((m) => m.event!);

describe('live events over a WebSocket (local mode)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('says hello with the latest event id, then streams each committed change within a second', async () => {
    await t.service.createThread('me', { threadId: 'before' });
    const latest = await t.service.lastEventId('me');
    const ws = await connect(t.app, '/api/v1/events');
    await ws.waitFor((m) => m.some((x) => x.type === 'hello'));
    expect(ws.messages).toEqual([{ type: 'hello', lastEventId: latest }]);
    const started = Date.now();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'live-1' },
    });
    expect(res.statusCode).toBe(201);
    await t.app.inject({ method: 'POST', url: '/api/v1/threads/live-1/hide' });
    await ws.waitFor((m) => eventsOf(m).length >= 2);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(eventsOf(ws.messages).map((e) => [e.threadId, e.type])).toEqual([
      ['live-1', 'created'],
      ['live-1', 'hidden'],
    ]);
    ws.socket.close();
  });

  it('resumes from the last event id it saw: everything after it arrives, then hello', async () => {
    const first = await connect(t.app, '/api/v1/events');
    await first.waitFor((m) => m.some((x) => x.type === 'hello'));
    await t.service.createThread('me', { threadId: 'resume-1' });
    await first.waitFor((m) => eventsOf(m).length >= 1);
    const lastSeen = eventsOf(first.messages).at(-1)!.id;
    first.socket.close();
    // Missed while disconnected.
    await t.service.hideThread('me', 'resume-1');
    await t.service.createThread('me', { threadId: 'resume-2' });
    const second = await connect(t.app, `/api/v1/events?afterId=${lastSeen}`);
    await second.waitFor((m) => m.some((x) => x.type === 'hello'));
    const received = eventsOf(second.messages);
    const after = received.filter((e) => BigInt(e.id) > BigInt(lastSeen)).map((e) => [e.threadId, e.type]);
    expect(after).toEqual([
      ['resume-1', 'hidden'],
      ['resume-2', 'created'],
    ]);
    // Nothing is sent twice on one connection, and hello comes after the catch-up.
    expect(new Set(received.map((e) => e.id)).size).toBe(received.length);
    expect(second.messages.at(-1)).toMatchObject({ type: 'hello', lastEventId: received.at(-1)!.id });
    second.socket.close();
  });

  it('refuses a WebSocket opened by another site', async () => {
    await expect(connect(t.app, '/api/v1/events', { origin: 'https://evil.example' })).rejects.toThrow(/403/);
    // This server's own pages are welcome.
    const ok = await connect(t.app, '/api/v1/events', { origin: `http://${await addressOf(t.app)}` });
    await ok.waitFor((m) => m.some((x) => x.type === 'hello'));
    ok.socket.close();
  });

  it('pages through the same events over plain HTTP, with the latest id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/v1/events?limit=2' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.items).toHaveLength(2);
    expect(body.lastEventId).toBe(await t.service.lastEventId('me'));
  });
});

describe('live events in JWT mode', () => {
  let t: TestApp;
  const token = (sub: string) =>
    mintToken({
      secret: TEST_JWT_SECRET,
      userId: sub,
      issuer: 'thread-tracker-test',
      audience: 'thread-tracker',
    });
  beforeAll(async () => {
    t = await createTestApp({ auth: 'jwt' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("needs a token (as access_token), and streams only the caller's own events", async () => {
    await expect(connect(t.app, '/api/v1/events')).rejects.toThrow(/401/);
    await expect(connect(t.app, '/api/v1/events?access_token=not.a.jwt')).rejects.toThrow(/401/);
    const alice = await connect(t.app, `/api/v1/events?access_token=${await token('alice')}`);
    const bob = await connect(t.app, `/api/v1/events?access_token=${await token('bob')}`);
    await alice.waitFor((m) => m.some((x) => x.type === 'hello'));
    await bob.waitFor((m) => m.some((x) => x.type === 'hello'));
    await t.service.createThread('alice', { threadId: 'private' });
    await t.service.createThread('bob', { threadId: 'bobs' });
    await alice.waitFor((m) => eventsOf(m).length >= 1);
    await bob.waitFor((m) => eventsOf(m).length >= 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(eventsOf(alice.messages).map((e) => [e.userId, e.threadId])).toEqual([['alice', 'private']]);
    expect(eventsOf(bob.messages).map((e) => [e.userId, e.threadId])).toEqual([['bob', 'bobs']]);
    alice.socket.close();
    bob.socket.close();
  });
});

describeWithService('redis', 'live events across instances through Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const url = await createRedisDatabase(sharedRedisUrl());
    // Two instances: each its own service and app, one shared database is not needed for the fan-out itself.
    a = await createTestApp({ events: new RedisEventBus(url) });
    b = await createTestApp({ events: new RedisEventBus(url) });
    await new Promise((r) => setTimeout(r, 200));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('delivers a change committed on one instance to a socket on the other within a second', async () => {
    const user = `redis-fanout-${Date.now()}`;
    const ws = await connect(b.app, '/api/v1/events');
    await ws.waitFor((m) => m.some((x) => x.type === 'hello'));
    const started = Date.now();
    await a.service.createThread('me', { threadId: user });
    await ws.waitFor((m) => eventsOf(m).some((e) => e.threadId === user));
    expect(Date.now() - started).toBeLessThan(1000);
    ws.socket.close();
  });
});
