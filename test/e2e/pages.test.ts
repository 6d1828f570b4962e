// Follow-up scheduling (in the browser's time zone), analytics charts on seeded data, and the follow-ups and
// accounts pages, each at desktop and phone width.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithService } from '../harness/require-services.ts';
import {
  type ApiClient,
  apiClient,
  DESKTOP,
  ensureWebBuild,
  launchChromium,
  makeThreads,
  PHONE,
  type RunningServer,
  type SeedThread,
  saveScreenshot,
  seedThreads,
  startServer,
  trackPageErrors,
} from './support.ts';

interface Thread {
  threadId: string;
  followupScheduled: boolean;
  followupScheduledAt: string | null;
}

const ZONE = 'America/New_York';

describeWithService('chromium', 'web app: follow-ups, analytics, accounts', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let api: ApiClient;
  let seeded: SeedThread[];
  let pageErrors: string[];

  beforeAll(async () => {
    await ensureWebBuild();
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
    api = apiClient(server.url);
    seeded = makeThreads(120);
    await seedThreads(api, seeded);
    // A few scheduled follow-ups, so the schedule has something to show once the server offers it.
    for (const thread of seeded.filter((t) => t.status === 'active').slice(0, 3)) {
      await api.put(`/threads/${thread.threadId}/followup`, {
        scheduledAt: new Date(Date.now() + 2 * 86_400_000).toISOString(),
      });
    }
    context = await browser.newContext({ viewport: DESKTOP, timezoneId: ZONE, locale: 'en-US' });
    page = await context.newPage();
    pageErrors = trackPageErrors(page);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  it('schedules a follow-up at a wall-clock time of the user’s zone, then cancels it', async () => {
    const target = seeded.find((t) => t.status === 'active' && !t.hidden && t.threadId > 't00010')!;
    await page.goto(`${server.url}/threads/${target.threadId}`);
    const card = page.getByRole('region', { name: 'Follow-up' });
    await expect.poll(() => card.textContent()).toContain('No follow-up scheduled');
    expect(await card.textContent()).toContain(`Times are in ${ZONE}`);

    // Mid-January: New York is on EST (UTC-5) whatever the year.
    const year = new Date().getUTCFullYear() + 1;
    await card.getByLabel('Date').fill(`${year}-01-15`);
    await card.getByLabel('Time').fill('09:30');
    await card.getByRole('button', { name: 'Schedule follow-up' }).click();
    await expect.poll(() => card.textContent()).toContain(`Scheduled for Jan 15, ${year}, 9:30 AM`);
    const scheduled = await api.get<Thread>(`/threads/${target.threadId}`);
    expect(scheduled.followupScheduled).toBe(true);
    expect(Date.parse(scheduled.followupScheduledAt!)).toBe(Date.parse(`${year}-01-15T14:30:00Z`));
    await expect
      .poll(() => page.getByRole('region', { name: 'History' }).textContent())
      .toContain('Follow-up scheduled');
    await saveScreenshot(page, 'thread-followup-scheduled-desktop');

    await card.getByRole('button', { name: 'Cancel follow-up' }).click();
    await expect.poll(() => card.textContent()).toContain('No follow-up scheduled');
    expect((await api.get<Thread>(`/threads/${target.threadId}`)).followupScheduled).toBe(false);
    await page.reload();
    await expect.poll(() => card.textContent()).toContain('No follow-up scheduled');
    await expect
      .poll(() => page.getByRole('region', { name: 'History' }).textContent())
      .toContain('Follow-up cancelled');
  });

  it('refuses a time in the past before asking the server', async () => {
    const target = seeded.find((t) => t.status === 'active' && t.threadId > 't00020')!;
    await page.goto(`${server.url}/threads/${target.threadId}`);
    const card = page.getByRole('region', { name: 'Follow-up' });
    await card.getByLabel('Date').fill('2020-01-01');
    await card.getByLabel('Time').fill('09:00');
    await card.getByRole('button', { name: 'Schedule follow-up' }).click();
    await expect.poll(() => card.getByRole('alert').textContent()).toBe('Choose a time in the future.');
    expect((await api.get<Thread>(`/threads/${target.threadId}`)).followupScheduled).toBe(false);
  });

  it('previews the drafted follow-up, or says the server cannot draft yet', async () => {
    const target = seeded.find((t) => t.status === 'active')!;
    await page.goto(`${server.url}/threads/${target.threadId}`);
    const card = page.getByRole('region', { name: 'Follow-up' });
    await card.getByRole('button', { name: 'Preview draft' }).click();
    await expect
      .poll(async () => {
        const text = (await card.textContent()) ?? '';
        return /Drafted by|aren’t available on this server yet/.test(text);
      })
      .toBe(true);
  });

  it('renders the analytics charts from the seeded threads', async () => {
    await page.goto(`${server.url}/analytics`);
    const charts = page.locator('figure.chart');
    await expect.poll(() => charts.count()).toBe(5);
    // Every chart drew its bars or sectors (recharts renders SVG paths for them).
    for (const title of [
      'Threads per day',
      'Reply rate by type',
      'Reply rate by follow-ups sent',
      'Response time',
    ]) {
      const chart = page.locator(`figure[data-chart="${title}"]`);
      await expect.poll(() => chart.locator('.recharts-bar-rectangle path').count()).toBeGreaterThan(0);
    }
    await expect
      .poll(() => page.locator('figure[data-chart="Status"] .recharts-pie-sector').count())
      .toBeGreaterThan(0);
    const stats = page.locator('.stat');
    expect(await stats.first().textContent()).toContain(String(seeded.length));
    const replied = seeded.filter((t) => t.responseTimeHours !== null).length;
    expect(await stats.nth(1).textContent()).toContain(`${replied} replied`);
    await saveScreenshot(page, 'analytics-desktop');

    await page.getByRole('button', { name: '7 days' }).click();
    await page.waitForURL(/range=7d/);
    // One row per day in the chart's data table (days without threads draw no bar).
    await expect
      .poll(() => page.locator('figure[data-chart="Threads per day"] table tbody tr').count())
      .toBe(7);
    await page.goBack();
    await page.waitForURL(/\/analytics$/);
  });

  it('shows the follow-up schedule, or a clear note while the server has none', async () => {
    await page.goto(`${server.url}/followups`);
    await expect
      .poll(async () => {
        const text = (await page.locator('main').textContent()) ?? '';
        return /isn’t available on this server yet|scheduled/.test(text);
      })
      .toBe(true);
    await saveScreenshot(page, 'followups-desktop');
  });

  it('shows the accounts page, or a clear note while the server has no accounts', async () => {
    await page.goto(`${server.url}/accounts`);
    await expect
      .poll(async () => {
        const text = (await page.locator('main').textContent()) ?? '';
        return /can’t be connected on this server yet|No mail account connected|Last synced|Never synced/.test(
          text,
        );
      })
      .toBe(true);
    await saveScreenshot(page, 'accounts-desktop');
  });

  it('lists scheduled follow-ups and account sync progress (stand-in answers until the server has them)', async () => {
    const soon = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
    const active = seeded.filter((t) => t.status === 'active');
    await page.route('**/api/v1/followups', (route) =>
      route.fulfill({
        json: {
          items: [
            {
              threadId: active[0]!.threadId,
              subject: active[0]!.subject,
              participants: active[0]!.participants,
              scheduledAt: soon(-1),
              due: true,
              followupCount: 0,
              reason: 'No reply 3 days after the application',
            },
            {
              threadId: active[1]!.threadId,
              subject: active[1]!.subject,
              participants: active[1]!.participants,
              scheduledAt: soon(30),
              due: false,
              followupCount: 1,
              reason: 'Second nudge: no reply a week after the first follow-up',
            },
          ],
        },
      }),
    );
    await page.route('**/api/v1/accounts', (route) =>
      route.fulfill({
        json: {
          items: [
            {
              id: 'acc-1',
              provider: 'gmail',
              email: 'me@gmail.example',
              status: 'syncing',
              lastSyncAt: soon(-2),
              lastError: null,
              throttledUntil: null,
              progress: { phase: 'Reading sent mail', done: 1840, total: 5200 },
            },
            {
              id: 'acc-2',
              provider: 'imap',
              email: 'me@fastmail.example',
              status: 'needs_reconnect',
              lastSyncAt: soon(-50),
              lastError: 'The password was refused (AUTHENTICATIONFAILED)',
              throttledUntil: null,
              progress: null,
            },
          ],
        },
      }),
    );
    await page.goto(`${server.url}/followups`);
    const items = page.locator('.followup-item');
    await expect.poll(() => items.count()).toBe(2);
    expect(await items.first().textContent()).toContain('Due');
    expect(await items.first().textContent()).toContain('No reply 3 days after the application');
    await saveScreenshot(page, 'followups-with-schedule-desktop');

    await page.goto(`${server.url}/accounts`);
    await expect.poll(() => page.locator('.account').count()).toBe(2);
    const meter = page.getByRole('progressbar', { name: 'Sync progress of me@gmail.example' });
    expect(await meter.getAttribute('aria-valuenow')).toBe('35');
    await page.getByRole('button', { name: 'Add IMAP account' }).click();
    await expect.poll(() => page.getByLabel('IMAP server').count()).toBe(1);
    await saveScreenshot(page, 'accounts-with-accounts-desktop');
    await page.unroute('**/api/v1/followups');
    await page.unroute('**/api/v1/accounts');
  });

  it('lays every page out at phone width without sideways scrolling', async () => {
    const phone = await browser.newContext({
      viewport: PHONE,
      timezoneId: ZONE,
      locale: 'en-US',
      isMobile: true,
    });
    const small = await phone.newPage();
    const errors = trackPageErrors(small);
    for (const [path, name] of [
      ['/analytics', 'analytics-phone'],
      ['/followups', 'followups-phone'],
      ['/accounts', 'accounts-phone'],
      [`/threads/${seeded[0]!.threadId}`, 'thread-followup-phone'],
    ] as const) {
      await small.goto(`${server.url}${path}`);
      await small.waitForLoadState('networkidle');
      if (path === '/analytics') {
        await expect.poll(() => small.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
      }
      expect(
        await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
      ).toBeLessThanOrEqual(0);
      await saveScreenshot(small, name);
    }
    expect(errors).toEqual([]);
    await phone.close();
  });

  it('never crashed', () => {
    expect(pageErrors).toEqual([]);
  });
});
