import { describe, expect, it } from 'vitest';
import {
  baseSubject,
  parseMessageIds,
  type ThreadInput,
  type ThreadNode,
  threadLinks,
  threadMembers,
  threadMessages,
} from './threading.ts';

describe('parseMessageIds', () => {
  it.each([
    ['<a@x>', ['a@x']],
    ['  <a@x>  <b@y.z>', ['a@x', 'b@y.z']],
    ['<a@x>\r\n\t<b@y>', ['a@x', 'b@y']],
    ['<a\r\n @x>', ['a@x']],
    ['<no-at> <ok@x>', ['ok@x']],
    ['junk <bad> words <ok@x> trailing', ['ok@x']],
    ['a@x', []],
    ['<unterminated@x', []],
    ['', []],
    ['<"quoted local"@example.com>', ['quoted local@example.com']],
    ['<(comment) part@example.com>', ['part@example.com']],
    ['<"q"@[127.0.0.1]> <ok@x>', ['ok@x']],
    ['<CaSe@Host>', ['CaSe@Host']],
    [
      '<tt.0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b@mail.example>',
      ['tt.0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b@mail.example'],
    ],
  ])('%j → %j', (header, ids) => {
    expect(parseMessageIds(header)).toEqual(ids);
  });
});

describe('baseSubject (RFC 5256 section 2.1)', () => {
  it.each([
    ['Hello', 'HELLO', false],
    ['Re: Hello', 'HELLO', true],
    ['RE:Hello', 'HELLO', true],
    ['re: re: Fwd: Hello', 'HELLO', true],
    ['Re[2]: Hello', 'HELLO', true],
    ['Re [2]: Hello', 'HELLO', true],
    ['[list] Re: Hello', 'HELLO', true],
    ['Re: [PATCH] Hello', 'HELLO', true],
    ['[PATCH] Hello', 'HELLO', false],
    ['[only a blob]', '[ONLY A BLOB]', false],
    ['Hello (fwd)', 'HELLO', true],
    ['Hello (fwd)  (FWD) ', 'HELLO', true],
    ['[fwd: Hello]', 'HELLO', true],
    ['[Fwd: Re: Hello]', 'HELLO', true],
    ['Fw: Hello', 'HELLO', true],
    ['Hello\t  world', 'HELLO WORLD', false],
    ['  Hello  ', 'HELLO', false],
    ['Re:', '', true],
    ['', '', false],
    ['Réunion', 'RE\u0301UNION', false],
    ['Reply to all', 'REPLY TO ALL', false],
    ['Ref: 42', 'REF: 42', false],
  ])('%j → %j (reply or forward: %s)', (subject, base, replyOrForward) => {
    expect(baseSubject(subject)).toEqual({ base, replyOrForward });
  });
});

type M = Partial<ThreadInput<string>> & { item: string };
const T = Date.UTC(2026, 0, 1);

function thread(messages: M[], canMerge?: (a: string[], b: string[]) => boolean) {
  const inputs = messages.map((m, i) => ({
    messageId: null,
    inReplyTo: null,
    references: null,
    subject: null,
    sentAt: T + i * 60_000,
    receivedAt: T + i * 60_000,
    order: i + 1,
    ...m,
  }));
  return threadMessages(inputs, canMerge ? { canMerge } : {});
}

/** "a(b c(d))" */
const show = (node: ThreadNode<string>): string =>
  `${node.item ?? '*'}${node.children.length ? `(${node.children.map(show).join(' ')})` : ''}`;

