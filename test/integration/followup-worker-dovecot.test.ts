/**
 * The follow-up worker against a real Dovecot (IMAP) with SMTP delivery into it (test/support/smtp-relay.ts): the
 * follow-up reaches the contact's mailbox once, threaded (In-Reply-To, References), with a copy in the user's Sent
 * folder that sync recognises as the system's; draft mode appends to Drafts; a reply before the due time (sync) and
 * during drafting (the re-check) stops it, an out-of-office reply does not. The worker finds IMAP threads in the
 * mirror exactly as sync groups them.
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FollowupMailboxes } from '../../src/ports/followup-mailbox.ts';
import { imapThreadGroups } from '../../src/service/sync-threads.ts';
import { type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai/openai-emulator.ts';
import { type DovecotServer, startDovecot } from '../harness/dovecot.ts';
import { describeWithService } from '../harness/require-services.ts';
import {
  createFollowupHarness,
  type FollowupHarness,
  rawMessage,
  TestClock,
} from '../support/followup-app.ts';
import { allThreads } from '../support/mail-assertions.ts';
import { buildCorpus, USER } from '../support/mail-corpus.ts';
import { loopbackServers } from '../support/mail-fixtures.ts';
import { type SmtpRelay, startSmtpRelay } from '../support/smtp-relay.ts';

const PASSWORD = 'alice-imap-password';
const CONTACTS = [1, 2, 3, 4, 5, 6].map((n) => `c${n}@contacts.test`);
const SUBJECTS = [
  'Application for the platform role',
  'Application for the security role',
  'Partnership proposal for the spring launch',
  'Quote for the office move',
  'Introduction to our consulting services',
  'Speaking slot at the autumn meetup',
];
const sentId = (n: number) => `<c${n}.1@alice.test>`;

interface Found {
  uid: number;
  flags: string[];
  headers: Map<string, string>;
}

/** Messages with this Message-ID in a user's folder (INBOX, or the folder with this special use). */
async function find(
  dovecot: DovecotServer,
  user: string,
  folder: 'INBOX' | '\\Sent' | '\\Drafts',
  id: string,
) {
  const client = new ImapFlow(dovecot.clientOptions(user));
  await client.connect();
  try {
    const path =
      folder === 'INBOX' ? 'INBOX' : (await client.list()).find((b) => b.specialUse === folder)!.path;
    await client.mailboxOpen(path, { readOnly: true });
    const uids = (await client.search({ header: { 'message-id': id } }, { uid: true })) || [];
    if (uids.length === 0) return [];
    const found: Found[] = [];
    for (const m of await client.fetchAll(
      uids.join(','),
      { uid: true, flags: true, headers: true },
      { uid: true },
    )) {
      const headers = new Map<string, string>();
      let name = '';
      for (const line of (m.headers ?? Buffer.alloc(0)).toString().split(/\r?\n/)) {
        if (/^\s/.test(line) && name) headers.set(name, `${headers.get(name)} ${line.trim()}`);
        else if (line.includes(':')) {
          name = line.slice(0, line.indexOf(':')).toLowerCase();
          headers.set(name, line.slice(line.indexOf(':') + 1).trim());
        }
      }
      found.push({ uid: m.uid, flags: [...(m.flags ?? [])], headers });
    }
    return found;
  } finally {
    await client.logout().catch(() => client.close());
  }
}

