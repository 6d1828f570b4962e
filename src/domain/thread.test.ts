import { describe, expect, it } from 'vitest';
import {
  analyticsQuerySchema,
  emailAddress,
  isoDateTime,
  isValidTimeZone,
  leadCreateSchema,
  leadPatchSchema,
  safeText,
  threadCreateSchema,
  threadIdSchema,
  threadPatchSchema,
  threadQuerySchema,
  uuidSchema,
} from './thread.ts';

const UUID = '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b';

describe('safeText', () => {
  const text = safeText(10);
  it.each([
    ['plain ASCII', 'hello'],
    ['the empty string', ''],
    ['emoji (a surrogate pair)', '👋🏽 hi'],
    ['RTL marks and Arabic', '\u200fمرحبا\u200e'],
    ['exactly the maximum length', 'x'.repeat(10)],
    ['a zero-width joiner sequence', '👩‍💻'],
  ])('accepts %s unchanged', (_name, value) => {
    expect(text.parse(value)).toBe(value);
  });

  it.each([
    ['a NUL character', 'a\u0000b'],
    ['a lone high surrogate', 'a\ud83d'],
    ['a lone low surrogate', '\ude4bb'],
    ['reversed surrogates', '\ude4b\ud83d'],
    ['one character over the maximum', 'x'.repeat(11)],
  ])('refuses %s', (_name, value) => {
    expect(text.safeParse(value).success).toBe(false);
  });

  it.each([42, null, ['a'], { a: 1 }, true])('refuses the non-string %j', (value) => {
    expect(text.safeParse(value).success).toBe(false);
  });
});

describe('threadIdSchema', () => {
  it.each(['18c2f0a9b3d4e5f6', 'imap:INBOX:12345', 'a.b_c~d:e@f+g=h-i', 'x'.repeat(255)])(
    'accepts %s',
    (id) => {
      expect(threadIdSchema.parse(id)).toBe(id);
    },
  );

  it.each([
    ['the empty string', ''],
    ['256 characters', 'x'.repeat(256)],
    ['a slash', 'a/b'],
    ['a space', 'a b'],
    ['a percent sign', 'a%00'],
    ['a NUL', 'a\u0000'],
    ['a quote (SQL)', "abc' or '1'='1"],
    ['a semicolon', 'a;drop'],
    ['a backslash', 'a\\b'],
    ['a newline', 'a\nb'],
    ['a glob star', 'a*'],
    ['non-ASCII letters', 'héllo'],
    ['an emoji', '👋'],
  ])('refuses %s', (_name, id) => {
    expect(threadIdSchema.safeParse(id).success).toBe(false);
  });
});

describe('emailAddress', () => {
  it.each([
    ['Alice@Example.COM', 'alice@example.com'],
    ['  bob@example.org  ', 'bob@example.org'],
    ['x+tag@sub.example.co.uk', 'x+tag@sub.example.co.uk'],
  ])('normalizes %j to %j', (input, expected) => {
    expect(emailAddress.parse(input)).toBe(expected);
  });

  it.each([
    ['no at sign', 'alice.example.com'],
    ['two at signs', 'a@b@c'],
    ['a space inside', 'a b@example.com'],
    ['nothing before the at sign', '@example.com'],
    ['nothing after the at sign', 'alice@'],
    ['a NUL', 'alice@exa\u0000mple.com'],
    ['321 characters', `${'a'.repeat(309)}@example.com`],
  ])('refuses %s', (_name, value) => {
    expect(emailAddress.safeParse(value).success).toBe(false);
  });
});

