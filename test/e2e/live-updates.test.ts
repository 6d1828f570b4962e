// Live updates. The client half is tested against a scripted WebSocket (Playwright's routeWebSocket speaks the
// server's protocol: hello after the catch-up, then one message per event): events change what is on screen, and a
// dropped connection comes back resuming after the last event id. The full loop goes through the real server's
// /api/v1/events endpoint with two browsers.
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService } from '../harness/require-services.ts';
import {
  type ApiClient,
  apiClient,
  DESKTOP,
  ensureWebBuild,
  launchChromium,
  makeThreads,
  type RunningServer,
  type SeedThread,
  seedThreads,
  startServer,
  trackPageErrors,
} from './support.ts';

interface ThreadEvent {
  id: string;
  threadId: string;
  type: string;
}

describeWithService('chromium', 'web app: live updates', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let api: ApiClient;
  let seeded: SeedThread[];
  let pageErrors: string[];
  const sockets: WebSocketRoute[] = [];

  beforeAll(async () => {
    await ensureWebBuild();
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
    api = apiClient(server.url);
    seeded = makeThreads(30).map((t) => ({ ...t, status: 'active' as const, hidden: false }));
    await seedThreads(api, seeded);
    context = await browser.newContext({ viewport: DESKTOP });
    await context.routeWebSocket(/\/api\/v1\/events/, (ws) => {
      sockets.push(ws);
      ws.send(JSON.stringify({ type: 'hello', lastEventId: null }));
    });
    page = await context.newPage();
    pageErrors = trackPageErrors(page);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  /** The newest event the server recorded for a thread, as the endpoint would push it. */
  async function latestEvent(threadId: string): Promise<ThreadEvent> {
    const { items } = await api.get<{ items: ThreadEvent[] }>(`/threads/${threadId}/events`);
    return items.at(-1)!;
  }

  it('shows a change made elsewhere as soon as its event arrives', async () => {
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => page.locator('.live').textContent()).toBe('Live');
    const target = [...seeded].sort((a, b) => b.lastActivity.localeCompare(a.lastActivity))[1]!;
    const row = page.locator(`[data-thread-id="${target.threadId}"]`);
    await expect.poll(() => row.count()).toBe(1);

    // Another client hides the thread; the endpoint pushes the event.
    await api.post(`/threads/${target.threadId}/hide`);
    const event = await latestEvent(target.threadId);
    const pushedAt = Date.now();
    sockets.at(-1)!.send(JSON.stringify({ type: 'event', event }));
    await expect.poll(() => row.count(), { interval: 20 }).toBe(0);
    const latency = Date.now() - pushedAt;
    console.log(`[live] row removed ${latency} ms after the event was pushed`);
    expect(latency).toBeLessThan(1_000);
  });

  it('adds a thread created elsewhere at its place in the list', async () => {
    await api.post('/threads', {
      threadId: 'live-new-1',
      subject: 'Brand new outreach',
      participants: ['new@example.com'],
      lastActivity: new Date().toISOString(),
    });
    sockets.at(-1)!.send(JSON.stringify({ type: 'event', event: await latestEvent('live-new-1') }));
    const first = page.locator('[role="row"][data-thread-id]').first();
    await expect.poll(() => first.getAttribute('data-thread-id')).toBe('live-new-1');
  });

  it('reconnects after a drop and resumes after the last event it applied', async () => {
    const before = sockets.length;
    const lastId = (await latestEvent('live-new-1')).id;
    await sockets.at(-1)!.close({ code: 1012, reason: 'server restart' });
    await expect.poll(() => sockets.length, { timeout: 10_000 }).toBe(before + 1);
    const url = new URL(sockets.at(-1)!.url());
    expect(url.searchParams.get('afterId')).toBe(lastId);
    await expect.poll(() => page.locator('.live').textContent()).toBe('Live');
  });

  it('updates an open thread page and its history', async () => {
    const target = seeded[5]!;
    await page.goto(`${server.url}/threads/${target.threadId}`);
    await expect
      .poll(() => page.getByRole('region', { name: 'History' }).textContent())
      .toContain('Started tracking');
    await api.post(`/threads/${target.threadId}/archive`);
    sockets.at(-1)!.send(JSON.stringify({ type: 'event', event: await latestEvent(target.threadId) }));
    await expect.poll(() => page.locator('.thread-header .badge').textContent()).toBe('Archived');
    await expect
      .poll(() => page.getByRole('region', { name: 'History' }).textContent())
      .toContain('Archived');
  });

  it('two browser contexts on the real server: a change made in one appears in the other within 1 s', async () => {
    // Real sockets this time: two fresh contexts, no scripted WebSocket.
    const [one, two] = await Promise.all([
      browser.newContext({ viewport: DESKTOP }),
      browser.newContext({ viewport: DESKTOP }),
    ]);
    try {
      const [pageOne, pageTwo] = await Promise.all([one.newPage(), two.newPage()]);
      const errors = [...trackPageErrors(pageOne), ...trackPageErrors(pageTwo)];
      const target = [...seeded].sort((a, b) => b.lastActivity.localeCompare(a.lastActivity))[3]!;
      await Promise.all([pageOne.goto(`${server.url}/threads`), pageTwo.goto(`${server.url}/threads`)]);
      for (const p of [pageOne, pageTwo]) {
        await expect.poll(() => p.locator('.live').textContent()).toBe('Live');
        await expect.poll(() => p.locator(`[data-thread-id="${target.threadId}"]`).count()).toBe(1);
      }
      // A change made in the first browser (its own row menu is not needed: the API is what the app calls).
      const started = Date.now();
      await pageOne.evaluate(async (threadId) => {
        const response = await fetch(`/api/v1/threads/${threadId}/hide`, { method: 'POST' });
        if (!response.ok) throw new Error(`hide failed: ${response.status}`);
      }, target.threadId);
      await expect
        .poll(() => pageTwo.locator(`[data-thread-id="${target.threadId}"]`).count(), {
          interval: 20,
          timeout: 2_000,
        })
        .toBe(0);
      const latency = Date.now() - started;
      console.log(`[live] a change made in one browser reached the other in ${latency} ms (real server)`);
      expect(latency).toBeLessThan(1_000);
      expect(errors).toEqual([]);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('never crashed', () => {
    expect(pageErrors).toEqual([]);
  });
});
