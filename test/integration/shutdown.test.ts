/**
 * `thread-tracker serve` stops promptly on SIGTERM after heavy load (every pool connection busy, keep-alive clients),
 * exiting 0 with its last line written, instead of waiting for the shutdown timeout.
 */
import { once } from 'node:events';
import autocannon from 'autocannon';
import { expect, it } from 'vitest';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, sharedPostgresUrl } from '../harness/require-services.ts';
import { startApiServer } from '../support/server-process.ts';

describeWithService('postgres', 'shutdown', () => {
  it('exits 0 within a few seconds of SIGTERM after heavy write load', async () => {
    const server = await startApiServer({
      DATABASE_URL: await createPostgresDatabase(sharedPostgresUrl(), 'shutdown'),
      LOG_LEVEL: 'info',
    });
    try {
      const created = await fetch(`${server.url}/api/v1/threads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ threadId: 'busy' }),
      });
      expect(created.status).toBe(201);
      let flip = 0;
      await autocannon({
        url: server.url,
        connections: 100,
        duration: 3,
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              method: 'POST',
              path: `/api/v1/threads/busy/${flip++ % 2 ? 'hide' : 'unhide'}`,
            }),
          },
        ],
      });
      const started = Date.now();
      const exited = once(server.child, 'exit');
      server.child.kill('SIGTERM');
      const [code] = await exited;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(code).toBe(0);
      expect(server.output()).toContain('"msg":"stopped"');
    } finally {
      await server.stop();
    }
  }, 30_000);
});
