/**
 * The follow-up worker end to end against the Gmail API emulator (real @googleapis/gmail client) and, for drafting
 * by a model, the OpenAI-compatible emulator (real openai SDK), on a clock the test moves:
 * - planning (first follow-up 3 business days after the user's message, with its reason), sending in the thread
 *   with In-Reply-To, References and the deterministic Message-ID, the next step, the end of the sequence;
 * - stop on reply: before the due time (sync cancels), between claim and send (the re-check), not on an
 *   out-of-office reply; a hidden thread is skipped;
 * - send window and time zone across a DST change, daily cap, a time set by hand on a Saturday;
 * - draft mode, a draft recognised by its Message-ID after an interrupted attempt (never made twice), a draft
 *   never sent stopping the next step;
 * - open tracking through the pixel route; previews, policy and templates through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPARENT_GIF } from '../../src/api/routes/tracking.ts';
import type { Thread, ThreadEvent } from '../../src/domain/thread.ts';
import type { FollowupMailboxes } from '../../src/ports/followup-mailbox.ts';
import { GmailEmulator } from '../emulators/gmail/gmail-emulator.ts';
import { type OpenAiEmulator, startOpenAiEmulator } from '../emulators/openai/openai-emulator.ts';
import {
  createFollowupHarness,
  type FollowupHarness,
  type FollowupHarnessOptions,
  rawMessage,
  TestClock,
} from '../support/followup-app.ts';
import { allThreads } from '../support/mail-assertions.ts';
import { USER } from '../support/mail-corpus.ts';

const CLIENT = { clientId: 'client-f.apps.googleusercontent.com', clientSecret: 'client-secret-f' };
const REDIRECT = 'http://127.0.0.1:3000/api/v1/accounts/gmail/callback';
const SYSTEM_ID = /^<tt\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@alice\.test>$/;

interface Seed {
  contact: string;
  subject: string;
  at: string;
}

interface Setup {
  h: FollowupHarness;
  emulator: GmailEmulator;
  sync(): Promise<void>;
  thread(contact: string): Promise<Thread>;
  /** Messages of the mailbox with this Message-ID, with their labels. */
  inMailbox(messageId: string): { threadId: string; labels: string[] }[];
  deliverReply(
    contact: string,
    at: string,
    options?: { headers?: Record<string, string>; subject?: string },
  ): void;
  deliverSent(contact: string, at: string, messageId: string): void;
  events(threadId: string): Promise<ThreadEvent[]>;
  list(): Promise<{ threadId: string; scheduledAt: string; sendsAt: string; due: boolean; reason: string }[]>;
  close(): Promise<void>;
}

const idOf = (seed: Pick<Seed, 'contact'>) => `<${seed.contact.split('@')[0]}.1@alice.test>`;
const types = (events: ThreadEvent[]) => events.map((e) => e.type);