describeWithService('dovecot', 'follow-ups against Dovecot and SMTP', () => {
  let dovecot: DovecotServer;
  let relay: SmtpRelay;
  let openai: OpenAiEmulator;
  let h: FollowupHarness;
  let accountId: string;

  const sync = async () => {
    const outcome = await h.mail.service.syncNow('me', accountId);
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'synced' });
  };
  const threadOf = async (n: number) =>
    (await allThreads(h.mail.test.service)).find((t) => t.participants.includes(CONTACTS[n - 1]!))!;
  const reply = (n: number, at: string, extra: Record<string, string> = {}, subject?: string) =>
    dovecot.deliver(
      USER,
      rawMessage({
        from: CONTACTS[n - 1]!,
        to: USER,
        subject: subject ?? `Re: ${SUBJECTS[n - 1]}`,
        date: new Date(at),
        messageId: `<reply.${n}.${Date.parse(at)}@contacts.test>`,
        inReplyTo: sentId(n),
        references: sentId(n),
        extra,
      }),
      { date: new Date(at) },
    );
  const outgoingTo = (n: number) => h.outgoing.filter((m) => m.to.includes(CONTACTS[n - 1]!));

  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [{ user: USER, password: PASSWORD }, ...CONTACTS.map((user) => ({ user, password: 'contact' }))],
    });
    relay = await startSmtpRelay(dovecot);
    openai = await startOpenAiEmulator();
    h = await createFollowupHarness({
      clock: new TestClock('2026-06-01T11:00:00Z'),
      openaiBaseURL: openai.baseURL,
    });
    for (const [i, contact] of CONTACTS.entries()) {
      const at = new Date(Date.parse('2026-06-01T10:00:00Z') + i * 60_000);
      await dovecot.deliver(
        USER,
        rawMessage({ from: USER, to: contact, subject: SUBJECTS[i]!, date: at, messageId: sentId(i + 1) }),
        { folder: 'Sent', date: at },
      );
    }
    // Mail of other shapes around them (replies, bounces, auto-replies, the same subject to many people).
    for (const m of buildCorpus({ threads: 30, start: new Date('2026-05-01T10:00:00Z') }).messages) {
      await dovecot.deliver(USER, m.raw, { folder: m.folder, date: m.date });
    }
    const added = await h.mail.app.inject({
      method: 'POST',
      url: '/api/v1/accounts/imap',
      payload: { email: USER, ...loopbackServers(dovecot, relay), password: PASSWORD },
    });
    expect(added.statusCode, added.body).toBe(201);
    accountId = added.json().id;
    await sync();
    await h.policies.put('me', { mode: 'send', autoSchedule: false }, '2026-06-01T09:00:00Z');
  });
  afterAll(async () => {
    await h?.close();
    await openai?.close();
    await relay?.close();
    await dovecot?.stop();
  });

  it('finds every synced IMAP thread in the mirror under the id sync gave it', async () => {
    const threads = await allThreads(h.mail.test.service);
    expect(threads.length).toBeGreaterThan(30);
    const account = (await h.mail.accounts.get('me', accountId))!;
    const groups = imapThreadGroups(account, (await h.mail.mirror.load(accountId)).messages);
    for (const thread of threads) {
      expect(groups.has(thread.threadId), `${thread.subject} (${thread.threadId})`).toBe(true);
      const box = await h.mailboxes.open('me', thread.threadId);
      expect(
        (await box!.messages()).some((m) => m.kind === 'sent'),
        thread.subject ?? '',
      ).toBe(true);
    }
  });

  it('sends through SMTP: the contact gets it once, threaded; the Sent copy is recognised by sync', async () => {
    const t = await threadOf(1);
    await h.mail.test.service.scheduleFollowup('me', t.threadId, '2026-06-01T11:30:00Z');
    h.clock.set('2026-06-01T11:31:00Z');
    expect((await h.worker.tick()).outcomes).toEqual({ sent: 1 });
    const [message] = outgoingTo(1);
    const received = await find(dovecot, CONTACTS[0]!, 'INBOX', message!.messageId);
    expect(received).toHaveLength(1);
    expect(received[0]!.headers.get('in-reply-to')).toBe(sentId(1));
    expect(received[0]!.headers.get('references')).toBe(sentId(1));
    expect(received[0]!.headers.get('subject')).toBe(`Re: ${SUBJECTS[0]}`);
    expect(await find(dovecot, USER, '\\Sent', message!.messageId)).toHaveLength(1);
    expect(relay.received.filter((r) => r.to.includes(CONTACTS[0]!))).toHaveLength(1);
    await sync();
    expect(await threadOf(1)).toMatchObject({
      messageCount: 2,
      emailType: 'auto_followup',
      followupCount: 1,
      responseTimeHours: null,
    });
  });

  it('draft mode: a draft in the Drafts folder, nothing sent', async () => {
    await h.policies.put('me', { mode: 'draft', autoSchedule: false }, '2026-06-01T09:00:00Z');
    const t = await threadOf(2);
    await h.mail.test.service.scheduleFollowup('me', t.threadId, '2026-06-01T11:40:00Z');
    h.clock.set('2026-06-01T11:41:00Z');
    expect((await h.worker.tick()).outcomes).toEqual({ drafted: 1 });
    const [draft] = outgoingTo(2);
    const inDrafts = await find(dovecot, USER, '\\Drafts', draft!.messageId);
    expect(inDrafts).toHaveLength(1);
    expect(inDrafts[0]!.flags).toContain('\\Draft');
    expect(inDrafts[0]!.headers.get('in-reply-to')).toBe(sentId(2));
    expect(await find(dovecot, CONTACTS[1]!, 'INBOX', draft!.messageId)).toEqual([]);
    expect(relay.received.filter((r) => r.to.includes(CONTACTS[1]!))).toEqual([]);
    await h.policies.put('me', { mode: 'send', autoSchedule: false }, '2026-06-01T09:00:00Z');
  });

  it('a reply before the due time cancels it; an out-of-office reply does not', async () => {
    const t3 = await threadOf(3);
    const t4 = await threadOf(4);
    await h.mail.test.service.scheduleFollowup('me', t3.threadId, '2026-06-01T13:00:00Z');
    await h.mail.test.service.scheduleFollowup('me', t4.threadId, '2026-06-01T13:00:00Z');
    await reply(3, '2026-06-01T12:00:00Z');
    await reply(4, '2026-06-01T12:00:00Z', { 'Auto-Submitted': 'auto-replied' }, 'Abwesenheitsnotiz: Urlaub');
    await sync();
    expect((await threadOf(3)).followupScheduled).toBe(false);
    expect((await threadOf(4)).followupScheduled).toBe(true);
    h.clock.set('2026-06-01T13:01:00Z');
    expect((await h.worker.tick()).outcomes).toEqual({ sent: 1 });
    expect(outgoingTo(3)).toEqual([]);
    expect(await find(dovecot, CONTACTS[3]!, 'INBOX', outgoingTo(4)[0]!.messageId)).toHaveLength(1);
  });

  it('a reply arriving while the follow-up is written is caught right before sending', async () => {
    await h.policies.put(
      'me',
      { mode: 'send', autoSchedule: false, drafter: 'auto' },
      '2026-06-01T09:00:00Z',
    );
    const t = await threadOf(5);
    await h.mail.test.service.scheduleFollowup('me', t.threadId, '2026-06-01T14:00:00Z');
    h.clock.set('2026-06-01T14:01:00Z');
    openai.enqueue({
      content:
        'Hello,\n\nI wanted to check whether my introduction reached you. Happy to share more details.',
      delayMs: 1500,
    });
    const asked = openai.requests.length;
    const tick = h.worker.tick();
    while (openai.requests.length === asked) await new Promise((r) => setTimeout(r, 20));
    await reply(5, '2026-06-01T14:01:30Z');
    expect((await tick).outcomes).toEqual({ 'skipped:reply': 1 });
    expect(outgoingTo(5)).toEqual([]);
    expect(relay.received.filter((r) => r.to.includes(CONTACTS[4]!))).toEqual([]);
    expect((await h.mail.test.service.getThread('me', t.threadId)).followupScheduled).toBe(false);
  });

  it('draft mode: the draft an interrupted attempt left in Drafts is recognised, not made again', async () => {
    await h.policies.put('me', { mode: 'draft', autoSchedule: false }, '2026-06-01T09:00:00Z');
    const t = await threadOf(6);
    await h.mail.test.service.scheduleFollowup('me', t.threadId, '2026-06-01T15:00:00Z');
    h.clock.set('2026-06-01T15:01:00Z');
    // A worker that dies right after the mailbox took the draft (before recording it).
    let draftId = '';
    const real = h.mailboxes;
    const crashing: FollowupMailboxes = {
      users: () => real.users(),
      close: async () => {},
      open: async (userId, threadId) => {
        const box = (await real.open(userId, threadId))!;
        if (threadId !== t.threadId) return box;
        return {
          ...box,
          createDraft: async (m) => {
            draftId = m.messageId;
            await box.createDraft(m);
            throw new Error('process killed');
          },
        };
      },
    };
    expect((await h.newWorker({ mailboxes: crashing }).tick()).outcomes).toEqual({ 'retry:INTERNAL': 1 });
    expect(await find(dovecot, USER, '\\Drafts', draftId)).toHaveLength(1);
    h.clock.advance(31_000);
    expect((await h.worker.tick()).outcomes).toEqual({ recognised: 1 });
    expect(await find(dovecot, USER, '\\Drafts', draftId)).toHaveLength(1);
    expect(relay.received.filter((r) => r.to.includes(CONTACTS[5]!))).toEqual([]);
    expect(await threadOf(6)).toMatchObject({ followupCount: 1 });
    await h.policies.put('me', { mode: 'send', autoSchedule: false }, '2026-06-01T09:00:00Z');
  });
});
