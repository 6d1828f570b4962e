/**
 * The header threading of src/domain/threading.ts against its oracle: Dovecot's server-side
 * `UID THREAD REFERENCES UTF-8 ALL`. Each corpus goes into a mailbox of its own; the trees must be equal, node for
 * node (dummies included), not only the grouping. Hand-written corpora cover the rules one by one; seeded random
 * corpora mix them (missing and duplicate ids, loops, forward references, broken headers, subject merging).
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ThreadInput, type ThreadNode, threadMessages } from '../../src/domain/threading.ts';
import { type DovecotServer, startDovecot } from '../harness/dovecot.ts';
import { describeWithService } from '../harness/require-services.ts';

interface CorpusMessage {
  messageId?: string;
  inReplyTo?: string;
  references?: string;
  /** Raw Subject header (may hold encoded words) and what it decodes to. */
  subject?: string;
  decodedSubject?: string;
  /** Date header: a time (ms), or a raw string that is not a date. */
  date?: number | string;
  received: number;
}

type Tree = { uid: number | null; children: Tree[] };

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const h = (n: number) => T0 + n * 3_600_000;

function rfc2822(ms: number, offsetMinutes = 0): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const off = Math.abs(offsetMinutes);
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${sign}${pad(Math.floor(off / 60))}${pad(off % 60)}`;
}

function raw(m: CorpusMessage, index: number): string {
  const lines = [`From: sender${index % 7}@corpus.test`, 'To: me@corpus.test'];
  if (m.messageId !== undefined) lines.push(`Message-ID: ${m.messageId}`);
  if (m.inReplyTo !== undefined) lines.push(`In-Reply-To: ${m.inReplyTo}`);
  if (m.references !== undefined) lines.push(`References: ${m.references}`);
  if (m.subject !== undefined) lines.push(`Subject: ${m.subject}`);
  if (typeof m.date === 'number') lines.push(`Date: ${rfc2822(m.date, (index % 5) * 60 - 120)}`);
  else if (typeof m.date === 'string') lines.push(`Date: ${m.date}`);
  return `${lines.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nmessage ${index}\r\n`;
}

/** A THREAD response list as a tree (RFC 5256: a run of numbers is a chain; nested lists are children). */
function parseThread(list: unknown[]): Tree {
  const atoms: number[] = [];
  let i = 0;
  while (i < list.length && !Array.isArray(list[i])) {
    atoms.push(Number((list[i] as { value: string }).value));
    i++;
  }
  const nested = list.slice(i).map((l) => parseThread(l as unknown[]));
  if (atoms.length === 0) return { uid: null, children: nested };
  const top: Tree = { uid: atoms[0]!, children: [] };
  let cur = top;
  for (const uid of atoms.slice(1)) {
    const next: Tree = { uid, children: [] };
    cur.children = [next];
    cur = next;
  }
  cur.children = nested;
  return top;
}

const toTree = (node: ThreadNode<number>): Tree => ({
  uid: node.item,
  children: node.children.map(toTree),
});

function inputs(corpus: CorpusMessage[]): ThreadInput<number>[] {
  return corpus.map((m, i) => ({
    item: i + 1,
    messageId: m.messageId ?? null,
    inReplyTo: m.inReplyTo ?? null,
    references: m.references ?? null,
    subject: m.decodedSubject ?? m.subject ?? null,
    sentAt: typeof m.date === 'number' ? Math.floor(m.date / 1000) * 1000 : null,
    receivedAt: Math.floor(m.received / 1000) * 1000,
    order: i + 1,
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Corpora

const id = (n: string | number) => `<m${n}@corpus.test>`;

const handWritten: Record<string, CorpusMessage[]> = {
  'a reply chain and a reply arriving before its parent': [
    { messageId: id(2), references: `${id(1)}`, subject: 'Re: Lunch', date: h(2), received: h(2) },
    { messageId: id(1), subject: 'Lunch', date: h(1), received: h(1) },
    { messageId: id(3), references: `${id(1)} ${id(2)}`, subject: 'Re: Lunch', date: h(3), received: h(3) },
    { messageId: id(4), inReplyTo: id(2), subject: 'Re: Lunch', date: h(4), received: h(4) },
  ],
  'missing parents: one dummy root with two messages, one promoted child': [
    { messageId: id(1), references: '<ghost1@corpus.test>', subject: 'Alpha', date: h(1), received: h(1) },
    { messageId: id(2), references: '<ghost1@corpus.test>', subject: 'Beta', date: h(2), received: h(2) },
    { messageId: id(3), references: '<ghost2@corpus.test>', subject: 'Gamma', date: h(3), received: h(3) },
    {
      messageId: id(4),
      references: `<ghost3@corpus.test> <ghost4@corpus.test>`,
      subject: 'Delta',
      date: h(0),
      received: h(5),
    },
  ],
  'loops, self references and conflicting parents': [
    { messageId: id(1), references: id(2), subject: 'One', date: h(1), received: h(1) },
    { messageId: id(2), references: id(1), subject: 'Two', date: h(2), received: h(2) },
    { messageId: id(3), references: `${id(3)} ${id(1)}`, subject: 'Three', date: h(3), received: h(3) },
    { messageId: id(4), references: `${id(1)} ${id(5)}`, subject: 'Four', date: h(4), received: h(4) },
    { messageId: id(5), references: `${id(2)}`, subject: 'Five', date: h(5), received: h(5) },
    { messageId: id(6), references: `${id(6)}`, subject: 'Six', date: h(6), received: h(6) },
  ],
  'missing, duplicate and malformed Message-IDs': [
    { subject: 'No id', date: h(1), received: h(1) },
    { messageId: id(1), subject: 'First', date: h(2), received: h(2) },
    { messageId: id(1), subject: 'Duplicate of first', date: h(3), received: h(3) },
    { messageId: id(2), references: id(1), subject: 'Re: First', date: h(4), received: h(4) },
    { messageId: '<no-at-sign>', references: id(1), subject: 'Malformed', date: h(5), received: h(5) },
    { messageId: 'm9@corpus.test', subject: 'Unbracketed', date: h(6), received: h(6) },
    {
      messageId: '<"quoted local"@corpus.test>',
      subject: 'Quoted',
      date: h(7),
      received: h(7),
    },
    {
      messageId: id(8),
      references: '<"quoted local"@corpus.test> junk <bad> <m1@ corpus.test>',
      subject: 'Re: Quoted',
      date: h(8),
      received: h(8),
    },
    { messageId: `${id(9)} ${id(10)}`, subject: 'Two ids', date: h(9), received: h(9) },
    {
      messageId: id(11),
      references: id(10),
      inReplyTo: id(9),
      subject: 'Refs win',
      date: h(10),
      received: h(10),
    },
    {
      messageId: id(12),
      references: 'nothing valid',
      inReplyTo: `${id(9)} ${id(1)}`,
      date: h(11),
      received: h(11),
    },
  ],
  'subject merging: replies, forwards, blobs, trailers, dummies': [
    { messageId: id(1), subject: 'Project plan', date: h(1), received: h(1) },
    { messageId: id(2), subject: 'Re: Project plan', date: h(2), received: h(2) },
    { messageId: id(3), subject: 'RE: [team] project   plan', date: h(3), received: h(3) },
    { messageId: id(4), subject: 'Fwd: Project plan (fwd)', date: h(4), received: h(4) },
    { messageId: id(5), subject: '[fwd: Project plan]', date: h(5), received: h(5) },
    { messageId: id(6), subject: 'Project plan', date: h(6), received: h(6) },
    {
      messageId: id(7),
      references: '<ghost-plan@corpus.test>',
      subject: 'Re: Project plan',
      date: h(7),
      received: h(7),
    },
    {
      messageId: id(8),
      references: '<ghost-plan@corpus.test>',
      subject: 'Project plan',
      date: h(8),
      received: h(8),
    },
    { messageId: id(9), subject: 'Re[2]: Budget', date: h(9), received: h(9) },
    { messageId: id(10), subject: 'Fw: budget', date: h(10), received: h(10) },
    { messageId: id(11), subject: 'Re:', date: h(11), received: h(11) },
    { messageId: id(12), subject: '', date: h(12), received: h(12) },
    { messageId: id(13), subject: '[only a blob]', date: h(13), received: h(13) },
    { messageId: id(14), subject: 'Re: [only a blob]', date: h(14), received: h(14) },
    {
      messageId: id(15),
      subject: '=?UTF-8?Q?R=C3=A9union_d=C3=A9cembre?=',
      decodedSubject: 'Réunion décembre',
      date: h(15),
      received: h(15),
    },
    { messageId: id(16), subject: 'Re: RÉUNION DÉCEMBRE', date: h(16), received: h(16) },
  ],
  'dates: missing, invalid and equal dates order by arrival': [
    { messageId: id(1), subject: 'Dates', date: h(5), received: h(1) },
    { messageId: id(2), references: id(1), subject: 'Re: Dates', received: h(3) },
    { messageId: id(3), references: id(1), subject: 'Re: Dates', date: 'not a date at all', received: h(2) },
    { messageId: id(4), references: id(1), subject: 'Re: Dates', date: h(2), received: h(9) },
    { messageId: id(5), references: id(1), subject: 'Re: Dates', date: h(2), received: h(8) },
    { messageId: id(6), subject: 'Other', date: h(2), received: h(8) },
    { messageId: id(7), subject: 'Another', received: h(0) },
  ],
};

/** A seeded corpus that mixes every rule (mulberry32). */
function randomCorpus(seed: number, size: number): CorpusMessage[] {
  let state = seed >>> 0;
  const rand = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]) => items[Math.floor(rand() * items.length)]!;
  const bases = ['Invoice 42', 'Meeting notes', 'Hello', '[list] Weekly', 'Réunion', 'Question', 'Offer'];
  const leaders = ['', '', '', 'Re: ', 'RE: ', 'Fwd: ', 'Fw:', '[tag] Re: ', 'Re[3]: ', 're:re: '];
  const trailers = ['', '', '', ' (fwd)', '  '];
  const parentOf = new Map<number, number>();
  const corpus: CorpusMessage[] = [];
  for (let i = 0; i < size; i++) {
    const m: CorpusMessage = { received: T0 + Math.floor(rand() * 90) * 60_000 };
    const r = rand();
    if (r < 0.04) {
      // no Message-ID
    } else if (r < 0.08 && i > 0) m.messageId = id(Math.floor(rand() * i));
    else if (r < 0.1) m.messageId = `<broken${i}>`;
    else m.messageId = id(i);
    const link = rand();
    if (link < 0.55 && i > 0) {
      // A reply to an earlier message, a later one (forward reference) or one that never arrives.
      const target =
        rand() < 0.8 ? Math.floor(rand() * i) : rand() < 0.5 ? i + 1 + Math.floor(rand() * 5) : -1;
      const chain: string[] = [];
      for (let p = target, guard = 0; p >= 0 && guard < 6; p = parentOf.get(p) ?? -1, guard++) {
        chain.unshift(id(p));
      }
      if (target < 0) chain.push(`<ghost${Math.floor(rand() * 6)}@corpus.test>`);
      if (target >= 0) parentOf.set(i, target);
      const style = rand();
      if (style < 0.6) m.references = chain.join(' ');
      else if (style < 0.75) m.inReplyTo = chain.at(-1)!;
      else if (style < 0.85) m.references = [...chain].reverse().join('\r\n ');
      else if (style < 0.92) {
        m.references = `junk ${chain.join(' ')} <bad>`;
        m.inReplyTo = id(Math.floor(rand() * (i + 1)));
      } else m.references = `${chain.join(' ')} ${id(i)}`;
    }
    if (rand() > 0.05) m.subject = `${pick(leaders)}${pick(bases)}${pick(trailers)}`;
    const d = rand();
    if (d < 0.85) m.date = T0 + Math.floor(rand() * 40) * 3_600_000;
    else if (d < 0.93) m.date = 'garbage date';
    corpus.push(m);
  }
  return corpus;
}

// ---------------------------------------------------------------------------------------------------------------

describeWithService('dovecot', 'threading: the same trees as Dovecot THREAD REFERENCES', () => {
  let dovecot: DovecotServer;
  let client: ImapFlow;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ user: 'oracle', password: 'oracle-pass' }] });
    client = new ImapFlow(dovecot.clientOptions('oracle'));
    await client.connect();
  });
  afterAll(async () => {
    await client?.logout().catch(() => client.close());
    await dovecot?.stop();
  });

  let folderCount = 0;
  async function dovecotThreads(corpus: CorpusMessage[]): Promise<Tree[]> {
    const folder = `corpus${++folderCount}`;
    await client.mailboxCreate(folder);
    for (const [i, m] of corpus.entries()) await client.append(folder, raw(m, i), [], new Date(m.received));
    await client.mailboxOpen(folder);
    const trees: Tree[] = [];
    const response = await (
      client as unknown as {
        exec(
          command: string,
          attributes: unknown[],
          options: unknown,
        ): Promise<{ next: () => void; response: unknown }>;
      }
    ).exec(
      'UID THREAD',
      ['REFERENCES', 'UTF-8', 'ALL'].map((value) => ({ type: 'ATOM', value })),
      {
        // Keyed by the untagged response's name (an object literal key in upper case reads as a component).
        untagged: Object.fromEntries([
          [
            'THREAD',
            async (untagged: { attributes: unknown[][] }) => {
              for (const list of untagged.attributes) trees.push(parseThread(list));
            },
          ],
        ]),
      },
    );
    response.next();
    return trees;
  }

  it.each(Object.entries(handWritten))('%s', async (_name, corpus) => {
    const expected = await dovecotThreads(corpus);
    expect(threadMessages(inputs(corpus)).map(toTree)).toEqual(expected);
  });

  it.each([1, 2, 3, 4])('random corpus %i (250 messages)', async (seed) => {
    const corpus = randomCorpus(seed, 250);
    const expected = await dovecotThreads(corpus);
    expect(expected.length).toBeGreaterThan(5);
    expect(threadMessages(inputs(corpus)).map(toTree)).toEqual(expected);
  });
});
