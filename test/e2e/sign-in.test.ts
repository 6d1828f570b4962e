// JWT mode: the sign-in screen, a pasted token, and Supabase Auth's password grant (answered here by a routed fake
// of Supabase, since the real one is not reachable from a test), staying signed in across reloads, signing out.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../../src/api/auth/authenticator.ts';
import { describeWithService } from '../harness/require-services.ts';
import {
  apiClient,
  DESKTOP,
  ensureWebBuild,
  launchChromium,
  PHONE,
  type RunningServer,
  saveScreenshot,
  startServer,
  trackPageErrors,
} from './support.ts';

const SECRET = 'e2e-secret-that-is-long-enough-for-hs256-0123456789';
const SUPABASE_URL = 'http://supabase.test';

describeWithService('chromium', 'web app: sign-in in jwt mode', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];

  const tokenFor = (userId: string) =>
    mintToken({
      secret: SECRET,
      userId,
      ttlSeconds: 3600,
      issuer: `${SUPABASE_URL}/auth/v1`,
      audience: 'authenticated',
    });

  beforeAll(async () => {
    await ensureWebBuild();
    [server, browser] = await Promise.all([
      startServer({
        AUTH_MODE: 'jwt',
        SUPABASE_URL,
        SUPABASE_JWT_SECRET: SECRET,
        SUPABASE_ANON_KEY: 'public-anon-key',
      }),
      launchChromium(),
    ]);
    for (const [user, subject] of [
      ['alice', 'Application: Designer at Initech'],
      ['bob', 'Sales: renewal for Globex'],
    ] as const) {
      await apiClient(server.url, await tokenFor(user)).post('/threads', {
        threadId: `${user}-1`,
        subject,
        participants: ['someone@example.com'],
        lastActivity: new Date().toISOString(),
      });
    }
    context = await browser.newContext({ viewport: DESKTOP, timezoneId: 'UTC', locale: 'en-US' });
    page = await context.newPage();
    pageErrors = trackPageErrors(page);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  it('asks to sign in, and refuses a token the server does not accept', async () => {
    await page.goto(`${server.url}/threads`);
    await expect.poll(() => page.getByRole('heading', { name: 'Sign in' }).count()).toBe(1);
    expect(await page.getByLabel('Email').count()).toBe(1);
    await saveScreenshot(page, 'sign-in-desktop');
    await page.getByLabel('Access token').fill('not.a.valid-token');
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('That token was not accepted');
  });

  it('signs in with email and password through Supabase Auth, and stays signed in', async () => {
    const aliceToken = await tokenFor('alice');
    let sent: { apikey?: string; body?: unknown } = {};
    await page.route(`${SUPABASE_URL}/auth/v1/token?grant_type=password`, async (route) => {
      const request = route.request();
      sent = { apikey: request.headers().apikey, body: request.postDataJSON() };
      await route.fulfill({
        status: 200,
        contentType: 'application/json',
        headers: { 'access-control-allow-origin': '*' },
        body: JSON.stringify({ access_token: aliceToken, refresh_token: 'refresh-1', expires_in: 3600 }),
      });
    });
    await page.getByLabel('Email').fill('alice@example.com');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.locator('[data-thread-id="alice-1"]').count()).toBe(1);
    expect(sent).toEqual({
      apikey: 'public-anon-key',
      body: { email: 'alice@example.com', password: 'correct horse' },
    });
    expect(await page.locator('[data-thread-id="bob-1"]').count()).toBe(0);
    expect(await page.locator('.account-chip').textContent()).toContain('alice');

    await page.reload();
    await expect.poll(() => page.locator('[data-thread-id="alice-1"]').count()).toBe(1);
  });

  it('signs out, forgetting the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Sign in' }).count()).toBe(1);
    expect(await page.evaluate(() => localStorage.getItem('thread-tracker.token'))).toBeNull();
    await page.reload();
    await expect.poll(() => page.getByRole('heading', { name: 'Sign in' }).count()).toBe(1);
  });

  it('signs in with a pasted token', async () => {
    await page.getByLabel('Access token').fill(await tokenFor('bob'));
    await page.getByRole('button', { name: 'Sign in with token' }).click();
    await expect.poll(() => page.locator('[data-thread-id="bob-1"]').count()).toBe(1);
  });

  it('fits a phone screen', async () => {
    const phone = await browser.newContext({ viewport: PHONE, isMobile: true });
    const small = await phone.newPage();
    await small.goto(`${server.url}/`);
    await expect.poll(() => small.getByRole('heading', { name: 'Sign in' }).count()).toBe(1);
    expect(
      await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    ).toBeLessThanOrEqual(0);
    await saveScreenshot(small, 'sign-in-phone');
    await phone.close();
  });

  it('never crashed', () => {
    expect(pageErrors).toEqual([]);
  });
});
