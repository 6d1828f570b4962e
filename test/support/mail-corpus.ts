/**
 * Mailboxes for sync tests and benchmarks: outreach threads of a user with every shape sync must get right, as raw
 * RFC 5322 messages, with what each thread must come out as. The same corpus is appended to Dovecot (Sent and
 * INBOX) and loaded into the Gmail emulator (SENT and INBOX labels), so both providers are held to one truth.
 *
 * Thread shapes, by index modulo 10:
 *  0 no answer                     5 a reply with no References (subject and correspondent only)
 *  1 a reply                       6 started by the contact; the user answers; the contact answers
 *  2 an auto-reply, then a reply   7 "Quick question" to a different contact each time (must stay apart)
 *  3 a bounce                      8 an out-of-office reply only
 *  4 the user follows up; a reply  9 a reply, the user answers, another reply
 * Plus newsletters in the inbox that belong to no thread of the user's (never tracked).
 */

export const USER = 'alice@alice.test';

export interface CorpusMessage {
  folder: 'Sent' | 'INBOX';
  raw: string;
  /** Arrival time (IMAP INTERNALDATE / Gmail internalDate). */
  date: Date;
  /** Intended thread (index), or -1 for mail outside the user's threads. */
  thread: number;
  messageId: string;
  kind: 'sent' | 'reply' | 'auto_reply' | 'bounce' | 'inbound' | 'other';
}

export interface ExpectedThread {
  index: number;
  subject: string;
  messageCount: number;
  responseTimeHours: number | null;
  replyRate: number;
  events: { reply: number; auto_reply: number; bounce: number };
  messageIds: string[];
}

export interface Corpus {
  messages: CorpusMessage[];
  threads: ExpectedThread[];
}

const HOUR = 3_600_000;

function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

