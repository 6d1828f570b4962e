/**
 * IMAP sync against a real Dovecot: an account added through the API (its IMAP and SMTP logins checked), a first
 * sync that must equal the mailbox thread for thread, then each kind of change: a reply (event, follow-up
 * cancelled), an auto-reply and a bounce (events, not replies), an expunge, a UIDVALIDITY change, mail sent through
 * SMTP with a system Message-ID (appended to Sent, recognised on the next sync), drafts and Message-ID search.
 */
import { Writable } from 'node:stream';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemMessageId } from '../../src/domain/detection.ts';
import { createLogger } from '../../src/logger.ts';
import { ImapProvider } from '../../src/mail/imap/imap-provider.ts';
import { systemClock } from '../../src/ports/clock.ts';
import { type DovecotServer, startDovecot } from '../harness/dovecot.ts';
import { describeWithService } from '../harness/require-services.ts';
import { allThreads, expectEvents, expectMailbox } from '../support/mail-assertions.ts';
import { buildCorpus, type Corpus, replyTo, USER } from '../support/mail-corpus.ts';
import { appendToDovecot, loopbackServers } from '../support/mail-fixtures.ts';
import { createMailSyncApp, type MailSyncApp } from '../support/mail-sync-app.ts';
import { type SmtpRelay, startSmtpRelay } from '../support/smtp-relay.ts';

const PASSWORD = 'alice-imap-password';
const BOB = 'bob@contacts.test';
const START = new Date(Date.now() - 20 * 86_400_000);

