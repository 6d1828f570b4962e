import { describe, expect, it } from 'vitest';
import {
  classifyEmailType,
  DEFAULT_EMAIL_TYPE_RULES,
  type MailMessage,
  matchLead,
  messageNature,
  messageTime,
  type ProjectedFields,
  planThreadWrite,
  projectedFields,
  storableText,
  summarizeThread,
  systemMessageId,
  systemOperationId,
} from './detection.ts';

const ME = 'me@example.com';
const OP = '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b';
const T = Date.UTC(2026, 2, 2, 9, 0, 0);
const at = (hours: number) => new Date(T + hours * 3_600_000).toISOString();

let counter = 0;
function msg(overrides: Partial<MailMessage> & { hours?: number } = {}): MailMessage {
  const n = ++counter;
  const { hours = n, ...rest } = overrides;
  return {
    key: `k${n}`,
    folder: 'inbox',
    generation: '1',
    providerThreadId: null,
    uid: n,
    messageId: `<m${n}@example.org>`,
    inReplyTo: null,
    references: null,
    subject: 'Hello',
    from: 'bob@example.org',
    to: [ME],
    cc: [],
    sentAt: at(hours),
    receivedAt: at(hours),
    inSent: false,
    autoHeaders: {},
    ...rest,
  };
}
const sent = (o: Partial<MailMessage> & { hours?: number } = {}) =>
  msg({ folder: 'sent', inSent: true, from: ME, to: ['bob@example.org'], ...o });

const ctx = { userAddresses: [ME], rules: DEFAULT_EMAIL_TYPE_RULES };

describe('systemMessageId', () => {
  it('is <tt.{opId}@{domain}> and is recognised back', () => {
    const id = systemMessageId(OP.toUpperCase(), 'Mail.Example.com');
    expect(id).toBe(`<tt.${OP}@mail.example.com>`);
    expect(systemOperationId(id)).toBe(OP);
    expect(systemOperationId(`  ${id} `)).toBe(OP);
  });
  it.each([
    '<tt.not-a-uuid@example.com>',
    `<xx.${OP}@example.com>`,
    `<tt.${OP}>`,
    '<CAF=abc@mail.gmail.com>',
    null,
  ])('does not take %j for a system id', (header) => {
    expect(systemOperationId(header)).toBeNull();
  });
  it('refuses a non-UUID operation id or a bad domain', () => {
    expect(() => systemMessageId('abc', 'example.com')).toThrow();
    expect(() => systemMessageId(OP, 'exa mple>')).toThrow();
  });
});