/** An emulated Gmail mailbox holding the user's seeded messages, connected and synced, the engine on top. */
async function setup(seeds: Seed[], options: Omit<FollowupHarnessOptions, 'google'>): Promise<Setup> {
  const emulator = await GmailEmulator.start(CLIENT);
  emulator.consentAs(USER);
  for (const seed of seeds) {
    emulator.deliver(
      USER,
      rawMessage({
        from: `Alice <${USER}>`,
        to: seed.contact,
        subject: seed.subject,
        date: new Date(seed.at),
        messageId: idOf(seed),
      }),
      { labels: ['SENT'], internalDate: new Date(seed.at), threadKey: seed.contact },
    );
  }
  const h = await createFollowupHarness({ ...options, google: emulator.settings(REDIRECT) });
  const start = await h.mail.app.inject({
    method: 'POST',
    url: '/api/v1/accounts/gmail/connect',
    payload: {},
  });
  const consent = await fetch(start.json().url, { redirect: 'manual' });
  const back = new URL(consent.headers.get('location')!);
  await h.mail.app.inject({ method: 'GET', url: `/api/v1/accounts/gmail/callback${back.search}` });
  const [account] = (await h.mail.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json().items;
  const sync = async () => {
    const outcome = await h.mail.service.syncNow('me', account.id);
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'synced' });
  };
  await sync();
  const subjectOf = (contact: string) => seeds.find((s) => s.contact === contact)!.subject;
  return {
    h,
    emulator,
    sync,
    thread: async (contact) => {
      const thread = (await allThreads(h.mail.test.service)).find((t) => t.participants.includes(contact));
      if (!thread) throw new Error(`no thread with ${contact}`);
      return thread;
    },
    inMailbox: (messageId) =>
      [...emulator.mailbox(USER).messages.values()]
        .filter((m) => m.headers.some(([n, v]) => n.toLowerCase() === 'message-id' && v.trim() === messageId))
        .map((m) => ({ threadId: m.threadId, labels: [...m.labels] })),
    deliverReply: (contact, at, extra = {}) => {
      emulator.deliver(
        USER,
        rawMessage({
          from: contact,
          to: USER,
          subject: extra.subject ?? `Re: ${subjectOf(contact)}`,
          date: new Date(at),
          messageId: `<reply.${Date.parse(at)}.${contact}>`,
          inReplyTo: idOf({ contact }),
          references: idOf({ contact }),
          ...(extra.headers ? { extra: extra.headers } : {}),
        }),
        { labels: ['INBOX'], internalDate: new Date(at), threadKey: contact },
      );
    },
    deliverSent: (contact, at, messageId) => {
      emulator.deliver(
        USER,
        rawMessage({
          from: USER,
          to: contact,
          subject: `Re: ${subjectOf(contact)}`,
          date: new Date(at),
          messageId,
          inReplyTo: idOf({ contact }),
          references: idOf({ contact }),
        }),
        { labels: ['SENT'], internalDate: new Date(at), threadKey: contact },
      );
    },
    events: (threadId) => h.mail.test.service.getThreadEvents('me', threadId),
    list: async () => (await h.app.inject({ method: 'GET', url: '/api/v1/followups' })).json().items,
    close: async () => {
      await h.close();
      await emulator.close();
    },
  };
}