describeWithService('dovecot', 'IMAP sync against Dovecot', () => {
  let dovecot: DovecotServer;
  let relay: SmtpRelay;
  let ctx: MailSyncApp;
  let corpus: Corpus;
  let accountId: string;
  let leadId: string;
  const logs: string[] = [];

  const servers = () => loopbackServers(dovecot, relay);
  const imapInput = () => ({ email: USER, ...servers(), password: PASSWORD });

  const sync = async () => {
    const outcome = await ctx.service.syncNow('me', accountId);
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'synced' });
    return outcome.status === 'synced' ? outcome.result : undefined;
  };

  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [
        { user: USER, password: PASSWORD },
        { user: BOB, password: 'bob-password' },
      ],
    });
    relay = await startSmtpRelay(dovecot);
    ctx = await createMailSyncApp({
      pageSize: 40,
      logger: createLogger({
        level: 'debug',
        format: 'json',
        destination: new Writable({
          write(chunk, _encoding, done) {
            logs.push(String(chunk));
            done();
          },
        }),
      }),
    });
    corpus = buildCorpus({ threads: 60, start: START });
    await appendToDovecot(dovecot, corpus);
    leadId = (await ctx.test.leads.create('me', { name: 'Eleven', email: 'C11@contacts.test' })).id;
  });
  afterAll(async () => {
    await ctx?.close();
    await relay?.close();
    await dovecot?.stop();
  });

  describe('adding the account', () => {
    it('refuses a wrong password, pointing at the password field, and saves nothing', async () => {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/accounts/imap',
        payload: { ...imapInput(), password: 'wrong' },
      });
      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({ code: 'MAIL_AUTH_REVOKED', errors: [{ path: 'password' }] });
      expect(res.body).not.toContain('wrong');
      expect((await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json()).toEqual({
        items: [],
      });
    });

    it('refuses an unreachable SMTP server, pointing at smtpHost', async () => {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/accounts/imap',
        payload: { ...imapInput(), smtpPort: 1 },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'MAIL_TEMPORARY', errors: [{ path: 'smtpHost' }] });
    });

    it('is in the OpenAPI document', async () => {
      const paths = Object.keys(
        (await ctx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json().paths,
      );
      expect(paths).toEqual(
        expect.arrayContaining([
          '/api/v1/accounts',
          '/api/v1/accounts/imap',
          '/api/v1/accounts/gmail/connect',
          '/api/v1/accounts/gmail/callback',
          '/api/v1/accounts/{accountId}/sync',
        ]),
      );
    });

    it('adds it: 201, never showing the password; the credentials are sealed at rest', async () => {
      const res = await ctx.app.inject({
        method: 'POST',
        url: '/api/v1/accounts/imap',
        payload: imapInput(),
      });
      expect(res.statusCode).toBe(201);
      const account = res.json();
      expect(account).toMatchObject({ provider: 'imap', email: USER, lastSyncAt: null, progress: null });
      expect(res.body).not.toContain(PASSWORD);
      accountId = account.id;
      const stored = await ctx.accounts.get('me', accountId);
      expect(stored!.sealedCredentials).toMatch(/^v1\./);
      expect(stored!.sealedCredentials).not.toContain(PASSWORD);
      expect(JSON.stringify(stored!.settings)).not.toContain(PASSWORD);
      const list = await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' });
      expect(list.json().items).toHaveLength(1);
      expect(list.body).not.toContain(PASSWORD);
    });
  });

  describe('first sync', () => {
    it('equals the mailbox: every thread once, exact counts, replies and response times', async () => {
      const result = await sync();
      expect(result!.messages).toBe(corpus.messages.length);
      expectMailbox(await allThreads(ctx.test.service), corpus);
      const account = (await ctx.app.inject({ method: 'GET', url: `/api/v1/accounts/${accountId}` })).json();
      expect(account).toMatchObject({
        status: 'active',
        lastError: null,
        throttledUntil: null,
        progress: null,
      });
      expect(account.lastSyncAt).not.toBeNull();
      expect(Object.keys(account.cursor.folders).sort()).toEqual(['inbox', 'sent']);
    });

    it('records replies, auto-replies and bounces as events, once each', async () => {
      await expectEvents(ctx.test.service, corpus);
      const replies = corpus.threads.reduce((n, t) => n + t.events.reply, 0);
      expect(ctx.published.filter((e) => e.type === 'reply_detected')).toHaveLength(replies);
    });

    it('types threads by the rules and links leads by address', async () => {
      const threads = await allThreads(ctx.test.service);
      const bySubject = (s: string) => threads.find((t) => t.subject === s)!;
      expect(bySubject('Application for role 3').emailType).toBe('application');
      expect(bySubject('Outreach 4').emailType).toBe('followup');
      expect(bySubject('Outreach 1').emailType).toBe('manual');
      expect(threads.filter((t) => t.subject === 'Quick question')).toHaveLength(6);
      expect(bySubject('Outreach 11').leadId).toBe(leadId);
      expect(threads.filter((t) => t.leadId !== null)).toHaveLength(1);
      expect(threads.some((t) => t.subject?.startsWith('Weekly news'))).toBe(false);
    });

    it('a second sync with nothing new writes nothing', async () => {
      const before = await ctx.test.service.listEvents('me', { limit: 10_000 });
      const result = await sync();
      expect(result).toMatchObject({ messages: 0, threadsWritten: 0, events: 0 });
      expect(await ctx.test.service.listEvents('me', { limit: 10_000 })).toHaveLength(before.length);
    });
  });

  describe('incremental sync', () => {
    const threadOf = async (subject: string) =>
      (await allThreads(ctx.test.service)).find((t) => t.subject === subject)!;

    it('a reply: counted, its event recorded, the scheduled follow-up cancelled with reason reply', async () => {
      const t = 10; // shape 0: no answer yet
      const before = await threadOf(corpus.threads[t]!.subject);
      await ctx.test.service.scheduleFollowup(
        'me',
        before.threadId,
        new Date(Date.now() + 86_400_000).toISOString(),
      );
      await dovecot.deliver(USER, replyTo(corpus, t, new Date()).raw);
      await sync();
      const after = await ctx.test.service.getThread('me', before.threadId);
      expect(after).toMatchObject({ messageCount: 2, followupScheduled: false, replyRate: 100 });
      expect(after.responseTimeHours).not.toBeNull();
      const events = await ctx.test.service.getThreadEvents('me', before.threadId);
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['reply_detected', 'followup_cancelled', 'upserted']),
      );
      expect(events.find((e) => e.type === 'followup_cancelled')!.data).toMatchObject({ reason: 'reply' });
    });

    it('an auto-reply and a bounce: events, and still no reply', async () => {
      const t = 20; // shape 0
      const thread = await threadOf(corpus.threads[t]!.subject);
      await dovecot.deliver(
        USER,
        replyTo(corpus, t, new Date(), {
          id: `<ooo-${t}@contacts.test>`,
          subject: `Abwesenheitsnotiz: ${corpus.threads[t]!.subject}`,
        }).raw,
      );
      await sync();
      const after = await ctx.test.service.getThread('me', thread.threadId);
      expect(after).toMatchObject({ messageCount: 2, responseTimeHours: null, replyRate: 0 });
      const types = (await ctx.test.service.getThreadEvents('me', thread.threadId)).map((e) => e.type);
      expect(types).toContain('auto_reply_received');
      expect(types).not.toContain('reply_detected');
    });

    it('an expunged message leaves the counts; a thread whose sent message is gone is marked deleted', async () => {
      const client = new ImapFlow(dovecot.clientOptions(USER));
      await client.connect();
      const sent = (await client.list()).find((b) => b.specialUse === '\\Sent')!.path;
      await client.mailboxOpen(sent);
      const gone = corpus.threads[30]!; // shape 0: its one message is in Sent
      await client.messageDelete({ header: { 'message-id': gone.messageIds[0]! } });
      await client.mailboxOpen('INBOX');
      const replied = corpus.threads[31]!; // shape 1: drop the reply
      await client.messageDelete({ header: { 'message-id': replied.messageIds[1]! } });
      await client.logout();
      const goneThread = await threadOf(gone.subject);
      await sync();
      expect((await ctx.test.service.getThread('me', goneThread.threadId)).status).toBe('deleted');
      expect(await threadOf(replied.subject)).toMatchObject({ messageCount: 1 });
    });

    it('a UIDVALIDITY change resyncs the folder: the same threads, nothing doubled', async () => {
      const before = await allThreads(ctx.test.service);
      const client = new ImapFlow(dovecot.clientOptions(USER));
      await client.connect();
      // The Sent folder deleted and created again, with the same messages: a new UIDVALIDITY.
      const path = (await client.list()).find((b) => b.specialUse === '\\Sent')!.path;
      const old = await client.mailboxOpen(path);
      const messages = await client.fetchAll('1:*', { source: true, internalDate: true });
      await client.mailboxClose();
      await client.mailboxDelete(path);
      await client.mailboxCreate(path);
      for (const m of messages) await client.append(path, m.source!, ['\\Seen'], m.internalDate as Date);
      const renewed = await client.mailboxOpen(path);
      expect(String(renewed.uidValidity)).not.toBe(String(old.uidValidity));
      await client.logout();
      const account = await ctx.accounts.get('me', accountId);
      const stored = (account!.cursor as { folders: Record<string, { uidValidity: string }> }).folders.sent!;
      expect(stored.uidValidity).toBe(String(old.uidValidity));

      const result = await sync();
      expect(result!.messages).toBe(messages.length);
      const after = await allThreads(ctx.test.service);
      expect(after.map((t) => [t.threadId, t.messageCount, t.responseTimeHours])).toEqual(
        before.map((t) => [t.threadId, t.messageCount, t.responseTimeHours]),
      );
      const cursor = (await ctx.accounts.get('me', accountId))!.cursor as {
        folders: Record<string, { uidValidity: string }>;
      };
      expect(cursor.folders.sent!.uidValidity).toBe(String(renewed.uidValidity));
      const mirror = await ctx.mirror.load(accountId);
      const stale = mirror.messages.filter(
        (m) => m.folder === 'sent' && m.generation !== String(renewed.uidValidity),
      );
      expect(stale).toEqual([]);
    });
  });

  describe('sending', () => {
    const provider = () =>
      new ImapProvider({
        email: USER,
        settings: { ...servers(), appendToSent: true },
        credentials: { kind: 'imap', password: PASSWORD },
        clock: systemClock,
        pageSize: 50,
      });

    it('a follow-up in a thread: SMTP delivery with In-Reply-To and References, a Sent copy, recognised by sync', async () => {
      const t = 40; // shape 0
      const expected = corpus.threads[t]!;
      const opId = '7d3f2a10-0b1c-4d5e-8f90-a1b2c3d4e5f6';
      const messageId = systemMessageId(opId, 'alice.test');
      const p = provider();
      try {
        const sent = await p.send({
          messageId,
          from: USER,
          to: [BOB],
          subject: `Re: ${expected.subject}`,
          text: 'Following up.',
          inReplyTo: expected.messageIds.at(-1)!,
          references: expected.messageIds,
        });
        expect(sent.providerMessageId).toMatch(/^sent:\d+:\d+$/);
        // Sent again with the same Message-ID: recognised, not sent twice.
        await p.send({ messageId, from: USER, to: [BOB], subject: 'x', text: 'x' });
        expect(await p.findByMessageId(messageId)).toMatchObject({ folder: 'sent' });
        const draft = await p.createDraft({
          messageId: systemMessageId('9d3f2a10-0b1c-4d5e-8f90-a1b2c3d4e5f6', 'alice.test'),
          from: USER,
          to: [BOB],
          subject: 'A draft',
          text: 'Draft.',
        });
        expect(draft.draftId).toMatch(/^drafts:\d+:\d+$/);
      } finally {
        await p.close();
      }
      expect(relay.received.filter((r) => r.to.includes(BOB))).toHaveLength(1);
      const delivered = relay.received.find((r) => r.to.includes(BOB))!.raw.toString();
      expect(delivered).toContain(`Message-ID: ${messageId}`);
      expect(delivered).toContain(`In-Reply-To: ${expected.messageIds.at(-1)}`);

      const thread = (await allThreads(ctx.test.service)).find((x) => x.subject === expected.subject)!;
      await sync();
      expect(await ctx.test.service.getThread('me', thread.threadId)).toMatchObject({
        messageCount: 2,
        emailType: 'auto_followup',
        systemGenerated: false,
      });
    });

    it('a new thread the system started is system generated', async () => {
      const p = provider();
      try {
        await p.send({
          messageId: systemMessageId('1d3f2a10-0b1c-4d5e-8f90-a1b2c3d4e5f6', 'alice.test'),
          from: USER,
          to: ['dana@contacts.test'],
          subject: 'Hello from the system',
          text: 'Hi Dana.',
        });
      } finally {
        await p.close();
      }
      await sync();
      const thread = (await allThreads(ctx.test.service)).find((t) => t.subject === 'Hello from the system');
      expect(thread).toMatchObject({
        systemGenerated: true,
        messageCount: 1,
        participants: ['dana@contacts.test'],
      });
    });
  });

  describe('logs', () => {
    it('were written, and never hold the password', () => {
      expect(logs.length).toBeGreaterThan(10);
      expect(logs.some((line) => line.includes('"job":"sync"'))).toBe(true);
      expect(logs.join('\n')).not.toContain(PASSWORD);
    });
  });

  describe('removing the account', () => {
    it('404 for an unknown id, 204 for the account; its threads stay', async () => {
      const missing = await ctx.app.inject({
        method: 'DELETE',
        url: '/api/v1/accounts/00000000-0000-4000-8000-000000000000',
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().code).toBe('ACCOUNT_NOT_FOUND');
      const before = (await allThreads(ctx.test.service)).length;
      const res = await ctx.app.inject({ method: 'DELETE', url: `/api/v1/accounts/${accountId}` });
      expect(res.statusCode).toBe(204);
      expect((await ctx.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json()).toEqual({
        items: [],
      });
      expect(await allThreads(ctx.test.service)).toHaveLength(before);
      expect((await ctx.mirror.load(accountId)).messages).toEqual([]);
    });
  });
});