describe('messageNature', () => {
  const base = { from: 'bob@example.org', subject: 'Re: Hello', autoHeaders: {} };
  it.each<[string, Partial<typeof base> & { autoHeaders?: MailMessage['autoHeaders'] }, string]>([
    ['a plain reply', {}, 'human'],
    ['Auto-Submitted: auto-replied', { autoHeaders: { 'auto-submitted': 'auto-replied' } }, 'auto_reply'],
    ['Auto-Submitted: auto-generated', { autoHeaders: { 'auto-submitted': 'Auto-Generated' } }, 'auto_reply'],
    ['Auto-Submitted: no', { autoHeaders: { 'auto-submitted': 'no' } }, 'human'],
    ['X-Autoreply: yes', { autoHeaders: { 'x-autoreply': 'yes' } }, 'auto_reply'],
    ['X-Autorespond', { autoHeaders: { 'x-autorespond': 'Out of office' } }, 'auto_reply'],
    ['X-Autoresponse', { autoHeaders: { 'x-autoresponse': '1' } }, 'auto_reply'],
    ['Precedence: bulk', { autoHeaders: { precedence: 'bulk' } }, 'auto_reply'],
    ['Precedence: auto_reply', { autoHeaders: { precedence: 'auto_reply' } }, 'auto_reply'],
    ['Precedence: junk', { autoHeaders: { precedence: ' JUNK ' } }, 'auto_reply'],
    ['Precedence: list is a person on a list', { autoHeaders: { precedence: 'list' } }, 'human'],
    [
      'a read receipt (disposition-notification report)',
      {
        subject: 'Read: Hello',
        autoHeaders: { 'content-type': 'multipart/report; report-type=disposition-notification' },
      },
      'auto_reply',
    ],
    [
      'a delivery status notification',
      {
        from: 'mailer-daemon@mx.example.org',
        subject: 'Undelivered Mail Returned to Sender',
        autoHeaders: {
          'content-type': 'multipart/report; report-type="delivery-status"; boundary="x"',
          'auto-submitted': 'auto-replied',
        },
      },
      'bounce',
    ],
    ['MAILER-DAEMON sender', { from: 'MAILER-DAEMON@example.org', subject: 'failure notice' }, 'bounce'],
    ['postmaster sender', { from: 'postmaster@example.org', subject: 'Hello' }, 'bounce'],
    [
      "Gmail's bounce",
      { from: 'mailer-daemon@googlemail.com', subject: 'Delivery Status Notification (Failure)' },
      'bounce',
    ],
    ['X-Failed-Recipients', { autoHeaders: { 'x-failed-recipients': 'gone@example.org' } }, 'bounce'],
    ['an Exchange NDR subject', { from: 'it@example.org', subject: 'Undeliverable: Hello' }, 'bounce'],
    ['German NDR subject', { subject: 'Unzustellbar: Hallo' }, 'bounce'],
    ['English OOO', { subject: 'Out of Office: Hello' }, 'auto_reply'],
    ['Outlook automatic reply', { subject: 'Automatic reply: Hello' }, 'auto_reply'],
    ['AutoReply', { subject: 'AutoReply: Hello' }, 'auto_reply'],
    ['French', { subject: 'Réponse automatique : Hello' }, 'auto_reply'],
    ['French absence', { subject: 'Absence du bureau' }, 'auto_reply'],
    ['German', { subject: 'Abwesenheitsnotiz: Hello' }, 'auto_reply'],
    ['German automatic', { subject: 'Automatische Antwort: Hello' }, 'auto_reply'],
    ['Spanish', { subject: 'Respuesta automática: Hello' }, 'auto_reply'],
    ['Spanish office', { subject: 'Fuera de la oficina' }, 'auto_reply'],
    ['Italian', { subject: 'Risposta automatica: Hello' }, 'auto_reply'],
    ['Portuguese', { subject: 'Resposta automática: Hello' }, 'auto_reply'],
    ['Dutch', { subject: 'Automatisch antwoord: Hello' }, 'auto_reply'],
    ['Swedish', { subject: 'Automatiskt svar: Hello' }, 'auto_reply'],
    ['Danish', { subject: 'Automatisk svar: Hello' }, 'auto_reply'],
    ['Polish', { subject: 'Odpowiedź automatyczna: Hello' }, 'auto_reply'],
    ['Russian', { subject: 'Автоматический ответ: Hello' }, 'auto_reply'],
    ['Japanese', { subject: '自動返信: Hello' }, 'auto_reply'],
    ['Chinese', { subject: '自动回复: Hello' }, 'auto_reply'],
    ['Korean', { subject: '자동 응답: Hello' }, 'auto_reply'],
    ['OOO behind Re:', { subject: 'RE: Out of office until Monday' }, 'auto_reply'],
    ['a human mentioning the office', { subject: 'Re: Visiting the office' }, 'human'],
    ['a human subject starting with Absent', { subject: 'Absent minded professor' }, 'human'],
  ])('%s', (_name, overrides, nature) => {
    expect(messageNature({ ...base, ...overrides })).toBe(nature);
  });
});

describe('messageTime', () => {
  it.each([
    [{ sentAt: at(1), receivedAt: at(2) }, at(1)],
    [{ sentAt: null, receivedAt: at(2) }, at(2)],
    [{ sentAt: at(40), receivedAt: at(2) }, at(2)],
    [{ sentAt: at(20), receivedAt: at(2) }, at(20)],
  ])('%j → %s', (m, expected) => {
    expect(messageTime(m)).toBe(expected);
  });
});

describe('storableText', () => {
  it.each<[string | null, number, string | null]>([
    [null, 10, null],
    ['  Hello  ', 10, 'Hello'],
    ['a\u0000b', 10, 'ab'],
    ['x\uD800y', 10, 'x\uFFFDy'],
    ['é'.repeat(5), 3, 'ééé'],
  ])('%j (max %i) → %j', (input, max, expected) => {
    expect(storableText(input, max)).toBe(expected);
  });
});

