// The threads list and the thread page in Chromium against the real server: list, filter, search, open, hide
// (and that it survives a reload), bulk archive, keyboard navigation, and a refused change rolled back visibly.
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
  hidden: boolean;
  status: string;
  emailType: string | null;
}

describeWithService('chromium', 'web app: threads', () => {
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
    const lead = await api.post<{ id: string }>('/leads', {
      name: 'Ana Ruiz',
      email: 'ana@acme.example',
      company: 'Acme',
    });
    seeded = makeThreads(240, { leadIds: [lead.id] });
    await seedThreads(api, seeded);
    context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'UTC', locale: 'en-US' });
    page = await context.newPage();
    pageErrors = trackPageErrors(page);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  const rows = () => page.locator('[role="row"][data-thread-id]');
  const row = (threadId: string) => page.locator(`[role="row"][data-thread-id="${threadId}"]`);
  const visibleByDefault = () =>
    seeded
      .filter((t) => (t.status ?? 'active') === 'active' && !t.hidden)
      .sort((a, b) => b.lastActivity.localeCompare(a.lastActivity));

  it('lists the threads newest activity first, with every column', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForURL(/\/threads$/);
    const grid = page.getByRole('grid', { name: 'Threads' });
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    for (const header of [
      'Subject',
      'Participants',
      'Type',
      'Status',
      'Last activity',
      'Follow-up',
      'Reply',
    ]) {
      expect(await grid.getByRole('columnheader', { name: header }).count()).toBe(1);
    }
    const expected = visibleByDefault();
    const first = expected[0]!;
    const firstRow = rows().first();
    expect(await firstRow.getAttribute('data-thread-id')).toBe(first.threadId);
    await expect.poll(() => firstRow.textContent()).toContain(first.subject);
    const text = await firstRow.textContent();
    expect(text).toContain(first.participants[0]!);
    expect(text).toMatch(first.responseTimeHours === null ? /Awaiting reply/ : /Replied after/);
    expect(text).toMatch(/ago|just now/);
    await expect.poll(() => page.locator('.page__meta').textContent()).toMatch(/^\d+\+? threads$/);
    await saveScreenshot(page, 'threads-desktop');
  });

  it('filters by type, reflects it in the URL, and the back button restores the list', async () => {
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    await page.getByLabel('Type').selectOption('manual');
    await page.waitForURL(/type=manual/);
    await expect
      .poll(async () => {
        const types = await page.locator('[role="row"][data-thread-id] .tcell--type').allInnerTexts();
        return types.length > 0 && types.every((t) => t === 'Manual');
      })
      .toBe(true);
    const manualIds = visibleByDefault()
      .filter((t) => t.emailType === 'manual')
      .map((t) => t.threadId);
    expect(await rows().first().getAttribute('data-thread-id')).toBe(manualIds[0]);

    // A shared link opens the same view.
    const shared = page.url();
    const other = await context.newPage();
    await other.goto(shared);
    await expect.poll(() => other.getByLabel('Type').inputValue()).toBe('manual');
    await other.close();

    await page.goBack();
    await page.waitForURL(/\/threads$/);
    await expect.poll(() => page.getByLabel('Type').inputValue()).toBe('any');
    await expect
      .poll(() => rows().first().getAttribute('data-thread-id'))
      .toBe(visibleByDefault()[0]!.threadId);
  });

  it('searches subject and participants', async () => {
    await page.goto(`${server.url}/threads`);
    await page.getByRole('searchbox', { name: 'Search threads' }).fill('wonka');
    await page.waitForURL(/q=wonka/);
    const expected = visibleByDefault().filter((t) =>
      `${t.subject} ${t.participants.join(' ')}`.toLowerCase().includes('wonka'),
    );
    await expect.poll(() => rows().count()).toBe(expected.length);
    for (const text of await rows().allInnerTexts()) expect(text.toLowerCase()).toContain('wonka');
    await page.getByRole('button', { name: 'Clear search' }).click();
    await page.waitForURL(/\/threads$/);
  });

  it('opens a thread with its details and history', async () => {
    const target = visibleByDefault()[2]!;
    await page.goto(`${server.url}/threads`);
    await row(target.threadId).getByRole('link').click();
    await page.waitForURL(new RegExp(`/threads/${target.threadId}$`));
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe(target.subject);
    const history = page.getByRole('region', { name: 'History' });
    await expect.poll(() => history.textContent()).toContain('Started tracking');
    const details = page.getByRole('region', { name: 'Details' });
    expect(await details.textContent()).toContain(target.threadId);
    await saveScreenshot(page, 'thread-desktop');
  });

  it('hides a thread, and it stays hidden after a reload', async () => {
    const target = visibleByDefault()[3]!;
    await page.goto(`${server.url}/threads/${target.threadId}`);
    await page.getByRole('button', { name: 'Hide', exact: true }).click();
    await expect.poll(() => page.getByRole('button', { name: 'Unhide' }).count()).toBe(1);
    await expect.poll(async () => (await api.get<Thread>(`/threads/${target.threadId}`)).hidden).toBe(true);
    await page.reload();
    await expect.poll(() => page.getByRole('button', { name: 'Unhide' }).count()).toBe(1);
    await expect.poll(() => page.getByRole('region', { name: 'History' }).textContent()).toContain('Hidden');

    // Gone from the default list, present among the hidden ones.
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    expect(await row(target.threadId).count()).toBe(0);
    await page.getByLabel('Hidden').selectOption('only');
    await expect.poll(() => row(target.threadId).count()).toBe(1);
  });

  it('archives several threads at once and offers an undo', async () => {
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    const ids = await Promise.all([0, 1, 2].map((i) => rows().nth(i).getAttribute('data-thread-id')));
    await rows().nth(0).getByRole('checkbox').click();
    await rows()
      .nth(2)
      .getByRole('checkbox')
      .click({ modifiers: ['Shift'] });
    const toolbar = page.getByRole('toolbar', { name: 'Selected threads' });
    await expect.poll(() => toolbar.textContent()).toContain('3 selected');
    await toolbar.getByRole('button', { name: 'Archive', exact: true }).click();
    for (const id of ids) await expect.poll(() => row(id!).count()).toBe(0);
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'Archived 3 threads' }).count())
      .toBe(1);
    for (const id of ids) {
      await expect.poll(async () => (await api.get<Thread>(`/threads/${id}`)).status).toBe('archived');
    }
    await page.getByRole('button', { name: 'Undo' }).click();
    for (const id of ids) {
      await expect.poll(async () => (await api.get<Thread>(`/threads/${id}`)).status).toBe('active');
    }
    for (const id of ids) await expect.poll(() => row(id!).count()).toBe(1);
  });

  it('moves through rows with the keyboard and opens one with Enter', async () => {
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    const second = await rows().nth(1).getAttribute('data-thread-id');
    await rows().first().focus();
    await page.keyboard.press('ArrowDown');
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-index')))
      .toBe('1');
    await page.keyboard.press('Space');
    expect(await rows().nth(1).getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('Space');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/threads/${second}$`));
  });

  it('shows the server’s refusal and rolls the change back', async () => {
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => rows().count()).toBeGreaterThan(10);
    const target = (await rows().nth(4).getAttribute('data-thread-id'))!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(`**/api/v1/threads/bulk`, async (route) => {
      await held;
      await route.fulfill({
        status: 500,
        contentType: 'application/problem+json',
        body: JSON.stringify({
          type: 'urn:thread-tracker:problem:internal',
          title: 'Internal Server Error',
          status: 500,
          detail: 'The database is taking a break',
          code: 'INTERNAL',
        }),
      });
    });
    await row(target).getByRole('checkbox').click();
    await page
      .getByRole('toolbar', { name: 'Selected threads' })
      .getByRole('button', { name: 'Hide', exact: true })
      .click();
    // Optimistic: gone at once, before the server has answered.
    await expect.poll(() => row(target).count()).toBe(0);
    release();
    const alert = page.getByRole('alert').filter({ hasText: 'The database is taking a break' });
    await expect.poll(() => alert.count()).toBe(1);
    await expect.poll(() => row(target).count()).toBe(1);
    expect((await api.get<Thread>(`/threads/${target}`)).hidden).toBe(false);
    await page.unroute('**/api/v1/threads/bulk');
  });

  it('rolls back a refused change on the thread page too', async () => {
    const target = visibleByDefault()[6]!;
    await page.route(`**/api/v1/threads/${target.threadId}/archive`, (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/problem+json',
        body: JSON.stringify({
          title: 'Internal Server Error',
          status: 500,
          detail: 'Archive is down',
          code: 'X',
        }),
      }),
    );
    await page.goto(`${server.url}/threads/${target.threadId}`);
    await page.getByRole('button', { name: 'Archive' }).click();
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Archive is down' }).count()).toBe(1);
    await expect.poll(() => page.locator('.thread-header .badge').textContent()).toBe('Active');
    expect(await page.getByRole('button', { name: 'Archive' }).count()).toBe(1);
    await page.unroute(`**/api/v1/threads/${target.threadId}/archive`);
  });

  it('works at phone width', async () => {
    const phone = await browser.newContext({
      viewport: PHONE,
      timezoneId: 'UTC',
      locale: 'en-US',
      isMobile: true,
    });
    const small = await phone.newPage();
    const errors = trackPageErrors(small);
    await small.goto(`${server.url}/threads`);
    await expect.poll(() => small.locator('[role="row"][data-thread-id]').count()).toBeGreaterThan(5);
    const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await saveScreenshot(small, 'threads-phone');
    await small.locator('summary', { hasText: 'Filters' }).click();
    await small.getByLabel('Type').selectOption('application');
    await small.waitForURL(/type=application/);
    await saveScreenshot(small, 'threads-phone-filters');
    const target = visibleByDefault()[0]!;
    await small.goto(`${server.url}/threads/${target.threadId}`);
    await expect.poll(() => small.getByRole('heading', { level: 1 }).textContent()).toBe(target.subject);
    expect(
      await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0);
    await saveScreenshot(small, 'thread-phone');
    expect(errors).toEqual([]);
    await phone.close();
  });

  it('never crashed', () => {
    expect(pageErrors).toEqual([]);
  });
});
