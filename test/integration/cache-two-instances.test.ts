/**
 * Two API processes on one PostgreSQL and one Redis behave as one service: a write acknowledged by A is what B
 * answers right after, for single threads and for lists, with both instances holding the data in their memory tier.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { createRedisDatabase } from '../harness/redis.ts';
import {
  describeWithService,
  hasService,
  sharedPostgresUrl,
  sharedRedisUrl,
} from '../harness/require-services.ts';
import { type ServerProcess, startApiServer } from '../support/server-process.ts';

const bothAvailable = hasService('postgres') && hasService('redis');

describeWithService(
  bothAvailable ? 'redis' : 'postgres',
  'two instances on one database and one Redis',
  () => {
    let a: ServerProcess;
    let b: ServerProcess;

    beforeAll(async () => {
      const env = {
        DATABASE_URL: await createPostgresDatabase(sharedPostgresUrl(), 'two_instances'),
        REDIS_URL: await createRedisDatabase(sharedRedisUrl()),
      };
      a = await startApiServer(env);
      b = await startApiServer(env);
    }, 60_000);
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
    });

    const call = async (server: ServerProcess, method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}/api/v1${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path} -> ${response.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    };

    it('shows a write acknowledged by A in the very next read on B', async () => {
      for (let i = 0; i < 5; i++)
        await call(a, 'POST', '/threads', { threadId: `two${i}`, subject: 'start' });
      // Both instances now hold every thread and the first list page in memory.
      for (const server of [a, b]) {
        for (let i = 0; i < 5; i++) await call(server, 'GET', `/threads/two${i}`);
        await call(server, 'GET', '/threads?limit=10');
      }
      let stale = 0;
      for (let round = 0; round < 40; round++) {
        const [writer, reader] = round % 2 ? [a, b] : [b, a];
        const id = `two${round % 5}`;
        const subject = `round ${round}`;
        await call(writer, 'PATCH', `/threads/${id}`, { subject });
        const thread = await call(reader, 'GET', `/threads/${id}`);
        const list = await call(reader, 'GET', '/threads?limit=10');
        if (thread.subject !== subject) stale++;
        if (list.items.find((t: { threadId: string }) => t.threadId === id)?.subject !== subject) stale++;
        await call(writer, 'POST', `/threads/${id}/${round % 4 < 2 ? 'hide' : 'unhide'}`);
        if ((await call(reader, 'GET', `/threads/${id}`)).hidden !== round % 4 < 2) stale++;
      }
      expect(stale).toBe(0);
      const ready = await (await fetch(`${b.url}/ready`)).json();
      expect(ready.checks.cache.tier).toBe('memory+redis');
      expect(ready.checks.cache.detail.invalidationsReceived).toBeGreaterThan(0);
      expect(ready.checks.cache.detail.l1.hits).toBeGreaterThan(0);
    });

    it('streams a change made on A to a live socket on B', async () => {
      const socket = new WebSocket(`${b.url.replace('http', 'ws')}/api/v1/events`);
      const events: { type: string; threadId: string }[] = [];
      socket.on('message', (data) => {
        const message = JSON.parse(String(data));
        if (message.type === 'event') events.push(message.event);
      });
      await once(socket, 'open');
      try {
        await call(a, 'POST', '/threads/two3/hide');
        const deadline = Date.now() + 2_000;
        while (!events.some((e) => e.threadId === 'two3' && e.type === 'hidden') && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        expect(events).toContainEqual(expect.objectContaining({ threadId: 'two3', type: 'hidden' }));
      } finally {
        socket.close();
      }
    });

    it("clears a user's cache on every instance", async () => {
      await call(a, 'GET', '/threads/two1');
      await call(b, 'GET', '/threads/two1');
      const cleared = await call(a, 'POST', '/cache/clear', {});
      expect(cleared.cleared).toBeGreaterThan(0);
      const l1 = async () => (await (await fetch(`${b.url}/ready`)).json()).checks.cache.detail.l1;
      // What B held for the user is gone: only the new list generation (announced with the clear) remains.
      expect((await l1()).entries).toBeLessThanOrEqual(1);
      const missesBefore = (await l1()).misses;
      await call(b, 'GET', '/threads/two1');
      expect((await l1()).misses).toBe(missesBefore + 1);
    });
  },
);
