/**
 * Hostile input through every kind of parameter. A refused request is a 4xx problem+json (never a 500, never a
 * stack or SQL text) and leaves every table exactly as it was; SQL text, emoji and RTL marks in free-text fields
 * are data: stored verbatim and read back unchanged.
 */
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/test-app.ts';

let t: TestApp;
let leadId: string;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});
/**
 * The seed (one lead, two threads linked to it) is rebuilt only after a test that writes: refused requests change
 * nothing (each checks that), so most tests share it, which keeps this large table of attempts fast.
 */
let seeded = false;
const writes = () => {
  seeded = false;
};
beforeEach(async () => {
  if (seeded) return;
  await t.reset();
  const lead = await t.app.inject({
    method: 'POST',
    url: '/api/v1/leads',
    payload: { name: 'Ada', email: 'ada@example.com' },
  });
  leadId = lead.json().id;
  for (const threadId of ['t1', 't2']) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId, subject: `subject ${threadId}`, leadId, participants: ['ada@example.com'] },
    });
    expect(res.statusCode).toBe(201);
  }
  seeded = true;
});

interface Attempt {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  /** An object is sent as JSON; a string is sent as is (with content-type application/json unless given). */
  payload?: unknown;
  headers?: Record<string, string>;
  status?: number;
  code?: string;
}

/** Every row of every table, as text, in one round trip. */
async function snapshot() {
  const { rows } = await sql<Record<string, string | null>>`
    select
      (select string_agg(t::text, E'\n' order by t.id) from thread_tracking t) as threads,
      (select string_agg(e::text, E'\n' order by e.id) from thread_events e) as events,
      (select string_agg(l::text, E'\n' order by l.id) from leads l) as leads,
      (select string_agg(k::text, E'\n' order by k.user_id, k.key) from idempotency_keys k) as keys
  `.execute(t.store.db);
  return rows[0];
}

function send(attempt: Attempt): Promise<LightMyRequestResponse> {
  const headers = { ...attempt.headers };
  let payload: string | undefined;
  if (typeof attempt.payload === 'string') {
    payload = attempt.payload;
    headers['content-type'] ??= 'application/json';
  } else if (attempt.payload !== undefined) {
    payload = JSON.stringify(attempt.payload);
    headers['content-type'] ??= 'application/json';
  }
  return t.app.inject({
    method: attempt.method,
    url: attempt.url,
    headers,
    ...(payload === undefined ? {} : { payload }),
  });
}

const LEAK =
  /\n\s+at |node_modules|\.ts:\d+|\bsyntax error\b|\brelation\b|\bviolates\b|\bpg_|\bselect\s.+\sfrom\b/i;

async function expectRefused(attempt: Attempt): Promise<void> {
  const before = await snapshot();
  writes();
  const res = await send(attempt);
  expect(res.statusCode, `${attempt.name}: ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, `${attempt.name}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  if (attempt.status !== undefined) expect(res.statusCode, attempt.name).toBe(attempt.status);
  expect(res.headers['content-type'], attempt.name).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body.status).toBe(res.statusCode);
  expect(body.code).toMatch(/^[A-Z_]+$/);
  if (attempt.code !== undefined) expect(body.code, attempt.name).toBe(attempt.code);
  expect(res.body, attempt.name).not.toMatch(LEAK);
  expect(await snapshot(), `${attempt.name} changed stored data`).toEqual(before);
  seeded = true;
}

it('sees any change in the snapshot it compares (guards the assertions below)', async () => {
  writes();
  const before = await snapshot();
  await t.app.inject({ method: 'POST', url: '/api/v1/threads/t1/hide' });
  const afterHide = await snapshot();
  expect(afterHide?.threads).not.toEqual(before?.threads);
  expect(afterHide?.events).not.toEqual(before?.events);
  await t.app.inject({ method: 'PATCH', url: `/api/v1/leads/${leadId}`, payload: { company: 'x' } });
  expect((await snapshot())?.leads).not.toEqual(afterHide?.leads);
});