describe('isoDateTime', () => {
  it.each([
    '2026-12-03T14:00:00Z',
    '2026-12-03T14:00:00.123456Z',
    '2026-12-03T14:00:00+01:00',
    '2028-02-29T00:00:00Z',
  ])('accepts %s', (value) => {
    expect(isoDateTime.parse(value)).toBe(value);
  });

  it.each([
    ['a date without time', '2026-12-03'],
    ['no time zone', '2026-12-03T14:00:00'],
    ['a space instead of T', '2026-12-03 14:00:00Z'],
    ['February 30th', '2026-02-30T00:00:00Z'],
    ['February 29th of a common year', '2026-02-29T00:00:00Z'],
    ['hour 24', '2026-12-03T24:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['a Unix timestamp as text', '1764770400'],
    ['an English date', 'Thu, 03 Dec 2026 14:00:00 GMT'],
    ['the empty string', ''],
    ['SQL', "2026-12-03T14:00:00Z' or '1'='1"],
  ])('refuses %s', (_name, value) => {
    expect(isoDateTime.safeParse(value).success).toBe(false);
  });

  it('refuses a number', () => {
    expect(isoDateTime.safeParse(1764770400000).success).toBe(false);
  });
});

describe('uuidSchema', () => {
  it('accepts a UUID', () => {
    expect(uuidSchema.parse(UUID)).toBe(UUID);
  });
  it.each([
    'not-a-uuid',
    '',
    `${UUID}x`,
    UUID.replace(/-/g, ''),
    "' or 1=1 --",
    '00000000-0000-0000-0000-00000000000g',
  ])('refuses %j', (value) => {
    expect(uuidSchema.safeParse(value).success).toBe(false);
  });
});

describe('threadCreateSchema', () => {
  it('accepts a full thread', () => {
    const input = {
      threadId: 'abc',
      leadId: UUID,
      tracked: true,
      hidden: false,
      systemGenerated: true,
      emailType: 'application',
      status: 'active',
      subject: 'Hello 👋',
      participants: ['Alice@Example.com'],
      messageCount: 2,
      lastActivity: '2026-12-03T14:00:00Z',
      aiGenerated: false,
      followupScheduledAt: '2026-12-10T14:00:00Z',
      followupCount: 1,
      openRate: 55.5,
      replyRate: 0,
      responseTimeHours: 12,
    };
    expect(threadCreateSchema.parse(input)).toEqual({ ...input, participants: ['alice@example.com'] });
  });

  it.each([
    ['an unknown field', { threadId: 'a', color: 'red' }],
    ['userId', { threadId: 'a', userId: 'someone-else' }],
    ['id', { threadId: 'a', id: UUID }],
    ['createdAt', { threadId: 'a', createdAt: '2026-12-03T14:00:00Z' }],
    ['updatedAt', { threadId: 'a', updatedAt: '2026-12-03T14:00:00Z' }],
    ['a missing threadId', { subject: 'x' }],
    ['an unknown status', { threadId: 'a', status: 'open' }],
    ['an unknown email type', { threadId: 'a', emailType: 'newsletter' }],
    ['a negative message count', { threadId: 'a', messageCount: -1 }],
    ['a fractional message count', { threadId: 'a', messageCount: 1.5 }],
    ['a message count over int4', { threadId: 'a', messageCount: 2_147_483_648 }],
    ['a rate over 100', { threadId: 'a', openRate: 100.01 }],
    ['a negative rate', { threadId: 'a', replyRate: -0.01 }],
    ['a rate as text', { threadId: 'a', openRate: '50' }],
    ['NaN as text', { threadId: 'a', openRate: 'NaN' }],
    ['a fractional response time', { threadId: 'a', responseTimeHours: 1.5 }],
    ['a string for a boolean', { threadId: 'a', hidden: 'true' }],
    ['a string for participants', { threadId: 'a', participants: 'alice@example.com' }],
    ['an array for subject', { threadId: 'a', subject: ['x'] }],
    ['an object for subject', { threadId: 'a', subject: { $ne: null } }],
    ['201 participants', { threadId: 'a', participants: Array(201).fill('a@b.c') }],
    ['a 2001-character subject', { threadId: 'a', subject: 'x'.repeat(2001) }],
    ['a NUL in the subject', { threadId: 'a', subject: 'a\u0000' }],
    ['an invalid leadId', { threadId: 'a', leadId: 'lead-1' }],
    ['an invalid lastActivity', { threadId: 'a', lastActivity: 'yesterday' }],
  ])('refuses %s', (_name, input) => {
    expect(threadCreateSchema.safeParse(input).success).toBe(false);
  });

  it('refuses __proto__ and constructor keys from parsed JSON', () => {
    for (const json of [
      '{"threadId":"a","__proto__":{"hidden":true}}',
      '{"threadId":"a","constructor":{}}',
    ]) {
      expect(threadCreateSchema.safeParse(JSON.parse(json)).success).toBe(false);
    }
  });
});

describe('threadPatchSchema: the allow-list', () => {
  it.each([
    ['leadId', UUID],
    ['leadId', null],
    ['tracked', false],
    ['emailType', 'manual'],
    ['status', 'archived'],
    ['subject', null],
    ['participants', []],
    ['messageCount', 0],
    ['lastActivity', null],
    ['aiGenerated', true],
    ['openRate', 100],
    ['replyRate', null],
    ['responseTimeHours', 0],
  ])('allows %s = %j', (field, value) => {
    expect(threadPatchSchema.parse({ [field]: value })).toEqual({ [field]: value });
  });

  it.each([
    'id',
    'userId',
    'threadId',
    'createdAt',
    'updatedAt',
    'hidden',
    'hiddenAt',
    'archivedAt',
    'systemGenerated',
    'followupScheduled',
    'followupScheduledAt',
    'followupCount',
    'unknownField',
  ])('refuses %s', (field) => {
    const result = threadPatchSchema.safeParse({ subject: 'ok', [field]: 'x' });
    expect(result.success).toBe(false);
  });

  it('refuses an empty patch', () => {
    expect(threadPatchSchema.safeParse({}).success).toBe(false);
  });
});

describe('threadQuerySchema', () => {
  it('fills the defaults', () => {
    expect(threadQuerySchema.parse({})).toEqual({ sort: 'lastActivity', order: 'desc', limit: 50 });
  });

  it('parses booleans, trims the search and coerces the limit', () => {
    expect(
      threadQuerySchema.parse({ hidden: 'true', systemGenerated: 'false', q: '  acme ', limit: '100' }),
    ).toEqual({
      hidden: true,
      systemGenerated: false,
      q: 'acme',
      sort: 'lastActivity',
      order: 'desc',
      limit: 100,
    });
  });

  it.each([
    ['limit 0', { limit: '0' }],
    ['limit 101', { limit: '101' }],
    ['limit 1.5', { limit: '1.5' }],
    ['limit abc', { limit: 'abc' }],
    ['limit 1e3', { limit: '1e3' }],
    ['hidden=1', { hidden: '1' }],
    ['hidden=yes', { hidden: 'yes' }],
    ['repeated hidden', { hidden: ['true', 'false'] }],
    ['repeated status', { status: ['active', 'spam'] }],
    ['an unknown sort', { sort: 'subject' }],
    ['an unknown order', { order: 'random' }],
    ['an unknown parameter', { userId: 'other' }],
    ['a blank search', { q: '   ' }],
    ['a 201-character search', { q: 'x'.repeat(201) }],
    ['a NUL in the search', { q: 'a\u0000' }],
    ['an invalid leadId', { leadId: '1' }],
    ['an invalid date', { lastActivityFrom: '2026-13-01T00:00:00Z' }],
    ['a 501-character cursor', { cursor: 'x'.repeat(501) }],
  ])('refuses %s', (_name, input) => {
    expect(threadQuerySchema.safeParse(input).success).toBe(false);
  });
});

describe('time zones', () => {
  it.each(['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata'])('accepts %s', (tz) => {
    expect(isValidTimeZone(tz)).toBe(true);
    expect(analyticsQuerySchema.parse({ tz })).toEqual({ tz });
  });

  it.each(['Mars/Olympus', 'Europe/Paris; drop table x', '', "UTC'"])('refuses %j', (tz) => {
    expect(isValidTimeZone(tz)).toBe(false);
    expect(analyticsQuerySchema.safeParse({ tz }).success).toBe(false);
  });

  it('defaults to UTC', () => {
    expect(analyticsQuerySchema.parse({})).toEqual({ tz: 'UTC' });
  });
});

describe('lead schemas', () => {
  it('lower-cases the email and accepts nulls', () => {
    expect(leadCreateSchema.parse({ name: 'Ada', email: 'ADA@Example.com', company: null })).toEqual({
      name: 'Ada',
      email: 'ada@example.com',
      company: null,
    });
  });

  it.each([
    ['an empty patch', {}],
    ['an unknown field', { name: 'a', userId: 'x' }],
    ['an invalid email', { email: 'nope' }],
    ['a NUL in the name', { name: 'a\u0000' }],
  ])('refuses %s as a patch', (_name, input) => {
    expect(leadPatchSchema.safeParse(input).success).toBe(false);
  });
});