describe('follow-ups against the Gmail emulator', () => {
  describe('planned, sent in the thread, continued, stopped', () => {
    const seeds: Seed[] = [
      { contact: 'a@contacts.test', subject: 'Application for the backend role', at: '2026-06-01T10:00:00Z' },
      { contact: 'b@contacts.test', subject: 'Partnership with Acme', at: '2026-06-01T10:05:00Z' },
      { contact: 'd@contacts.test', subject: 'Quote for the redesign', at: '2026-06-01T10:10:00Z' },
      { contact: 'f@contacts.test', subject: 'Intro: design review', at: '2026-06-01T10:15:00Z' },
    ];
    let s: Setup;
    let a: Thread;
    let firstFollowup: string;

    beforeAll(async () => {
      s = await setup(seeds, { clock: new TestClock('2026-06-01T09:00:00Z') });
      await s.h.policies.put('me', { mode: 'send', maxFollowups: 2 }, '2026-06-01T09:00:00Z');
    });
    afterAll(async () => {
      await s?.close();
    });

    it('schedules the first follow-up 3 business days after the user’s message, and says why', async () => {
      s.h.clock.set('2026-06-01T12:00:00Z');
      expect((await s.h.worker.tick()).planned).toBe(4);
      const items = await s.list();
      expect(items.map((i) => [i.scheduledAt, i.due])).toEqual([
        ['2026-06-04T10:00:00.000000Z', false],
        ['2026-06-04T10:05:00.000000Z', false],
        ['2026-06-04T10:10:00.000000Z', false],
        ['2026-06-04T10:15:00.000000Z', false],
      ]);
      expect(items[0]!.reason).toBe(
        'No reply 3 business days after your message of Mon 1 Jun 2026, 10:00 (UTC); follow-up 1 of 2. It will be sent in the thread unless they reply first.',
      );
      // Planned once: a second pass finds nothing new.
      expect((await s.h.worker.tick()).planned).toBe(0);
    });

    it('a reply before the due time cancels (mail sync); an out-of-office reply does not', async () => {
      s.h.clock.set('2026-06-02T09:00:00Z');
      s.deliverReply('b@contacts.test', '2026-06-02T08:00:00Z');
      s.deliverReply('d@contacts.test', '2026-06-01T10:11:00Z', {
        subject: 'Automatic reply: Out of office until June 10',
        headers: { 'Auto-Submitted': 'auto-replied' },
      });
      await s.sync();
      const b = await s.thread('b@contacts.test');
      const d = await s.thread('d@contacts.test');
      expect(b.followupScheduled).toBe(false);
      expect((await s.events(b.threadId)).find((e) => e.type === 'followup_cancelled')?.data).toMatchObject({
        reason: 'reply',
      });
      expect(d.followupScheduled).toBe(true);
      expect(types(await s.events(d.threadId))).toContain('auto_reply_received');
      expect((await s.list()).map((i) => i.threadId)).not.toContain(b.threadId);
    });

    it('sends each due follow-up once, in the thread, and skips a hidden thread', async () => {
      const f = await s.thread('f@contacts.test');
      await s.h.mail.test.service.hideThread('me', f.threadId);
      s.h.clock.set('2026-06-04T10:30:00Z');
      const result = await s.h.worker.tick();
      expect(result.outcomes).toEqual({ sent: 2, 'skipped:hidden': 1 });
      a = await s.thread('a@contacts.test');
      const sentToA = s.h.outgoing.find((m) => m.to.includes('a@contacts.test'))!;
      firstFollowup = sentToA.messageId;
      expect(sentToA).toMatchObject({
        from: USER,
        to: ['a@contacts.test'],
        subject: 'Re: Application for the backend role',
        inReplyTo: '<a.1@alice.test>',
        references: ['<a.1@alice.test>'],
        providerThreadId: a.threadId,
      });
      expect(sentToA.messageId).toMatch(SYSTEM_ID);
      expect(sentToA.text).toContain('Application for the backend role');
      expect(s.inMailbox(sentToA.messageId)).toEqual([{ threadId: a.threadId, labels: ['SENT'] }]);
      expect(s.h.outgoing.some((m) => m.to.includes('b@contacts.test'))).toBe(false);
      expect(a).toMatchObject({
        followupCount: 1,
        emailType: 'auto_followup',
        followupScheduled: true,
        // The next step: 7 business days after the first follow-up, same time of day.
        followupScheduledAt: '2026-06-15T10:30:00.000000Z',
      });
      const sentEvent = (await s.events(a.threadId)).find((e) => e.type === 'followup_sent');
      expect(sentEvent?.data).toMatchObject({ step: 1, messageId: sentToA.messageId, drafter: 'template' });
      const fEvents = await s.events(f.threadId);
      expect(fEvents.find((e) => e.type === 'followup_skipped')?.data).toMatchObject({ reason: 'hidden' });
      expect((await s.h.mail.test.service.getThread('me', f.threadId)).followupScheduled).toBe(false);
      const [next] = await s.list();
      expect(next!.reason).toBe(
        'No reply 7 business days after your previous follow-up of Thu 4 Jun 2026, 10:30 (UTC); follow-up 2 of 2. It will be sent in the thread unless they reply first.',
      );
    });

    it('does nothing more on another pass', async () => {
      const before = s.h.outgoing.length;
      expect(await s.h.worker.tick()).toMatchObject({ claimed: 0, planned: 0 });
      expect(s.h.outgoing).toHaveLength(before);
    });

    it('sends the last step in reply to the previous follow-up, then ends the sequence', async () => {
      await s.sync();
      s.h.clock.set('2026-06-15T10:31:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 2 });
      const second = s.h.outgoing.filter((m) => m.to.includes('a@contacts.test'))[1]!;
      expect(second.inReplyTo).toBe(firstFollowup);
      expect(second.references).toEqual(['<a.1@alice.test>', firstFollowup]);
      expect(second.messageId).not.toBe(firstFollowup);
      const after = await s.thread('a@contacts.test');
      expect(after).toMatchObject({ followupCount: 2, followupScheduled: false });
      expect((await s.events(after.threadId)).at(-1)).toMatchObject({
        type: 'followup_count_incremented',
      });
      expect(
        (await s.events(after.threadId)).filter((e) => e.type === 'followup_cancelled').at(-1)?.data,
      ).toMatchObject({ reason: 'sequence_complete' });
      s.h.clock.set('2026-07-15T10:00:00Z');
      await s.sync();
      expect(await s.h.worker.tick()).toMatchObject({ planned: 0, claimed: 0 });
      // Every follow-up is in the mailbox exactly once.
      for (const m of s.h.outgoing) expect(s.inMailbox(m.messageId)).toHaveLength(1);
    });
  });

  describe('a follow-up the user cancelled', () => {
    // Cancellations are stamped by the database's clock, so this mailbox lives in the present.
    const minutes = (n: number) => new Date(Date.now() + n * 60_000).toISOString();
    let s: Setup;

    beforeAll(async () => {
      s = await setup([{ contact: 'k@contacts.test', subject: 'Coffee next week?', at: minutes(-60) }], {
        clock: new TestClock(minutes(0)),
      });
      await s.h.policies.put('me', {}, minutes(-120));
    });
    afterAll(async () => {
      await s?.close();
    });

    it('stays cancelled when an out-of-office reply arrives, and a new message of the user starts again', async () => {
      expect((await s.h.worker.tick()).planned).toBe(1);
      const { threadId } = await s.thread('k@contacts.test');
      const cancel = await s.h.app.inject({
        method: 'DELETE',
        url: `/api/v1/threads/${encodeURIComponent(threadId)}/followup`,
      });
      expect(cancel.statusCode).toBe(200);
      s.deliverReply('k@contacts.test', minutes(1), {
        subject: 'Automatic reply: away this week',
        headers: { 'Auto-Submitted': 'auto-replied' },
      });
      await s.sync();
      expect((await s.h.worker.tick()).planned).toBe(0);
      expect((await s.thread('k@contacts.test')).followupScheduled).toBe(false);
      s.deliverSent('k@contacts.test', minutes(2), '<k.2@alice.test>');
      await s.sync();
      expect((await s.h.worker.tick()).planned).toBe(1);
      expect((await s.thread('k@contacts.test')).followupScheduled).toBe(true);
    });
  });

  describe('a reply arriving while the model drafts', () => {
    const seeds: Seed[] = [
      { contact: 'c@contacts.test', subject: 'Demo of the analytics product', at: '2026-06-01T10:00:00Z' },
      { contact: 'e@contacts.test', subject: 'Proposal for the Q3 campaign', at: '2026-06-01T10:05:00Z' },
      {
        contact: 'w@contacts.test',
        subject: 'Proposal for the spring catalogue',
        at: '2026-06-01T10:10:00Z',
      },
    ];
    let s: Setup;
    let openai: OpenAiEmulator;

    beforeAll(async () => {
      openai = await startOpenAiEmulator();
      s = await setup(seeds, { clock: new TestClock('2026-06-01T11:00:00Z'), openaiBaseURL: openai.baseURL });
      await s.h.policies.put('me', { mode: 'send', autoSchedule: false }, '2026-06-01T11:00:00Z');
    });
    afterAll(async () => {
      await s?.close();
      await openai?.close();
    });

    it('drafts with the model and marks the thread as AI-written', async () => {
      const e = await s.thread('e@contacts.test');
      await s.h.mail.test.service.scheduleFollowup('me', e.threadId, '2026-06-01T11:30:00Z');
      s.h.clock.set('2026-06-01T11:31:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 1 });
      expect(openai.requests).toHaveLength(1);
      expect(s.h.outgoing[0]!.text).toMatch(/^Hi,\n\nI wanted to follow up/);
      expect(await s.thread('e@contacts.test')).toMatchObject({
        aiGenerated: true,
        emailType: 'auto_followup',
      });
      expect((await s.events(e.threadId)).find((ev) => ev.type === 'followup_sent')?.data).toMatchObject({
        drafter: 'openai',
      });
    });

    it('is caught by the re-check right before sending: nothing goes out', async () => {
      const c = await s.thread('c@contacts.test');
      await s.h.mail.test.service.scheduleFollowup('me', c.threadId, '2026-06-01T12:30:00Z');
      s.h.clock.set('2026-06-01T12:31:00Z');
      openai.enqueue({
        content: 'Hello,\n\nJust checking whether you had a chance to look at the demo I sent. Thanks!',
        delayMs: 1500,
      });
      const asked = openai.requests.length;
      const tick = s.h.worker.tick();
      while (openai.requests.length === asked) await new Promise((r) => setTimeout(r, 20));
      // The contact answers while the follow-up is being written.
      s.deliverReply('c@contacts.test', '2026-06-01T12:31:30Z');
      expect((await tick).outcomes).toEqual({ 'skipped:reply': 1 });
      expect(s.h.outgoing.filter((m) => m.to.includes('c@contacts.test'))).toEqual([]);
      const after = await s.h.mail.test.service.getThread('me', c.threadId);
      expect(after.followupScheduled).toBe(false);
      expect((await s.events(c.threadId)).find((ev) => ev.type === 'followup_skipped')?.data).toMatchObject({
        reason: 'reply',
      });
    });

    it('waits for the next window when the text is ready only after the window closed', async () => {
      const w = await s.thread('w@contacts.test');
      await s.h.mail.test.service.scheduleFollowup('me', w.threadId, '2026-06-01T16:50:00Z');
      s.h.clock.set('2026-06-01T16:59:00Z');
      openai.enqueue({
        content: 'Hello,\n\nJust checking whether the catalogue proposal reached you. Thanks!',
        delayMs: 1000,
      });
      const asked = openai.requests.length;
      const tick = s.h.worker.tick();
      while (openai.requests.length === asked) await new Promise((r) => setTimeout(r, 20));
      // The window (09:00-17:00) closes while the follow-up is being written.
      s.h.clock.set('2026-06-01T17:00:30Z');
      expect((await tick).outcomes).toEqual({ 'waiting:send_window': 1 });
      expect(s.h.outgoing.filter((m) => m.to.includes('w@contacts.test'))).toEqual([]);
      // The next morning the text written the day before goes out.
      s.h.clock.set('2026-06-02T09:00:30Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 1 });
      expect(s.h.outgoing.find((m) => m.to.includes('w@contacts.test'))!.text).toContain(
        'catalogue proposal reached you',
      );
    });
  });

  describe('send window, time zone across a DST change, daily cap', () => {
    // Paris moves from UTC+1 to UTC+2 on Sunday 29 March 2026.
    const seeds: Seed[] = [1, 2, 3, 4].map((n) => ({
      contact: `p${n}@contacts.test`,
      subject: `Application number ${n} for the role`,
      at: `2026-03-27T09:0${n - 1}:00Z`,
    }));
    let s: Setup;

    beforeAll(async () => {
      s = await setup(seeds, { clock: new TestClock('2026-03-27T12:00:00Z') });
      await s.h.policies.put(
        'me',
        { mode: 'send', timeZone: 'Europe/Paris', dailyCap: 2, delaysBusinessDays: [3], maxFollowups: 1 },
        '2026-03-26T08:00:00Z',
      );
    });
    afterAll(async () => {
      await s?.close();
    });

    it('keeps the local time of day across the change', async () => {
      expect((await s.h.worker.tick()).planned).toBe(4);
      // Friday 10:00 in Paris (09:00 UTC) + 3 business days = Wednesday 10:00 in Paris, now 08:00 UTC.
      expect((await s.list()).map((i) => i.scheduledAt)).toEqual([
        '2026-04-01T08:00:00.000000Z',
        '2026-04-01T08:01:00.000000Z',
        '2026-04-01T08:02:00.000000Z',
        '2026-04-01T08:03:00.000000Z',
      ]);
      const p4 = await s.thread('p4@contacts.test');
      // One moved by hand to a Saturday.
      await s.h.mail.test.service.scheduleFollowup('me', p4.threadId, '2026-04-04T10:00:00Z');
    });

    it('sends nothing before the due time, then at most the daily cap', async () => {
      s.h.clock.set('2026-04-01T07:59:30Z');
      expect((await s.h.worker.tick()).claimed).toBe(0);
      s.h.clock.set('2026-04-01T08:05:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 2, 'waiting:daily_cap': 1 });
      const p3 = await s.thread('p3@contacts.test');
      const job = (await s.h.jobs.latestForThreads('me', [p3.threadId])).get(p3.threadId)!;
      // The next day's window opens at 09:00 in Paris.
      expect(job).toMatchObject({ status: 'pending', notBefore: '2026-04-02T07:00:00.000000Z' });
    });

    it('sends the one over the cap when the next day’s window opens', async () => {
      s.h.clock.set('2026-04-02T06:59:00Z');
      expect((await s.h.worker.tick()).claimed).toBe(0);
      s.h.clock.set('2026-04-02T07:00:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 1 });
      expect(s.h.outgoing.map((m) => m.to[0])).toEqual([
        'p1@contacts.test',
        'p2@contacts.test',
        'p3@contacts.test',
      ]);
    });

    it('holds a follow-up due on a Saturday until Monday’s window opens', async () => {
      s.h.clock.set('2026-04-04T10:01:00Z');
      const items = await s.list();
      expect(items).toHaveLength(1);
      expect(items[0]!.sendsAt).toBe('2026-04-06T07:00:00.000Z');
      expect(items[0]!.reason).toContain('goes out when the send window opens, Mon 6 Apr 2026, 09:00');
      expect((await s.h.worker.tick()).outcomes).toEqual({ 'waiting:send_window': 1 });
      s.h.clock.set('2026-04-06T07:00:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 1 });
      // maxFollowups 1: every sequence has ended.
      expect(await s.list()).toEqual([]);
    });
  });

  describe('draft mode, and an interrupted attempt', () => {
    const seeds: Seed[] = [
      { contact: 'g@contacts.test', subject: 'Application for the data role', at: '2026-06-01T10:00:00Z' },
      { contact: 'k@contacts.test', subject: 'Application for the ops role', at: '2026-06-01T10:05:00Z' },
    ];
    let s: Setup;
    let kDraft: string;

    beforeAll(async () => {
      s = await setup(seeds, { clock: new TestClock('2026-06-01T12:00:00Z') });
      await s.h.policies.put('me', { delaysBusinessDays: [1], maxFollowups: 3 }, '2026-06-01T09:00:00Z');
      expect((await s.h.worker.tick()).planned).toBe(2);
    });
    afterAll(async () => {
      await s?.close();
    });

    it('creates a draft in the thread; an interrupted attempt’s draft is recognised, not made again', async () => {
      const k = await s.thread('k@contacts.test');
      // A worker that dies right after the mailbox took K's draft (before recording it).
      const real = s.h.mailboxes;
      const crashing: FollowupMailboxes = {
        users: () => real.users(),
        close: async () => {},
        open: async (userId, threadId) => {
          const box = (await real.open(userId, threadId))!;
          if (threadId !== k.threadId) return box;
          return {
            ...box,
            createDraft: async (m) => {
              kDraft = m.messageId;
              await box.createDraft(m);
              throw new Error('process killed');
            },
          };
        },
      };
      s.h.clock.set('2026-06-02T10:10:00Z');
      expect((await s.h.newWorker({ mailboxes: crashing }).tick()).outcomes).toEqual({
        drafted: 1,
        'retry:INTERNAL': 1,
      });
      expect(s.inMailbox(kDraft)).toEqual([{ threadId: k.threadId, labels: ['DRAFT'] }]);
      s.h.clock.advance(31_000);
      expect((await s.h.worker.tick()).outcomes).toEqual({ recognised: 1 });
      expect(s.inMailbox(kDraft)).toHaveLength(1);
      const kEvents = await s.events(k.threadId);
      expect(kEvents.filter((e) => e.type === 'followup_drafted').map((e) => e.data)).toEqual([
        expect.objectContaining({ messageId: kDraft, recognised: true }),
      ]);
      const g = await s.thread('g@contacts.test');
      const gDraft = s.h.outgoing.find((m) => m.to.includes('g@contacts.test'))!;
      expect(s.inMailbox(gDraft.messageId)).toEqual([{ threadId: g.threadId, labels: ['DRAFT'] }]);
      expect(gDraft.inReplyTo).toBe('<g.1@alice.test>');
      // Drafted, counted, not marked as sent by the system (it is the user's to send).
      expect(g).toMatchObject({ followupCount: 1, emailType: 'application', followupScheduled: true });
      expect(await s.thread('k@contacts.test')).toMatchObject({ followupCount: 1 });
    });

    it('stops the next step while the previous draft is unsent; counts from the user’s own send', async () => {
      // The user sent K's draft an hour later (their mail client gave it a Message-ID of its own).
      s.deliverSent('k@contacts.test', '2026-06-02T11:10:00Z', '<sent-by-client.k@alice.test>');
      await s.sync();
      s.h.clock.set('2026-06-03T10:11:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({
        'skipped:previous_draft_unsent': 1,
        'rescheduled:user_wrote_again': 1,
      });
      expect(await s.thread('g@contacts.test')).toMatchObject({ followupScheduled: false, followupCount: 1 });
      // One business day after the user's own send.
      expect(await s.thread('k@contacts.test')).toMatchObject({
        followupScheduled: true,
        followupScheduledAt: '2026-06-03T11:10:00.000000Z',
      });
      s.h.clock.set('2026-06-03T11:11:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ drafted: 1 });
      const last = s.h.outgoing.at(-1)!;
      expect(last.inReplyTo).toBe('<sent-by-client.k@alice.test>');
    });
  });

  describe('open tracking', () => {
    const seeds: Seed[] = [
      { contact: 'o@contacts.test', subject: 'Application for the mobile role', at: '2026-06-01T10:00:00Z' },
    ];
    let s: Setup;
    let token: string;
    let thread: Thread;

    beforeAll(async () => {
      s = await setup(seeds, { clock: new TestClock('2026-06-01T11:00:00Z') });
      await s.h.policies.put(
        'me',
        { mode: 'send', autoSchedule: false, openTracking: true },
        '2026-06-01T09:00:00Z',
      );
      thread = await s.thread('o@contacts.test');
      await s.h.mail.test.service.scheduleFollowup('me', thread.threadId, '2026-06-01T11:30:00Z');
      s.h.clock.set('2026-06-01T11:31:00Z');
      expect((await s.h.worker.tick()).outcomes).toEqual({ sent: 1 });
      const html = s.h.outgoing[0]!.html!;
      token = /https:\/\/tracker\.example\/api\/v1\/t\/o\/([A-Za-z0-9_-]+)\.gif/.exec(html)![1]!;
    });
    afterAll(async () => {
      await s?.close();
    });

    const load = (userAgent: string, path = `/api/v1/t/o/${token}.gif`) =>
      s.h.app.inject({ method: 'GET', url: path, headers: { 'user-agent': userAgent } });

    it('sends a text and an HTML part with a pixel of its own', () => {
      const sent = s.h.outgoing[0]!;
      expect(sent.html).toContain('<p>');
      expect(sent.html).toContain('width="1" height="1"');
      expect(sent.text).not.toContain('tracker.example');
    });

    it('answers every pixel load with a GIF, and counts only real opens', async () => {
      const early = await load('Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15');
      expect(early.statusCode).toBe(200);
      expect(early.headers['content-type']).toBe('image/gif');
      expect(early.headers['cache-control']).toContain('no-store');
      expect(early.rawPayload).toEqual(TRANSPARENT_GIF);
      expect(early.rawPayload.subarray(0, 6).toString()).toBe('GIF89a');
      expect((await s.h.mail.test.service.getThread('me', thread.threadId)).openRate).toBeNull();
      s.h.clock.advance(10 * 60_000);
      await load('Mozilla/5.0');
      expect((await s.h.mail.test.service.getThread('me', thread.threadId)).openRate).toBeNull();
      await load('Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)');
      expect((await s.h.mail.test.service.getThread('me', thread.threadId)).openRate).toBe(100);
      expect(types(await s.events(thread.threadId))).toContain('followup_opened');
      expect((await load('Mozilla/5.0 (X11)', '/api/v1/t/o/not-a-known-token-at-all.gif')).statusCode).toBe(
        200,
      );
      expect(await s.h.tracking.threadStats('me', thread.threadId)).toEqual({ tracked: 1, opened: 1 });
    });
  });
});