const SQL = [
  "' OR '1'='1",
  "'; DROP TABLE thread_tracking; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)--',
  "') UNION SELECT id, user_id FROM leads --",
  "%' OR 1=1 --",
  "\\'; DELETE FROM thread_events; --",
  '$$; TRUNCATE leads; $$',
];
const UUID = '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b';

describe('SQL injection strings', () => {
  const attempts: Attempt[] = SQL.flatMap((s): Attempt[] => {
    const q = encodeURIComponent(s);
    return [
      {
        name: `threadId in a create body: ${s}`,
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: s },
      },
      {
        name: `status in a body: ${s}`,
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: 'n1', status: s },
      },
      {
        name: `emailType in a body: ${s}`,
        method: 'PATCH',
        url: '/api/v1/threads/t1',
        payload: { emailType: s },
      },
      { name: `leadId in a body: ${s}`, method: 'PATCH', url: '/api/v1/threads/t1', payload: { leadId: s } },
      {
        name: `lastActivity in a body: ${s}`,
        method: 'PATCH',
        url: '/api/v1/threads/t1',
        payload: { lastActivity: s },
      },
      {
        name: `participants in a body: ${s}`,
        method: 'PATCH',
        url: '/api/v1/threads/t1',
        payload: { participants: [s] },
      },
      { name: `lead email: ${s}`, method: 'PATCH', url: `/api/v1/leads/${UUID}`, payload: { email: s } },
      {
        name: `scheduledAt: ${s}`,
        method: 'PUT',
        url: '/api/v1/threads/t1/followup',
        payload: { scheduledAt: s },
      },
      {
        name: `bulk action: ${s}`,
        method: 'POST',
        url: '/api/v1/threads/bulk',
        payload: { action: s, threadIds: ['t1'] },
      },
      {
        name: `bulk thread id: ${s}`,
        method: 'POST',
        url: '/api/v1/threads/bulk',
        payload: { action: 'hide', threadIds: ['t1', s] },
      },
      {
        name: `system-generated email type: ${s}`,
        method: 'POST',
        url: '/api/v1/threads/t1/system-generated',
        payload: { emailType: s },
      },
      { name: `status query: ${s}`, method: 'GET', url: `/api/v1/threads?status=${q}` },
      { name: `sort query: ${s}`, method: 'GET', url: `/api/v1/threads?sort=${q}` },
      { name: `order query: ${s}`, method: 'GET', url: `/api/v1/threads?order=${q}` },
      { name: `limit query: ${s}`, method: 'GET', url: `/api/v1/threads?limit=${q}` },
      { name: `leadId query: ${s}`, method: 'GET', url: `/api/v1/threads?leadId=${q}` },
      { name: `cursor query: ${s}`, method: 'GET', url: `/api/v1/threads?cursor=${q}` },
      { name: `date query: ${s}`, method: 'GET', url: `/api/v1/threads?lastActivityFrom=${q}` },
      { name: `hidden query: ${s}`, method: 'GET', url: `/api/v1/threads?hidden=${q}` },
      { name: `afterId query: ${s}`, method: 'GET', url: `/api/v1/events?afterId=${q}` },
      { name: `analytics tz: ${s}`, method: 'GET', url: `/api/v1/analytics?tz=${q}` },
      { name: `analytics from: ${s}`, method: 'GET', url: `/api/v1/analytics?from=${q}` },
      { name: `purge flag: ${s}`, method: 'DELETE', url: `/api/v1/threads/t1?purge=${q}` },
      { name: `thread path (GET): ${s}`, method: 'GET', url: `/api/v1/threads/${q}` },
      {
        name: `thread path (PATCH): ${s}`,
        method: 'PATCH',
        url: `/api/v1/threads/${q}`,
        payload: { subject: 'x' },
      },
      { name: `thread path (DELETE): ${s}`, method: 'DELETE', url: `/api/v1/threads/${q}?purge=true` },
      { name: `thread path (hide): ${s}`, method: 'POST', url: `/api/v1/threads/${q}/hide` },
      { name: `thread path (events): ${s}`, method: 'GET', url: `/api/v1/threads/${q}/events` },
      { name: `lead path: ${s}`, method: 'DELETE', url: `/api/v1/leads/${q}` },
    ];
  });

  it.each(attempts)('refuses $name', async (attempt) => {
    await expectRefused(attempt);
  });

  it('stores SQL text in free-text fields verbatim and touches nothing else', async () => {
    writes();
    for (const [i, s] of SQL.entries()) {
      const before = await snapshot();
      const res = await send({
        name: 'create',
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: `sql${i}`, subject: s },
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().subject).toBe(s);
      const after = await snapshot();
      expect(after?.leads).toEqual(before?.leads);
      const threads = await t.store.db.selectFrom('thread_tracking').select('thread_id').execute();
      expect(threads).toHaveLength(2 + i + 1);
      const stored = await t.store.db
        .selectFrom('thread_tracking')
        .select('subject')
        .where('thread_id', '=', `sql${i}`)
        .executeTakeFirstOrThrow();
      expect(stored.subject).toBe(s);
      expect((await t.app.inject({ method: 'GET', url: `/api/v1/threads/sql${i}` })).json().subject).toBe(s);
    }
    const lead = await t.app.inject({
      method: 'POST',
      url: '/api/v1/leads',
      payload: { name: SQL[1], company: SQL[4] },
    });
    expect(lead.statusCode).toBe(201);
    expect(lead.json()).toMatchObject({ name: SQL[1], company: SQL[4] });
  });

  it('searches for SQL text as plain text: only real matches, nothing changed', async () => {
    writes();
    await send({
      name: 'create',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'sq', subject: "it's 100% ok_here" },
    });
    const before = await snapshot();
    for (const s of SQL) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/threads?q=${encodeURIComponent(s)}` });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().items).toEqual([]);
      const leads = await t.app.inject({ method: 'GET', url: `/api/v1/leads?q=${encodeURIComponent(s)}` });
      expect(leads.statusCode, leads.body).toBe(200);
      expect(leads.json().items).toEqual([]);
    }
    const found = await t.app.inject({
      method: 'GET',
      url: `/api/v1/threads?q=${encodeURIComponent("it's 100%")}`,
    });
    expect(found.json().items.map((x: { threadId: string }) => x.threadId)).toEqual(['sq']);
    expect(await snapshot()).toEqual(before);
  });
});

describe('emoji, RTL marks and other valid Unicode', () => {
  const texts = [
    'Re: 👋🏽 hello',
    '\u200fمرحبا بالعالم\u200e',
    'mixed עברית and English \u202bembedded\u202c',
    '\u202egnp.exe',
    '👩‍💻👨‍👩‍👧‍👦🏳️‍🌈',
    '𝕳𝖊𝖑𝖑𝖔 and 漢字 and ｆｕｌｌｗｉｄｔｈ',
    'zero\u200bwidth\ufeffBOM',
    'e\u0301 (combining) vs é',
    '😀'.repeat(1000),
  ];

  it.each(texts)('round-trips %j exactly through create, read, list, search and the row', async (text) => {
    writes();
    const res = await send({
      name: 'create',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'u1', subject: text },
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().subject).toBe(text);
    const stored = await t.store.db
      .selectFrom('thread_tracking')
      .select('subject')
      .where('thread_id', '=', 'u1')
      .executeTakeFirstOrThrow();
    expect(stored.subject).toBe(text);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/threads/u1' })).json().subject).toBe(text);
    const search = await t.app.inject({
      method: 'GET',
      url: `/api/v1/threads?q=${encodeURIComponent(text.slice(0, 50).trim() || text)}`,
    });
    expect(search.statusCode, search.body).toBe(200);
    expect(search.json().items.map((x: { subject: string }) => x.subject)).toContain(text);
    const patched = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/threads/u1',
      payload: { subject: `${text}!` },
    });
    expect(patched.json().subject).toBe(`${text}!`);
  });

  it('round-trips Unicode in lead fields', async () => {
    writes();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/leads',
      payload: { name: '\u200fيوسف 👋', company: 'Ünïcødé GmbH 🏢' },
    });
    expect(res.statusCode).toBe(201);
    const got = await t.app.inject({ method: 'GET', url: `/api/v1/leads/${res.json().id}` });
    expect(got.json()).toMatchObject({ name: '\u200fيوسف 👋', company: 'Ünïcødé GmbH 🏢' });
  });

  it('counts the subject limit (2000) in characters, not UTF-16 units', async () => {
    writes();
    const ok = await send({
      name: 'max',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'u2', subject: '😀'.repeat(2000) },
    });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json().subject).toBe('😀'.repeat(2000));
    await expectRefused({
      name: 'one character over',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'u3', subject: '😀'.repeat(2001) },
      status: 400,
      code: 'VALIDATION_FAILED',
    });
  });
});

describe('NUL bytes and lone surrogates', () => {
  const bad = [
    ['a NUL', 'a\u0000b'],
    ['a lone high surrogate', 'abc\ud83d'],
    ['a lone low surrogate', '\ude00abc'],
  ] as const;

  const attempts: Attempt[] = bad.flatMap(([what, s]): Attempt[] => [
    {
      name: `${what} in subject`,
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'n1', subject: s },
    },
    {
      name: `${what} in a patched subject`,
      method: 'PATCH',
      url: '/api/v1/threads/t1',
      payload: { subject: s },
    },
    {
      name: `${what} in an upserted subject`,
      method: 'PUT',
      url: '/api/v1/threads/t1',
      payload: { subject: s },
    },
    {
      name: `${what} in a batch item`,
      method: 'POST',
      url: '/api/v1/threads/batch',
      payload: { threads: [{ threadId: 'n1' }, { threadId: 'n2', subject: s }] },
    },
    {
      name: `${what} in participants`,
      method: 'PATCH',
      url: '/api/v1/threads/t1',
      payload: { participants: [`x${s}@example.com`] },
    },
    { name: `${what} in threadId`, method: 'POST', url: '/api/v1/threads', payload: { threadId: `n${s}` } },
    { name: `${what} in a lead name`, method: 'POST', url: '/api/v1/leads', payload: { name: s } },
    {
      name: `${what} in a lead company`,
      method: 'PATCH',
      url: `/api/v1/leads/${UUID}`,
      payload: { company: s },
    },
    {
      name: `${what} in a lead email`,
      method: 'POST',
      url: '/api/v1/leads',
      payload: { email: `a${s}@b.c` },
    },
  ]);
  // A URL cannot carry a lone surrogate (percent-encoding is UTF-8); NUL it can.
  attempts.push(
    { name: 'a NUL in q', method: 'GET', url: '/api/v1/threads?q=a%00b' },
    { name: 'a NUL in a lead search', method: 'GET', url: '/api/v1/leads?q=a%00b' },
    { name: 'a NUL in tz', method: 'GET', url: '/api/v1/analytics?tz=UTC%00' },
  );

  it.each(attempts)('refuses $name with 400', async (attempt) => {
    await expectRefused({ ...attempt, status: 400, code: 'VALIDATION_FAILED' });
  });

  it.each(['/api/v1/threads/t1%00', '/api/v1/threads/%00', '/api/v1/threads/t1%00/hide'])(
    'refuses a NUL in the path %s',
    async (url) => {
      await expectRefused({ name: url, method: url.endsWith('hide') ? 'POST' : 'GET', url, status: 400 });
    },
  );

  it.each(['%ED%A0%BD', '%FF', '%C0%AF', '%F4%90%80%80'])(
    'answers invalid UTF-8 (%s) in a query without an error or a change',
    async (bytes) => {
      for (const url of [`/api/v1/threads?q=a${bytes}`, `/api/v1/leads?q=a${bytes}`]) {
        const before = await snapshot();
        const res = await t.app.inject({ method: 'GET', url });
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode === 200) expect(res.json().items).toEqual([]);
        expect(await snapshot()).toEqual(before);
      }
    },
  );

  it('refuses a raw JSON body with an escaped lone surrogate', async () => {
    await expectRefused({
      name: 'raw',
      method: 'POST',
      url: '/api/v1/threads',
      payload: '{"threadId":"n1","subject":"x\\ud800y"}',
      status: 400,
    });
  });
});

describe('malformed values', () => {
  const attempts: Attempt[] = [
    // Invalid UUIDs for leadId.
    ...['not-a-uuid', '', '123', `${UUID}0`, UUID.replace(/-/g, ''), `{${UUID}}`].flatMap((id): Attempt[] => [
      {
        name: `leadId ${JSON.stringify(id)} on create`,
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: 'n1', leadId: id },
      },
      {
        name: `leadId ${JSON.stringify(id)} on patch`,
        method: 'PATCH',
        url: '/api/v1/threads/t1',
        payload: { leadId: id },
      },
      {
        name: `leadId ${JSON.stringify(id)} in a query`,
        method: 'GET',
        url: `/api/v1/threads?leadId=${encodeURIComponent(id)}`,
      },
    ]),
    { name: 'lead path not a UUID', method: 'GET', url: '/api/v1/leads/lead-1' },
    { name: 'lead path not a UUID (PATCH)', method: 'PATCH', url: '/api/v1/leads/1', payload: { name: 'x' } },
    { name: 'lead afterId not a UUID', method: 'GET', url: '/api/v1/leads?afterId=1' },
    // Invalid dates.
    ...[
      '2026-02-30T00:00:00Z',
      '2026-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-12-01T24:00:01Z',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:30:00+01:00',
      '9999-12-31T23:30:00-01:00',
      '2026-12-03',
      '2026-12-03T14:00:00',
      'yesterday',
      'Thu, 03 Dec 2026 14:00:00 GMT',
    ].flatMap((d): Attempt[] => [
      {
        name: `lastActivity ${d}`,
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: 'n1', lastActivity: d },
      },
      {
        name: `followupScheduledAt ${d}`,
        method: 'PUT',
        url: '/api/v1/threads/n1',
        payload: { followupScheduledAt: d },
      },
      {
        name: `scheduledAt ${d}`,
        method: 'PUT',
        url: '/api/v1/threads/t1/followup',
        payload: { scheduledAt: d },
      },
      {
        name: `lastActivityFrom ${d}`,
        method: 'GET',
        url: `/api/v1/threads?lastActivityFrom=${encodeURIComponent(d)}`,
      },
      {
        name: `lastActivityTo ${d}`,
        method: 'GET',
        url: `/api/v1/threads?lastActivityTo=${encodeURIComponent(d)}`,
      },
      { name: `analytics from ${d}`, method: 'GET', url: `/api/v1/analytics?from=${encodeURIComponent(d)}` },
      { name: `analytics to ${d}`, method: 'GET', url: `/api/v1/analytics?to=${encodeURIComponent(d)}` },
    ]),
    {
      name: 'a date as a number',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'n1', lastActivity: 1764770400000 },
    },
    // Numbers out of range.
    ...(
      [
        ['messageCount', -1],
        ['messageCount', 2_147_483_648],
        ['messageCount', 1.5],
        ['messageCount', Number.MAX_SAFE_INTEGER],
        ['followupCount', 2_147_483_648],
        ['followupCount', -5],
        ['openRate', 100.001],
        ['openRate', -0.01],
        ['replyRate', 1e9],
        ['responseTimeHours', -1],
        ['responseTimeHours', 2_147_483_648],
        ['responseTimeHours', 0.5],
      ] as const
    ).map(
      ([field, value]): Attempt => ({
        name: `${field} = ${value}`,
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: 'n1', [field]: value },
      }),
    ),
    {
      name: 'a number too large for a double',
      method: 'POST',
      url: '/api/v1/threads',
      payload: '{"threadId":"n1","messageCount":1e400}',
    },
    { name: 'a rate of 1e400', method: 'PATCH', url: '/api/v1/threads/t1', payload: '{"openRate":-1e400}' },
    { name: 'limit 1e9', method: 'GET', url: '/api/v1/threads?limit=1000000000' },
    { name: 'limit -1', method: 'GET', url: '/api/v1/threads?limit=-1' },
    { name: 'limit Infinity', method: 'GET', url: '/api/v1/threads?limit=Infinity' },
    { name: 'limit abc', method: 'GET', url: '/api/v1/threads?limit=abc' },
    { name: 'limit empty', method: 'GET', url: '/api/v1/threads?limit=' },
    { name: 'events limit 1e9', method: 'GET', url: '/api/v1/events?limit=1000000000' },
    { name: 'leads limit 501', method: 'GET', url: '/api/v1/leads?limit=501' },
    {
      name: 'a range of ten years',
      method: 'GET',
      url: '/api/v1/analytics?from=2016-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
    },
    {
      name: 'a reversed range',
      method: 'GET',
      url: '/api/v1/analytics?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
    },
    { name: 'an unknown time zone', method: 'GET', url: '/api/v1/analytics?tz=Mars%2FOlympus' },
    // Wrong types.
    {
      name: 'subject as an array',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'n1', subject: ['a'] },
    },
    {
      name: 'subject as an object',
      method: 'PATCH',
      url: '/api/v1/threads/t1',
      payload: { subject: { $ne: null } },
    },
    { name: 'subject as a number', method: 'PATCH', url: '/api/v1/threads/t1', payload: { subject: 42 } },
    { name: 'threadId as an array', method: 'POST', url: '/api/v1/threads', payload: { threadId: ['n1'] } },
    { name: 'threadId as a number', method: 'POST', url: '/api/v1/threads', payload: { threadId: 123 } },
    {
      name: 'participants as a string',
      method: 'PATCH',
      url: '/api/v1/threads/t1',
      payload: { participants: 'a@b.c' },
    },
    {
      name: 'participants nested',
      method: 'PATCH',
      url: '/api/v1/threads/t1',
      payload: { participants: [['a@b.c']] },
    },
    {
      name: 'hidden as a string',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'n1', hidden: 'false' },
    },
    { name: 'tracked as 0', method: 'PATCH', url: '/api/v1/threads/t1', payload: { tracked: 0 } },
    { name: 'a boolean as null', method: 'PATCH', url: '/api/v1/threads/t1', payload: { tracked: null } },
    { name: 'lead name as an array', method: 'POST', url: '/api/v1/leads', payload: { name: ['Ada'] } },
    {
      name: 'threadIds as a string',
      method: 'POST',
      url: '/api/v1/threads/bulk',
      payload: { action: 'hide', threadIds: 't1' },
    },
    {
      name: 'a body that is an array',
      method: 'POST',
      url: '/api/v1/threads',
      payload: '[{"threadId":"n1"}]',
    },
    { name: 'a body that is a string', method: 'POST', url: '/api/v1/threads', payload: '"n1"' },
    { name: 'a body that is null', method: 'POST', url: '/api/v1/threads', payload: 'null' },
    { name: 'a body that is a number', method: 'PATCH', url: '/api/v1/threads/t1', payload: '42' },
    { name: 'invalid JSON', method: 'POST', url: '/api/v1/threads', payload: '{"threadId":"n1",}' },
    { name: 'truncated JSON', method: 'POST', url: '/api/v1/threads', payload: '{"threadId":"n1"' },
    { name: 'an empty JSON body', method: 'POST', url: '/api/v1/threads', payload: '' },
    { name: 'an empty JSON body on an action', method: 'POST', url: '/api/v1/threads/t1/hide', payload: '' },
  ];

  it.each(attempts)('refuses $name with a 4xx', async (attempt) => {
    await expectRefused(attempt);
  });
});

describe('__proto__ and constructor keys', () => {
  const bodies: [string, string, Attempt['method'], string][] = [
    ['__proto__ on create', '/api/v1/threads', 'POST', '{"threadId":"n1","__proto__":{"hidden":true}}'],
    [
      'constructor on create',
      '/api/v1/threads',
      'POST',
      '{"threadId":"n1","constructor":{"prototype":{"hidden":true}}}',
    ],
    ['__proto__ on patch', '/api/v1/threads/t1', 'PATCH', '{"subject":"x","__proto__":{"userId":"other"}}'],
    ['constructor on patch', '/api/v1/threads/t1', 'PATCH', '{"subject":"x","constructor":{"name":"x"}}'],
    ['__proto__ on upsert', '/api/v1/threads/t1', 'PUT', '{"__proto__":{"status":"deleted"}}'],
    [
      '__proto__ in a batch item',
      '/api/v1/threads/batch',
      'POST',
      '{"threads":[{"threadId":"n1","__proto__":{"x":1}}]}',
    ],
    ['__proto__ nested in a value', '/api/v1/threads/t1', 'PATCH', '{"subject":{"__proto__":{"x":1}}}'],
    ['__proto__ on a lead', '/api/v1/leads', 'POST', '{"name":"x","__proto__":{"userId":"other"}}'],
    [
      'constructor on bulk',
      '/api/v1/threads/bulk',
      'POST',
      '{"action":"hide","threadIds":["t1"],"constructor":{}}',
    ],
    ['__proto__ on an action', '/api/v1/threads/t1/hide', 'POST', '{"__proto__":{"admin":true}}'],
    ['__proto__ on cache clear', '/api/v1/admin/cache/clear', 'POST', '{"__proto__":{"admin":true}}'],
  ];

  it.each(bodies)('refuses %s with 400', async (name, url, method, payload) => {
    await expectRefused({ name, method, url, payload, status: 400, code: 'VALIDATION_FAILED' });
    const probe: Record<string, unknown> = {};
    expect(probe.hidden).toBeUndefined();
    expect(probe.userId).toBeUndefined();
    expect(probe.admin).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'])(
    'refuses %s in a query string',
    async (key) => {
      await expectRefused({ name: key, method: 'GET', url: `/api/v1/threads?${key}=1`, status: 400 });
    },
  );
});

describe('repeated query parameters', () => {
  it.each([
    '/api/v1/threads?status=active&status=spam',
    '/api/v1/threads?hidden=true&hidden=false',
    '/api/v1/threads?limit=1&limit=2',
    '/api/v1/threads?sort=createdAt&sort=lastActivity',
    '/api/v1/threads?q=a&q=b',
    '/api/v1/threads?cursor=a&cursor=b',
    '/api/v1/threads?leadId=0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b&leadId=0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7c',
    '/api/v1/events?afterId=1&afterId=2',
    '/api/v1/analytics?tz=UTC&tz=Europe%2FParis',
    '/api/v1/leads?q=a&q=b',
  ])('refuses %s with 400', async (url) => {
    await expectRefused({ name: url, method: 'GET', url, status: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses a repeated purge flag and deletes nothing', async () => {
    await expectRefused({
      name: 'purge',
      method: 'DELETE',
      url: '/api/v1/threads/t1?purge=true&purge=false',
      status: 400,
    });
  });
});

describe('path parameters', () => {
  it.each([
    ['a slash', '/api/v1/threads/t1/x', 404, 'NOT_FOUND'],
    ['an encoded slash', '/api/v1/threads/t1%2Fx', 400, 'VALIDATION_FAILED'],
    ['a dot-dot segment', '/api/v1/threads/..%2F..%2Fhealth', 400, 'VALIDATION_FAILED'],
    ['a space', '/api/v1/threads/t%201', 400, 'VALIDATION_FAILED'],
    ['a plus-encoded space', '/api/v1/threads/t1+%20', 400, 'VALIDATION_FAILED'],
    ['a quote', "/api/v1/threads/t1'", 400, 'VALIDATION_FAILED'],
    ['a glob star', '/api/v1/threads/t*', 400, 'VALIDATION_FAILED'],
    ['a backslash', '/api/v1/threads/t1%5C', 400, 'VALIDATION_FAILED'],
    ['non-ASCII', '/api/v1/threads/%C3%A9t%C3%A9', 400, 'VALIDATION_FAILED'],
    ['bad percent-encoding', '/api/v1/threads/%E0%A4%A', 400, 'VALIDATION_FAILED'],
    ['a lone percent sign', '/api/v1/threads/t%', 400, 'VALIDATION_FAILED'],
    ['256 characters', `/api/v1/threads/${'x'.repeat(256)}`, 400, 'VALIDATION_FAILED'],
    ['600 characters', `/api/v1/threads/${'x'.repeat(600)}`, 400, 'VALIDATION_FAILED'],
    ['10,000 characters', `/api/v1/threads/${'x'.repeat(10_000)}`, 400, 'VALIDATION_FAILED'],
    ['600 characters on an action', `/api/v1/threads/${'x'.repeat(600)}/hide`, 400, 'VALIDATION_FAILED'],
    ['a long lead id', `/api/v1/leads/${'a'.repeat(600)}`, 400, 'VALIDATION_FAILED'],
  ])('refuses %s', async (name, url, status, code) => {
    for (const method of ['GET', 'DELETE', 'PATCH'] as const) {
      const attempt: Attempt = { name: `${method} ${name}`, method, url, status, code };
      if (method === 'PATCH') attempt.payload = { subject: 'x' };
      if (url.endsWith('/hide') && method !== 'GET') continue;
      await expectRefused(attempt);
    }
  });

  it('accepts every allowed character in a thread id', async () => {
    writes();
    const id = 'imap:INBOX.Sent@host+tag=1~x_y-z';
    const res = await t.app.inject({
      method: 'PUT',
      url: `/api/v1/threads/${encodeURIComponent(id)}`,
      payload: {},
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().threadId).toBe(id);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/threads/${id}` })).json().threadId).toBe(id);
  });
});

