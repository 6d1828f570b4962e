import { describe, expect, it } from 'vitest';
import {
  decodeCsvCell,
  encodeCsvCell,
  normalizeFieldName,
  normalizeTimestamp,
  parseThreadRecord,
  THREAD_RECORD_FIELDS,
  type ThreadRecord,
} from './thread-record.ts';

const NOW = '2026-06-01T12:00:00.000Z';
const context = { defaultUserId: 'me', now: NOW, newId: () => '00000000-0000-4000-8000-000000000001' };

const full: ThreadRecord = {
  id: '6f1c1a4e-2b7a-4c6c-9a55-9f0a1a2b3c4d',
  userId: 'alice',
  threadId: '18c2f0a1b2c3d4e5',
  leadId: null,
  tracked: true,
  hidden: true,
  systemGenerated: false,
  emailType: 'application',
  status: 'archived',
  subject: 'Senior engineer, Paris',
  participants: ['me@example.com', 'hr@corp.example'],
  messageCount: 3,
  lastActivity: '2026-05-01T10:00:00.123456Z',
  aiGenerated: null,
  followupScheduled: false,
  followupScheduledAt: null,
  followupCount: 2,
  openRate: 12.5,
  replyRate: null,
  responseTimeHours: 30,
  createdAt: '2026-04-01T09:00:00.000001Z',
  updatedAt: '2026-05-01T10:00:00.123457Z',
  hiddenAt: '2026-05-01T10:00:00Z',
  archivedAt: '2026-05-02T10:00:00Z',
};

describe('normalizeFieldName', () => {
  it.each([
    ['thread_id', 'threadId'],
    ['threadId', 'threadId'],
    ['ThreadId', 'threadId'],
    ['thread-id', 'threadId'],
    [' followup_scheduled_at ', 'followupScheduledAt'],
    ['\uFEFFid', 'id'],
    ['response_time_hours', 'responseTimeHours'],
  ])('%s → %s', (name, field) => expect(normalizeFieldName(name)).toBe(field));
});

describe('normalizeTimestamp', () => {
  it.each([
    ['2026-01-02 03:04:05.123456+00', '2026-01-02T03:04:05.123456+00:00'],
    ['2026-01-02 03:04:05+0130', '2026-01-02T03:04:05+01:30'],
    ['2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z'],
    ['2026-01-02T03:04:05z', '2026-01-02T03:04:05Z'],
    ['yesterday', 'yesterday'],
  ])('%s → %s', (given, iso) => expect(normalizeTimestamp(given)).toBe(iso));
});

describe('parseThreadRecord', () => {
  it('keeps a complete record exactly, null values included', () => {
    const parsed = parseThreadRecord(full, context);
    expect(parsed).toEqual({ ok: true, record: full, fields: [...THREAD_RECORD_FIELDS], ignoredFields: [] });
  });

  it('reads snake_case field names as camelCase ones', () => {
    const snake = Object.fromEntries(
      Object.entries(full).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
    );
    expect(parseThreadRecord(snake, context)).toMatchObject({ ok: true, record: full });
  });

  it('fills what an old-tracker record leaves out with the column defaults, and says which fields were given', () => {
    const parsed = parseThreadRecord(
      {
        threadId: 't1',
        subject: 'Hi',
        followupScheduledAt: '2026-07-01T00:00:00Z',
        created_at: '2026-01-01T00:00:00Z',
      },
      context,
    );
    expect(parsed).toMatchObject({
      ok: true,
      record: {
        id: '00000000-0000-4000-8000-000000000001',
        userId: 'me',
        threadId: 't1',
        tracked: true,
        hidden: false,
        status: 'active',
        participants: [],
        messageCount: 1,
        followupScheduled: true,
        followupCount: 0,
        createdAt: '2026-01-01T00:00:00Z',
        lastActivity: '2026-01-01T00:00:00Z',
        updatedAt: NOW,
      },
    });
    expect(parsed.ok && parsed.fields).toEqual([
      'threadId',
      'subject',
      'followupScheduled',
      'followupScheduledAt',
      'createdAt',
    ]);
  });

  it('takes the address out of "Name <address>" and lower-cases it', () => {
    const parsed = parseThreadRecord({ threadId: 't', participants: ['Ada <ADA@Example.com>'] }, context);
    expect(parsed.ok && parsed.record.participants).toEqual(['ada@example.com']);
  });

  it('names every invalid field, and the fields it ignored', () => {
    const parsed = parseThreadRecord(
      {
        thread_id: 'has a space',
        status: 'gone',
        message_count: -1,
        open_rate: 101,
        last_activity: 'yesterday',
        followup_scheduled: true,
        snippet: 'not a thread field',
      },
      context,
    );
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const fields = parsed.errors.map((e) => e.split(':')[0]);
    expect(fields).toEqual([
      'threadId',
      'status',
      'messageCount',
      'lastActivity',
      'openRate',
      'followupScheduledAt',
    ]);
    expect(parsed.ignoredFields).toEqual(['snippet']);
  });

  it('says a missing thread id is required, and refuses what is not an object', () => {
    expect(parseThreadRecord({ subject: 'x' }, context)).toMatchObject({
      ok: false,
      errors: ['threadId: is required'],
    });
    expect(parseThreadRecord([1, 2], context)).toMatchObject({
      ok: false,
      errors: ['a record must be an object'],
    });
    expect(parseThreadRecord('x', context)).toMatchObject({ ok: false });
  });

  it('refuses NUL characters and dates PostgreSQL cannot store', () => {
    expect(parseThreadRecord({ threadId: 't', subject: 'a\u0000b' }, context).ok).toBe(false);
    expect(parseThreadRecord({ threadId: 't', createdAt: '0000-01-01T00:00:00Z' }, context).ok).toBe(false);
  });
});

describe('CSV cells', () => {
  it.each([
    ['tracked', 'true', true],
    ['hidden', 'F', false],
    ['hidden', '1', true],
    ['messageCount', '12', 12],
    ['openRate', '12.50', 12.5],
    ['messageCount', 'twelve', 'twelve'],
    ['subject', '  spaced  ', '  spaced  '],
    ['subject', '', null],
    ['participants', '["a@x.io","b@y.io"]', ['a@x.io', 'b@y.io']],
    ['participants', 'a@x.io; b@y.io', ['a@x.io', 'b@y.io']],
    ['participants', '{a@x.io,"b@y.io"}', ['a@x.io', 'b@y.io']],
    ['participants', '[]', []],
    ['unknownColumn', 'kept', 'kept'],
  ])('%s %j → %j', (field, cell, value) => expect(decodeCsvCell(field, cell)).toEqual(value));

  it('encodes every value of a record so that decoding gives it back', () => {
    for (const field of THREAD_RECORD_FIELDS) {
      const value = full[field];
      const decoded = decodeCsvCell(field, encodeCsvCell(field, value));
      expect(decoded, field).toEqual(value);
    }
  });
});