describe('summarizeThread', () => {
  it('a sent message alone: tracked, no reply', () => {
    const s = summarizeThread([sent({ hours: 0, subject: 'Quick question' })], ctx);
    expect(s).toMatchObject({
      tracked: true,
      subject: 'Quick question',
      participants: ['bob@example.org'],
      messageCount: 1,
      lastActivity: at(0),
      responseTimeHours: null,
      replyRate: 0,
      firstSentAt: at(0),
      emailType: 'manual',
      systemGenerated: false,
    });
  });

  it('only incoming mail: not tracked', () => {
    const s = summarizeThread([msg({ hours: 0 }), msg({ hours: 1 })], ctx);
    expect(s.tracked).toBe(false);
    expect(s.messages.map((m) => m.kind)).toEqual(['inbound', 'inbound']);
    expect(s.replyRate).toBeNull();
  });

  it('a reply 26.5 hours later: response time 26 h, reply rate 100', () => {
    const s = summarizeThread([sent({ hours: 0 }), msg({ hours: 26.5 })], ctx);
    expect(s.messages.map((m) => m.kind)).toEqual(['sent', 'reply']);
    expect(s.responseTimeHours).toBe(26);
    expect(s.replyRate).toBe(100);
    expect(s.lastActivity).toBe(at(26.5));
  });

  it('auto-replies and bounces are not replies', () => {
    const s = summarizeThread(
      [
        sent({ hours: 0 }),
        msg({ hours: 0.1, subject: 'Automatic reply: Hello' }),
        msg({
          hours: 0.2,
          from: 'mailer-daemon@example.org',
          subject: 'Undelivered Mail Returned to Sender',
        }),
        msg({ hours: 5, autoHeaders: { 'auto-submitted': 'auto-replied' } }),
      ],
      ctx,
    );
    expect(s.messages.map((m) => m.kind)).toEqual(['sent', 'auto_reply', 'bounce', 'auto_reply']);
    expect(s.responseTimeHours).toBeNull();
    expect(s.replyRate).toBe(0);
    expect(s.messageCount).toBe(4);
    expect(s.participants).toEqual(['bob@example.org']);
  });

  it('reply rate: the share of the user messages answered before the next one', () => {
    // sent, sent (follow-up), reply, sent, reply, sent → 2 of 4 answered
    const s = summarizeThread(
      [
        sent({ hours: 0 }),
        sent({ hours: 48 }),
        msg({ hours: 50 }),
        sent({ hours: 51 }),
        msg({ hours: 60 }),
        sent({ hours: 61 }),
      ],
      ctx,
    );
    expect(s.replyRate).toBe(50);
    expect(s.responseTimeHours).toBe(50);
    expect(s.emailType).toBe('followup');
  });

  it('a thread someone else started: the first message is inbound, not a reply', () => {
    const s = summarizeThread([msg({ hours: 0 }), sent({ hours: 2 }), msg({ hours: 5 })], ctx);
    expect(s.messages.map((m) => m.kind)).toEqual(['inbound', 'sent', 'reply']);
    expect(s.responseTimeHours).toBe(3);
    expect(s.firstSentAt).toBe(at(2));
  });

  it('copies of one message (Sent and INBOX, or two generations) count once', () => {
    const original = sent({ hours: 0, messageId: '<same@x>', to: [ME, 'bob@example.org'] });
    const copy = msg({ hours: 0, messageId: '<same@x>', from: ME, folder: 'inbox' });
    const s = summarizeThread([original, copy, msg({ hours: 1 })], ctx);
    expect(s.messageCount).toBe(2);
    expect(s.messages[0]!.keys).toEqual([original.key, copy.key]);
    expect(s.messages.map((m) => m.kind)).toEqual(['sent', 'reply']);
  });

  it('the user is recognised by address even outside the Sent folder', () => {
    const s = summarizeThread([msg({ hours: 0, from: 'ME@example.com' })], ctx);
    expect(s.tracked).toBe(true);
  });

  it('participants: everyone but the user, in order of appearance, lower-cased, valid, deduplicated', () => {
    const s = summarizeThread(
      [
        sent({ hours: 0, to: ['Bob@Example.org', 'not-an-address'], cc: ['carol@example.org'] }),
        msg({ hours: 1, from: 'carol@example.org', to: [ME], cc: ['dave@example.org', 'bob@example.org'] }),
      ],
      ctx,
    );
    expect(s.participants).toEqual(['bob@example.org', 'carol@example.org', 'dave@example.org']);
  });

  it('system generated: the first message carries a system Message-ID; a later one makes an auto follow-up', () => {
    const first = summarizeThread([sent({ hours: 0, messageId: systemMessageId(OP, 'example.com') })], ctx);
    expect(first.systemGenerated).toBe(true);
    const later = summarizeThread(
      [
        sent({ hours: 0 }),
        sent({ hours: 72, messageId: systemMessageId(OP, 'example.com'), subject: 'Re: Hello' }),
      ],
      ctx,
    );
    expect(later.systemGenerated).toBe(false);
    expect(later.emailType).toBe('auto_followup');
  });

  it('ties at the same time: the user message comes first', () => {
    const s = summarizeThread([msg({ hours: 0 }), sent({ hours: 0 })], ctx);
    expect(s.messages.map((m) => m.kind)).toEqual(['sent', 'reply']);
    expect(s.responseTimeHours).toBe(0);
  });
});

