/**
 * Gmail sync with the real @googleapis/gmail client against the in-repo emulator (test/emulators/gmail): the
 * connect flow through the API (consent URL, PKCE, callback, sealed tokens), a paged first sync equal to the
 * mailbox, history-based increments, rate limits (429 and 403 with Retry-After) that neither lose nor repeat a
 * position, an expired history id (full resync, exact), token refresh, revoked access (needs_reconnect, then
 * reconnect), push notifications, and sending in a thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemMessageId } from '../../src/domain/detection.ts';
import { accountClient } from '../../src/mail/gmail/gmail-client.ts';
import { GmailProvider } from '../../src/mail/gmail/gmail-provider.ts';
import { AesGcmSecretBox } from '../../src/mail/secret-box.ts';
import { systemClock } from '../../src/ports/clock.ts';
import type { GmailCredentials } from '../../src/ports/mail-provider.ts';
import { credentialsContext } from '../../src/service/sync-runner.ts';
import { GmailEmulator } from '../emulators/gmail/gmail-emulator.ts';
import { allThreads, expectEvents, expectMailbox, threadFor } from '../support/mail-assertions.ts';
import { buildCorpus, type Corpus, replyTo, USER } from '../support/mail-corpus.ts';
import { loadIntoEmulator } from '../support/mail-fixtures.ts';
import { createMailSyncApp, type MailSyncApp, TEST_TOKEN_KEY } from '../support/mail-sync-app.ts';

const CLIENT = { clientId: 'client-1.apps.googleusercontent.com', clientSecret: 'client-secret-1' };
const REDIRECT = 'http://127.0.0.1:3000/api/v1/accounts/gmail/callback';
const AUDIENCE = 'https://tracker.test/api/v1/accounts/gmail/push';
const START = new Date(Date.now() - 20 * 86_400_000);

describe('Gmail sync against the Gmail API emulator', () => {
  let emulator: GmailEmulator;
  let ctx: MailSyncApp;
  let corpus: Corpus;
  let accountId: string;
  const secrets = new AesGcmSecretBox(TEST_TOKEN_KEY);

  const sync = async () => {
    const outcome = await ctx.service.syncNow('me', accountId);
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'synced' });
    return outcome.status === 'synced' ? outcome.result : undefined;
  };
  const calls = (route: string) => emulator.calls.get(route) ?? 0;
  const credentials = async () => {
    const account = await ctx.accounts.get('me', accountId);
    return JSON.parse(
      secrets.open(account!.sealedCredentials!, credentialsContext(accountId)),
    ) as GmailCredentials;
  };

  /** The browser's trip: our connect route → Google's consent page → back to our callback. */
  async function connect(): Promise<string> {
    const start = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/accounts/gmail/connect',
      payload: {},
    });
    expect(start.statusCode).toBe(200);
    const consent = await fetch(start.json().url, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const back = new URL(consent.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    const callback = await ctx.app.inject({
      method: 'GET',
      url: `/api/v1/accounts/gmail/callback${back.search}`,
    });
    expect(callback.statusCode).toBe(302);
    return callback.headers.location as string;
  }

  beforeAll(async () => {
    emulator = await GmailEmulator.start(CLIENT);
    ctx = await createMailSyncApp({
      google: emulator.settings(REDIRECT),
      push: { jwksUrl: `${emulator.url}/oauth2/v3/certs`, audience: AUDIENCE },
      pageSize: 10,
      concurrency: 4,
      runner: { pushTopic: 'projects/tracker/topics/gmail' },
    });
    corpus = buildCorpus({ threads: 60, start: START });
    emulator.consentAs(USER);
    loadIntoEmulator(emulator, corpus);
  });
  afterAll(async () => {
    await ctx?.close();
    await emulator?.close();
  });

  describe('connecting', () => {
    it('the consent URL asks for read, send and compose, offline, with PKCE and a sealed state', async () => {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/accounts/gmail/connect',
        payload: {},
      });
      const url = new URL(res.json().url);
      expect(url.origin + url.pathname).toBe(`${emulator.url}/o/oauth2/v2/auth`);
      expect(url.searchParams.get('scope')!.split(' ').sort()).toEqual([
        'https://www.googleapis.com/auth/gmail.compose',
        'https://www.googleapis.com/auth/gmail.readonly',
        'https://www.googleapis.com/auth/gmail.send',
      ]);
      expect(url.searchParams.get('access_type')).toBe('offline');
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');
      expect(url.searchParams.get('state')).toMatch(/^v1\./);
      expect(url.searchParams.get('client_id')).toBe(CLIENT.clientId);
    });

    it('a forged or tampered state is refused, and nothing is saved', async () => {
      for (const state of ['forged', `v1.${'A'.repeat(40)}`]) {
        const res = await ctx.app.inject({
          method: 'GET',
          url: `/api/v1/accounts/gmail/callback?code=whatever&state=${encodeURIComponent(state)}`,
        });
        expect(res.statusCode).toBe(302);
        expect(res.headers.location).toBe('/accounts?error=OAUTH_STATE_INVALID');
      }
      const denied = await ctx.app.inject({
        method: 'GET',
        url: '/api/v1/accounts/gmail/callback?error=access_denied',
      });
      expect(denied.headers.location).toBe('/accounts?error=MAIL_AUTH_REVOKED');
      expect((await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json()).toEqual({
        items: [],
      });
    });

    it('the callback stores the tokens sealed and the account appears', async () => {
      expect(await connect()).toBe(`/accounts?connected=${encodeURIComponent(USER)}`);
      const list = await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' });
      const [account] = list.json().items;
      expect(account).toMatchObject({ provider: 'gmail', email: USER, status: 'active' });
      accountId = account.id;
      const stored = await ctx.accounts.get('me', accountId);
      const tokens = await credentials();
      expect(tokens.refreshToken).toMatch(/^refresh-/);
      expect(stored!.sealedCredentials).not.toContain(tokens.refreshToken);
      expect(list.body).not.toContain(tokens.refreshToken);
    });
  });

  describe('first sync', () => {
    it('lists sent threads page by page, fetches each once, and equals the mailbox', async () => {
      const result = await sync();
      const listed = corpus.threads.length; // every corpus thread has a message of the user's; newsletters none
      expect(calls('GET threads')).toBe(Math.ceil(listed / 10));
      expect(calls('GET threads/:id')).toBe(listed);
      expect(result!.messages).toBe(corpus.messages.filter((m) => m.thread >= 0).length);
      expectMailbox(await allThreads(ctx.test.service), corpus);
      await expectEvents(ctx.test.service, corpus);
      const account = await ctx.service.get('me', accountId);
      expect(account.cursor).toMatchObject({ mode: 'incremental' });
    });

    it('renews push (users.watch) after a sync', async () => {
      expect(calls('POST watch')).toBe(1);
      const account = await ctx.accounts.get('me', accountId);
      expect(Date.parse(account!.pushExpiresAt!)).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    });
  });

  describe('incremental sync', () => {
    it('reads history: a reply counts, its event recorded, the follow-up cancelled', async () => {
      const t = 10;
      const before = threadFor(await allThreads(ctx.test.service), corpus, t)!;
      await ctx.test.service.scheduleFollowup(
        'me',
        before.threadId,
        new Date(Date.now() + 86_400_000).toISOString(),
      );
      emulator.deliver(USER, replyTo(corpus, t, new Date()).raw, { labels: ['INBOX'] });
      const listsBefore = calls('GET threads');
      await sync();
      expect(calls('GET threads')).toBe(listsBefore);
      const after = await ctx.test.service.getThread('me', before.threadId);
      expect(after).toMatchObject({ messageCount: 2, followupScheduled: false, replyRate: 100 });
      const types = (await ctx.test.service.getThreadEvents('me', before.threadId)).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['reply_detected', 'followup_cancelled']));
    });

    it('a short rate limit (429, Retry-After 1 s) is waited out within the run; no page is read twice', async () => {
      const targets = [20, 30, 40, 50].map((t) => ({ t, reply: replyTo(corpus, t, new Date()) }));
      for (const { reply } of targets) emulator.deliver(USER, reply.raw, { labels: ['INBOX'] });
      emulator.throttle({ status: 429, retryAfterSeconds: 1, path: /threads\/:id/, calls: 1 });
      const historyBefore = calls('GET history');
      const started = Date.now();
      await sync();
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      // One history page, read again after the wait (it had not been committed).
      expect(calls('GET history') - historyBefore).toBe(2);
      const threads = await allThreads(ctx.test.service);
      for (const { t } of targets) {
        expect(threadFor(threads, corpus, t)).toMatchObject({
          messageCount: corpus.threads[t]!.messageCount + 1,
        });
      }
      expect(await ctx.service.get('me', accountId)).toMatchObject({ throttledUntil: null, lastError: null });
    });

    it('a long rate limit (403 with "Retry after" a minute) ends the run: throttledUntil shown, position kept', async () => {
      const reply = replyTo(corpus, 12, new Date());
      emulator.deliver(USER, reply.raw, { labels: ['INBOX'] });
      const cursorBefore = (await ctx.accounts.get('me', accountId))!.cursor;
      emulator.throttle({ status: 403, retryAfterSeconds: 60, path: /history/, calls: 2 });
      const outcome = await ctx.service.syncNow('me', accountId);
      expect(outcome).toMatchObject({ status: 'failed', code: 'MAIL_RATE_LIMITED' });
      const account = await ctx.service.get('me', accountId);
      expect(account.lastErrorCode).toBe('MAIL_RATE_LIMITED');
      expect(Date.parse(account.throttledUntil!)).toBeGreaterThan(Date.now() + 50_000);
      expect(account.status).toBe('active');
      expect((await ctx.accounts.get('me', accountId))!.cursor).toEqual(cursorBefore);
      // The API shows it; the next run (asked for, the provider now answering) goes on from the same position.
      const api = await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' });
      expect(api.json().items[0].throttledUntil).toBe(account.throttledUntil);
      await sync();
      expect(threadFor(await allThreads(ctx.test.service), corpus, 12)).toMatchObject({
        messageCount: corpus.threads[12]!.messageCount + 1,
      });
      expect(await ctx.service.get('me', accountId)).toMatchObject({
        throttledUntil: null,
        lastErrorCode: null,
      });
    });

    it('an expired history id (404) resyncs in full: deletions seen, nothing doubled, events once', async () => {
      const gone = corpus.threads[0]!; // shape 0: one sent message
      const goneThread = threadFor(await allThreads(ctx.test.service), corpus, 0)!;
      emulator.deleteMessage(USER, emulator.findByMessageId(USER, gone.messageIds[0]!)!.id);
      emulator.deliver(USER, replyTo(corpus, 15, new Date()).raw, { labels: ['INBOX'] });
      emulator.expireHistory(USER);
      const eventsBefore = await ctx.test.service.listEvents('me', { limit: 100_000 });
      const listsBefore = calls('GET threads');
      await sync();
      expect(calls('GET threads')).toBeGreaterThan(listsBefore);
      expect((await ctx.test.service.getThread('me', goneThread.threadId)).status).toBe('deleted');
      const live = (await allThreads(ctx.test.service)).filter((t) => t.status === 'active');
      expect(live).toHaveLength(corpus.threads.length - 1);
      expect(threadFor(live, corpus, 15)).toMatchObject({
        messageCount: corpus.threads[15]!.messageCount + 1,
      });
      const eventsAfter = await ctx.test.service.listEvents('me', { limit: 100_000 });
      const added = eventsAfter.slice(eventsBefore.length).map((e) => e.type);
      expect(added.filter((t) => t === 'reply_detected')).toHaveLength(1);
      expect(added.filter((t) => t === 'deleted')).toHaveLength(1);
      const account = await ctx.service.get('me', accountId);
      expect(account.cursor).toMatchObject({ mode: 'incremental' });
    });

    it('expired access tokens are refreshed, and the new token is stored sealed', async () => {
      const before = await credentials();
      emulator.expireTokens();
      await sync();
      const after = await credentials();
      expect(after.accessToken).not.toBe(before.accessToken);
      expect(after.refreshToken).toBe(before.refreshToken);
    });
  });

  describe('push', () => {
    it('a push signed by Google starts a sync of that mailbox; a forged one is refused', async () => {
      ctx.runner.start();
      try {
        emulator.deliver(USER, replyTo(corpus, 21, new Date()).raw, { labels: ['INBOX'] });
        const push = async (audience: string) => {
          const { authorization, body } = await emulator.push(USER, audience);
          return ctx.app.inject({
            method: 'POST',
            url: '/api/v1/accounts/gmail/push',
            headers: { authorization },
            payload: body,
          });
        };
        expect((await push('https://someone-else.test/push')).statusCode).toBe(401);
        const accepted = await push(AUDIENCE);
        expect(accepted.statusCode).toBe(204);
        await expect
          .poll(async () => threadFor(await allThreads(ctx.test.service), corpus, 21)?.messageCount, {
            timeout: 10_000,
          })
          .toBe(corpus.threads[21]!.messageCount + 1);
      } finally {
        await ctx.runner.stop();
      }
    });
  });

  describe('sending', () => {
    it('a follow-up sent in the thread (threadId, In-Reply-To, References) is recognised as the system’s', async () => {
      const t = 13;
      const expected = corpus.threads[t]!;
      const thread = threadFor(await allThreads(ctx.test.service), corpus, t)!;
      const { gmail } = accountClient(emulator.settings(REDIRECT), await credentials(), () => {});
      const provider = new GmailProvider({
        gmail,
        email: USER,
        clock: systemClock,
        pageSize: 10,
        concurrency: 2,
      });
      const messageId = systemMessageId('2d3f2a10-0b1c-4d5e-8f90-a1b2c3d4e5f6', 'alice.test');
      const sent = await provider.send({
        messageId,
        from: USER,
        to: [`c${t}@contacts.test`],
        subject: `Re: ${expected.subject}`,
        text: 'Following up.',
        inReplyTo: expected.messageIds.at(-1)!,
        references: expected.messageIds,
        providerThreadId: thread.threadId,
      });
      expect(sent.providerThreadId).toBe(thread.threadId);
      const again = await provider.send({
        messageId,
        from: USER,
        to: ['x@contacts.test'],
        subject: 'x',
        text: 'x',
      });
      expect(again.providerMessageId).toBe(sent.providerMessageId);
      expect(await provider.findByMessageId(messageId)).toMatchObject({ providerThreadId: thread.threadId });
      const draft = await provider.createDraft({
        messageId: systemMessageId('3d3f2a10-0b1c-4d5e-8f90-a1b2c3d4e5f6', 'alice.test'),
        from: USER,
        to: [`c${t}@contacts.test`],
        subject: `Re: ${expected.subject}`,
        text: 'A draft.',
        providerThreadId: thread.threadId,
      });
      expect(draft.draftId).toMatch(/^r/);
      await sync();
      expect(await ctx.test.service.getThread('me', thread.threadId)).toMatchObject({
        messageCount: expected.messageCount + 1,
        emailType: 'auto_followup',
      });
    });
  });

  describe('revoked access', () => {
    it('marks the account needs_reconnect; connecting again makes it active and it syncs', async () => {
      emulator.revoke(USER);
      const outcome = await ctx.service.syncNow('me', accountId);
      expect(outcome).toMatchObject({ status: 'failed', code: 'MAIL_AUTH_REVOKED' });
      const account = (await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json().items[0];
      expect(account).toMatchObject({ status: 'needs_reconnect', lastErrorCode: 'MAIL_AUTH_REVOKED' });
      expect(await connect()).toBe(`/accounts?connected=${encodeURIComponent(USER)}`);
      const items = (await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json().items;
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ id: accountId, status: 'active', lastError: null });
      await sync();
    });
  });
});

describe('Gmail not configured', () => {
  it('connect answers 503 MAIL_NOT_CONFIGURED with what to set', async () => {
    const ctx = await createMailSyncApp();
    try {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/accounts/gmail/connect',
        payload: {},
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'MAIL_NOT_CONFIGURED' });
      expect(res.json().detail).toContain('GOOGLE_CLIENT_ID');
    } finally {
      await ctx.close();
    }
  });
});