describe('threadMessages', () => {
  const cases: { name: string; messages: M[]; trees: string[]; anchors?: (string | null)[] }[] = [
    {
      name: 'a reply chain by References',
      messages: [
        { item: 'a', messageId: '<a@x>' },
        { item: 'b', messageId: '<b@x>', references: '<a@x>' },
        { item: 'c', messageId: '<c@x>', references: '<a@x> <b@x>' },
      ],
      trees: ['a(b(c))'],
      anchors: ['a@x'],
    },
    {
      name: 'In-Reply-To when References has no valid id',
      messages: [
        { item: 'a', messageId: '<a@x>' },
        { item: 'b', messageId: '<b@x>', references: 'garbage', inReplyTo: '<a@x>' },
      ],
      trees: ['a(b)'],
    },
    {
      name: 'the reply arrives first; the anchor is the parent id either way',
      messages: [
        { item: 'b', messageId: '<b@x>', references: '<a@x>', sentAt: T + 60_000 },
        { item: 'a', messageId: '<a@x>', sentAt: T },
      ],
      trees: ['a(b)'],
      anchors: ['a@x'],
    },
    {
      name: 'an absent parent: one child is promoted, keeping the absent id as the anchor',
      messages: [{ item: 'b', messageId: '<b@x>', references: '<ghost@x>' }],
      trees: ['b'],
      anchors: ['ghost@x'],
    },
    {
      name: 'an absent parent of two: a dummy root',
      messages: [
        { item: 'b', messageId: '<b@x>', references: '<ghost@x>' },
        { item: 'c', messageId: '<c@x>', references: '<ghost@x>' },
      ],
      trees: ['*(b c)'],
      anchors: ['ghost@x'],
    },
    {
      name: 'siblings in date order, then arrival order',
      messages: [
        { item: 'a', messageId: '<a@x>' },
        { item: 'late', messageId: '<l@x>', references: '<a@x>', sentAt: T + 9e6 },
        { item: 'early', messageId: '<e@x>', references: '<a@x>', sentAt: T + 1e6 },
        { item: 'tie', messageId: '<t@x>', references: '<a@x>', sentAt: T + 1e6 },
      ],
      trees: ['a(early tie late)'],
    },
    {
      name: 'a missing Date sorts by arrival date',
      messages: [
        { item: 'a', messageId: '<a@x>', sentAt: T + 5e6, receivedAt: T },
        { item: 'b', messageId: '<b@x>', sentAt: null, receivedAt: T + 1e6 },
      ],
      trees: ['b', 'a'],
    },
    {
      name: 'a loop is never created',
      messages: [
        { item: 'a', messageId: '<a@x>', references: '<b@x>' },
        { item: 'b', messageId: '<b@x>', references: '<a@x>' },
      ],
      trees: ['b(a)'],
    },
    {
      name: 'a duplicate Message-ID stands alone; references go to the first',
      messages: [
        { item: 'a', messageId: '<a@x>', subject: 'One' },
        { item: 'dup', messageId: '<a@x>', subject: 'Two' },
        { item: 'r', messageId: '<r@x>', references: '<a@x>', subject: 'Three' },
      ],
      trees: ['a(r)', 'dup'],
      anchors: ['a@x', null],
    },
    {
      name: 'same base subject: a reply joins the original',
      messages: [
        { item: 'a', messageId: '<a@x>', subject: 'Offer' },
        { item: 'b', messageId: '<b@x>', subject: 'Re: Offer' },
      ],
      trees: ['a(b)'],
      anchors: ['a@x'],
    },
    {
      name: 'same base subject, neither a reply: a dummy holds both',
      messages: [
        { item: 'a', messageId: '<a@x>', subject: 'Offer' },
        { item: 'b', messageId: '<b@x>', subject: 'Offer' },
      ],
      trees: ['*(a b)'],
      anchors: ['a@x'],
    },
    {
      name: 'empty base subjects never merge',
      messages: [
        { item: 'a', messageId: '<a@x>', subject: 'Re:' },
        { item: 'b', messageId: '<b@x>', subject: '' },
        { item: 'c', messageId: '<c@x>' },
      ],
      trees: ['a', 'b', 'c'],
    },
  ];

  it.each(cases)('$name', ({ messages, trees, anchors }) => {
    const roots = thread(messages);
    expect(roots.map(show)).toEqual(trees);
    if (anchors) expect(roots.map((r) => r.anchor)).toEqual(anchors);
  });

  it('canMerge keeps one subject sent to different people apart, and joins a reply to its own thread', () => {
    const to: Record<string, string> = { a: 'bob', b: 'carol', c: 'bob' };
    const messages: M[] = [
      { item: 'a', messageId: '<a@x>', subject: 'Application: engineer' },
      { item: 'b', messageId: '<b@x>', subject: 'Application: engineer' },
      { item: 'c', messageId: '<c@x>', subject: 'Re: Application: engineer' },
    ];
    const shareSomeone = (x: string[], y: string[]) => x.some((i) => y.some((j) => to[i] === to[j]));
    expect(thread(messages).map(show)).toEqual(['*(a b c)']);
    expect(thread(messages, shareSomeone).map(show)).toEqual(['a(c)', 'b']);
    expect(thread(messages, () => false).map(show)).toEqual(['a', 'b', 'c']);
  });

  it('threadMembers lists a tree depth first', () => {
    const [root] = thread([
      { item: 'a', messageId: '<a@x>' },
      { item: 'b', messageId: '<b@x>', references: '<a@x>' },
      { item: 'c', messageId: '<c@x>', references: '<a@x> <b@x>' },
      { item: 'd', messageId: '<d@x>', references: '<a@x>' },
    ]);
    expect(threadMembers(root!)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('is separable along threadLinks: threading each linked part alone gives the same threads', () => {
    // A seeded mix of replies, missing parents, duplicate ids and shared subjects.
    let seed = 7;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const messages: M[] = [];
    for (let i = 0; i < 400; i++) {
      // Mostly small conversations: a parent among the last few messages (or one not yet arrived).
      const parent = i - 4 + Math.floor(rand() * 6);
      messages.push({
        item: String(i),
        messageId: rand() < 0.03 ? `<${Math.max(0, i - 2)}@x>` : `<${i}@x>`,
        references: rand() < 0.3 ? `<${parent}@x>` : null,
        subject: `${rand() < 0.5 ? 'Re: ' : ''}Subject ${Math.floor(rand() * 300)}`,
        sentAt: T + Math.floor(rand() * 1e7),
      });
    }
    const inputs = messages.map((m, i) => ({
      messageId: null,
      inReplyTo: null,
      references: null,
      subject: null,
      sentAt: T,
      receivedAt: T,
      order: i + 1,
      ...m,
    }));
    const groups = (roots: ThreadNode<string>[]) =>
      roots.map((r) => threadMembers(r).sort().join(',')).sort();
    const whole = groups(threadMessages(inputs));
    // Connected parts by shared links.
    const byLink = new Map<string, number[]>();
    inputs.forEach((input, i) => {
      for (const link of threadLinks(input)) byLink.set(link, [...(byLink.get(link) ?? []), i]);
    });
    const part = new Array<number>(inputs.length).fill(-1);
    let parts = 0;
    for (let i = 0; i < inputs.length; i++) {
      if (part[i] !== -1) continue;
      const stack = [i];
      part[i] = parts;
      while (stack.length > 0) {
        const j = stack.pop()!;
        for (const link of threadLinks(inputs[j]!)) {
          for (const k of byLink.get(link) ?? []) {
            if (part[k] === -1) {
              part[k] = parts;
              stack.push(k);
            }
          }
        }
      }
      parts++;
    }
    expect(parts).toBeGreaterThan(10);
    const separately = Array.from({ length: parts }, (_, p) =>
      groups(threadMessages(inputs.filter((_, i) => part[i] === p))),
    ).flat();
    expect(separately.sort()).toEqual(whole);
  });

  it('threads 10,000 messages in well under a second', () => {
    const messages: M[] = [];
    for (let t = 0; t < 2000; t++) {
      for (let m = 0; m < 5; m++) {
        messages.push({
          item: `${t}.${m}`,
          messageId: `<${t}.${m}@x>`,
          references: m === 0 ? null : Array.from({ length: m }, (_, k) => `<${t}.${k}@x>`).join(' '),
          subject: `${m === 0 ? '' : 'Re: '}Subject ${t}`,
        });
      }
    }
    const started = performance.now();
    const roots = thread(messages);
    expect(roots).toHaveLength(2000);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