describe('classifyEmailType (default rules)', () => {
  const facts = { subject: '', participants: ['bob@example.org'], systemFollowup: false, followedUp: false };
  it.each<[string, Partial<typeof facts>, string]>([
    ['a plain outreach', { subject: 'Coffee next week?' }, 'manual'],
    ['an application by subject', { subject: 'Application for Senior Engineer' }, 'application'],
    ['a résumé', { subject: 'My résumé' }, 'application'],
    ['a CV', { subject: 'CV - Jane Doe' }, 'application'],
    ['German', { subject: 'Bewerbung als Entwicklerin' }, 'application'],
    ['an applicant tracking system', { participants: ['jobs+123@greenhouse.io'] }, 'application'],
    ['a system follow-up', { subject: 'Coffee?', systemFollowup: true }, 'auto_followup'],
    ['the user wrote again', { subject: 'Coffee?', followedUp: true }, 'followup'],
    ['a follow-up subject', { subject: 'Following up on our call' }, 'followup'],
    ['applications win over follow-ups', { subject: 'Job application', followedUp: true }, 'application'],
  ])('%s → %s', (_name, overrides, type) => {
    expect(classifyEmailType({ ...facts, ...overrides }, DEFAULT_EMAIL_TYPE_RULES)).toBe(type);
  });

  it('custom rules replace the defaults, first match wins', () => {
    const rules = [
      { type: 'followup' as const, participant: '@acme\\.com$' },
      { type: 'application' as const, subject: 'hello' },
    ];
    expect(classifyEmailType({ ...facts, participants: ['x@acme.com'], subject: 'hello' }, rules)).toBe(
      'followup',
    );
    expect(classifyEmailType({ ...facts, subject: 'Hello there' }, rules)).toBe('application');
    expect(classifyEmailType({ ...facts, subject: 'Application' }, rules)).toBe('manual');
  });
});

describe('matchLead', () => {
  const leads = [
    { id: 'l1', email: 'Carol@Example.org' },
    { id: 'l2', email: null },
    { id: 'l3', email: 'bob@example.org' },
  ];
  it.each<[string[], string | null]>([
    [['bob@example.org', 'carol@example.org'], 'l3'],
    [['carol@example.org', 'bob@example.org'], 'l1'],
    [['dave@example.org'], null],
    [[], null],
  ])('%j → %s', (participants, lead) => {
    expect(matchLead(participants, leads)).toBe(lead);
  });
});

describe('planThreadWrite', () => {
  const fields: ProjectedFields = projectedFields(summarizeThread([sent({ hours: 0 })], ctx), null);
  it('a new thread: every field, tracked, no lead when none matched', () => {
    const plan = planThreadWrite('t1', undefined, fields);
    expect(plan.kind).toBe('upsert');
    if (plan.kind !== 'upsert') return;
    expect(plan.input).toMatchObject({ threadId: 't1', tracked: true, messageCount: 1, emailType: 'manual' });
    expect(plan.input).not.toHaveProperty('leadId');
    expect(plan.input).not.toHaveProperty('status');
  });
  it('nothing changed: no write', () => {
    expect(planThreadWrite('t1', { fields, retired: false }, { ...fields })).toEqual({ kind: 'none' });
  });
  it('only the fields that changed', () => {
    const plan = planThreadWrite(
      't1',
      { fields, retired: false },
      { ...fields, messageCount: 2, responseTimeHours: 3 },
    );
    expect(plan).toMatchObject({
      kind: 'upsert',
      input: { threadId: 't1', messageCount: 2, responseTimeHours: 3 },
    });
    if (plan.kind === 'upsert')
      expect(Object.keys(plan.input).sort()).toEqual(['messageCount', 'responseTimeHours', 'threadId']);
  });
  it('gone from the mailbox: retired once', () => {
    expect(planThreadWrite('t1', { fields, retired: false }, null)).toEqual({
      kind: 'retire',
      projection: { fields, retired: true },
    });
    expect(planThreadWrite('t1', { fields, retired: true }, null)).toEqual({ kind: 'none' });
    expect(planThreadWrite('t1', undefined, null)).toEqual({ kind: 'none' });
  });
  it('back in the mailbox: active again with every field', () => {
    const plan = planThreadWrite('t1', { fields, retired: true }, { ...fields, leadId: 'lead-1' });
    expect(plan).toMatchObject({
      kind: 'upsert',
      input: { status: 'active', tracked: true, leadId: 'lead-1' },
    });
  });
});