function raw(headers: Record<string, string | undefined>, body: string): string {
  const lines = Object.entries(headers)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${v}`);
  return `${lines.join('\r\n')}\r\nMIME-Version: 1.0\r\n${headers['Content-Type'] ? '' : 'Content-Type: text/plain; charset=utf-8\r\n'}\r\n${body}\r\n`;
}

export interface CorpusOptions {
  threads: number;
  /** Time of the first thread's first message. */
  start: Date;
  /** Every thread: sent, reply, sent, reply, sent (a benchmark's uniform 5 messages per thread). */
  uniform?: boolean;
  /** Messages outside the user's threads (newsletters). Default: one per 10 threads. */
  newsletters?: number;
  domain?: string;
}

export function buildCorpus(options: CorpusOptions): Corpus {
  const messages: CorpusMessage[] = [];
  const threads: ExpectedThread[] = [];
  const domain = options.domain ?? 'alice.test';
  for (let t = 0; t < options.threads; t++) {
    const contact = `c${t}@contacts.test`;
    const t0 = options.start.getTime() + t * 60_000;
    const shape = options.uniform ? 'uniform' : t % 10;
    const subject =
      shape === 7 ? 'Quick question' : t % 3 === 0 ? `Application for role ${t}` : `Outreach ${t}`;
    const ids: string[] = [];
    const chain: string[] = [];
    const expected: ExpectedThread = {
      index: t,
      subject,
      messageCount: 0,
      responseTimeHours: null,
      replyRate: 0,
      events: { reply: 0, auto_reply: 0, bounce: 0 },
      messageIds: ids,
    };
    let userMessages = 0;
    let answered = 0;
    let open = false;
    let firstSent: number | undefined;
    const add = (
      kind: CorpusMessage['kind'],
      at: number,
      extra: { subject?: string; references?: boolean; headers?: Record<string, string>; from?: string } = {},
    ) => {
      const n = ids.length;
      const messageId = `<t${t}.${n}@${kind === 'sent' ? domain : 'contacts.test'}>`;
      const fromUser = kind === 'sent';
      const withRefs = extra.references !== false && chain.length > 0;
      messages.push({
        folder: fromUser ? 'Sent' : 'INBOX',
        date: new Date(at),
        thread: t,
        messageId,
        kind,
        raw: raw(
          {
            From: extra.from ?? (fromUser ? `Alice <${USER}>` : `Contact ${t} <${contact}>`),
            To: fromUser ? contact : USER,
            Subject: extra.subject ?? (n === 0 ? subject : `Re: ${subject}`),
            Date: rfc2822(new Date(at)),
            'Message-ID': messageId,
            'In-Reply-To': withRefs ? chain.at(-1) : undefined,
            References: withRefs ? chain.join(' ') : undefined,
            ...extra.headers,
          },
          `Message ${n} of thread ${t}.`,
        ),
      });
      ids.push(messageId);
      chain.push(messageId);
      expected.messageCount++;
      if (kind === 'sent') {
        userMessages++;
        firstSent ??= at;
        open = true;
      } else if (kind === 'reply' && firstSent !== undefined) {
        expected.events.reply++;
        expected.responseTimeHours ??= Math.floor((at - firstSent) / HOUR);
        if (open) answered++;
        open = false;
      } else if (kind === 'auto_reply') expected.events.auto_reply++;
      else if (kind === 'bounce') expected.events.bounce++;
    };
    const replyAfter = (t % 7) + 1;
    switch (shape) {
      case 'uniform':
        add('sent', t0);
        add('reply', t0 + 2 * HOUR);
        add('sent', t0 + 3 * HOUR);
        add('reply', t0 + 5 * HOUR);
        add('sent', t0 + 6 * HOUR);
        break;
      case 0:
        add('sent', t0);
        break;
      case 1:
        add('sent', t0);
        add('reply', t0 + replyAfter * HOUR);
        break;
      case 2:
        add('sent', t0);
        add('auto_reply', t0 + 60_000, {
          subject: `Automatic reply: ${subject}`,
          headers: { 'Auto-Submitted': 'auto-replied', 'X-Autoreply': 'yes' },
        });
        add('reply', t0 + 30 * HOUR);
        break;
      case 3:
        add('sent', t0);
        add('bounce', t0 + 120_000, {
          subject: 'Undelivered Mail Returned to Sender',
          from: 'Mail Delivery System <MAILER-DAEMON@mx.contacts.test>',
          headers: {
            'Auto-Submitted': 'auto-replied',
            'Content-Type': 'multipart/report; report-type=delivery-status; boundary="b"',
          },
        });
        break;
      case 4:
        add('sent', t0);
        add('sent', t0 + 72 * HOUR, { subject: `Following up: ${subject}` });
        add('reply', t0 + 80 * HOUR);
        break;
      case 5:
        add('sent', t0);
        add('reply', t0 + replyAfter * HOUR, { references: false });
        break;
      case 6:
        add('inbound', t0, { subject: `Intro ${t}` });
        add('sent', t0 + 5 * HOUR, { subject: `Re: Intro ${t}` });
        add('reply', t0 + 9 * HOUR, { subject: `Re: Intro ${t}` });
        break;
      case 7:
        add('sent', t0);
        break;
      case 8:
        add('sent', t0);
        add('auto_reply', t0 + 30_000, { subject: `Out of Office: ${subject}` });
        break;
      case 9:
        add('sent', t0);
        add('reply', t0 + 4 * HOUR);
        add('sent', t0 + 6 * HOUR);
        add('reply', t0 + 7 * HOUR);
        break;
    }
    if (shape === 6) expected.subject = `Intro ${t}`;
    expected.replyRate = userMessages === 0 ? 0 : Math.round((answered / userMessages) * 10_000) / 100;
    threads.push(expected);
  }
  const newsletters = options.newsletters ?? Math.ceil(options.threads / 10);
  for (let i = 0; i < newsletters; i++) {
    const at = options.start.getTime() + i * 90_000;
    const messageId = `<news${i}@news.test>`;
    messages.push({
      folder: 'INBOX',
      date: new Date(at),
      thread: -1,
      messageId,
      kind: 'other',
      raw: raw(
        {
          From: 'News <news@news.test>',
          To: USER,
          Subject: `Weekly news ${i}`,
          Date: rfc2822(new Date(at)),
          'Message-ID': messageId,
          Precedence: 'bulk',
        },
        'News.',
      ),
    });
  }
  // Arrival order: by date (how a mailbox fills up), Sent and INBOX interleaved.
  messages.sort((a, b) => a.date.getTime() - b.date.getTime());
  return { messages, threads };
}

/** A reply to thread `t` (the next message of its chain), for incremental tests. */
export function replyTo(
  corpus: Corpus,
  t: number,
  at: Date,
  extra: { subject?: string; headers?: Record<string, string>; id?: string } = {},
): CorpusMessage {
  const thread = corpus.threads[t]!;
  const chain = thread.messageIds;
  const messageId = extra.id ?? `<t${t}.${chain.length}@contacts.test>`;
  return {
    folder: 'INBOX',
    date: at,
    thread: t,
    messageId,
    kind: 'reply',
    raw: raw(
      {
        From: `Contact ${t} <c${t}@contacts.test>`,
        To: USER,
        Subject: extra.subject ?? `Re: ${thread.subject}`,
        Date: rfc2822(at),
        'Message-ID': messageId,
        'In-Reply-To': chain.at(-1),
        References: chain.join(' '),
        ...extra.headers,
      },
      'A late reply.',
    ),
  };
}