describe('bodies, media types and sizes', () => {
  it('refuses a body over 100 kB with 413 PAYLOAD_TOO_LARGE', async () => {
    await expectRefused({
      name: 'big',
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'n1', subject: 'x'.repeat(102_400) },
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    });
    await expectRefused({
      name: 'big batch',
      method: 'POST',
      url: '/api/v1/threads/batch',
      payload: {
        threads: Array.from({ length: 60 }, (_, i) => ({ threadId: `n${i}`, subject: 'y'.repeat(1900) })),
      },
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it.each([
    ['text/plain', '{"threadId":"n1"}'],
    ['application/xml', '<thread id="n1"/>'],
    ['application/x-www-form-urlencoded', 'threadId=n1'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="threadId"\r\n\r\nn1\r\n--x--',
    ],
    ['application/octet-stream', 'n1'],
  ])('refuses a %s body with 415 UNSUPPORTED_MEDIA_TYPE', async (type, payload) => {
    await expectRefused({
      name: type,
      method: 'POST',
      url: '/api/v1/threads',
      payload,
      headers: { 'content-type': type },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
  });

  it('refuses strings over their limits', async () => {
    const cases: Attempt[] = [
      {
        name: 'subject 2001',
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: 'n1', subject: 'x'.repeat(2001) },
      },
      {
        name: 'threadId 256',
        method: 'POST',
        url: '/api/v1/threads',
        payload: { threadId: 'x'.repeat(256) },
      },
      { name: 'q 201', method: 'GET', url: `/api/v1/threads?q=${'x'.repeat(201)}` },
      { name: 'cursor 501', method: 'GET', url: `/api/v1/threads?cursor=${'x'.repeat(501)}` },
      { name: 'lead name 301', method: 'POST', url: '/api/v1/leads', payload: { name: 'x'.repeat(301) } },
      {
        name: 'email 321',
        method: 'POST',
        url: '/api/v1/leads',
        payload: { email: `${'x'.repeat(309)}@example.com` },
      },
      { name: 'tz 65', method: 'GET', url: `/api/v1/analytics?tz=${'x'.repeat(65)}` },
      {
        name: '201 participants',
        method: 'PATCH',
        url: '/api/v1/threads/t1',
        payload: { participants: Array.from({ length: 201 }, (_, i) => `p${i}@example.com`) },
      },
      {
        name: 'Idempotency-Key of 256 characters',
        method: 'POST',
        url: '/api/v1/threads/t1/hide',
        headers: { 'idempotency-key': 'k'.repeat(256) },
      },
      {
        name: 'Idempotency-Key with a space',
        method: 'POST',
        url: '/api/v1/threads/t1/hide',
        headers: { 'idempotency-key': 'a b' },
      },
    ];
    for (const attempt of cases) await expectRefused({ ...attempt, status: 400, code: 'VALIDATION_FAILED' });
  });
});
