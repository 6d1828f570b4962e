/**
 * Every thread route under /api/v1 through app.inject(), in local mode (user `me`). Assertions are on responses and
 * on the stored rows and events, read straight from the database.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Thread, ThreadEvent } from '../../src/domain/thread.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

const BATCH_SIZE = 10;
const FUTURE = '2099-06-01T09:00:00.000Z';
const PAST = '2001-01-01T00:00:00.000Z';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ batchSize: BATCH_SIZE });
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await t.reset();
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function call(
  method: Method,
  url: string,
  payload?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(res.body).not.toMatch(
    /\n\s+at |node_modules|\.ts:\d+|\b(select|insert|update|delete)\b.*\b(from|into|set)\b/i,
  );
  return body as { code: string; errors?: { path: string; message: string }[]; detail: string };
}

async function create(body: Record<string, unknown>): Promise<Thread> {
  const res = await call('POST', '/api/v1/threads', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

const row = (threadId: string, userId = 'me') =>
  t.store.db
    .selectFrom('thread_tracking')
    .selectAll()
    .where('user_id', '=', userId)
    .where('thread_id', '=', threadId)
    .executeTakeFirst();

const eventRows = (threadId: string) =>
  t.store.db
    .selectFrom('thread_events')
    .select(['type', 'data'])
    .where('user_id', '=', 'me')
    .where('thread_id', '=', threadId)
    .orderBy('id')
    .execute();

async function list(query = ''): Promise<{ items: Thread[]; nextCursor: string | null }> {
  const res = await call('GET', `/api/v1/threads${query ? `?${query}` : ''}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const ids = (page: { items: Thread[] }) => page.items.map((x) => x.threadId);

describe('POST /threads and GET /threads/:threadId', () => {
  it('creates a thread: 201, Location, the stored row and a created event', async () => {
    const res = await call('POST', '/api/v1/threads', {
      threadId: '18c2f0a9b3d4e5f6',
      subject: 'Application: Senior Engineer',
      participants: ['Hiring@Acme.example', 'me@example.org'],
      emailType: 'application',
      systemGenerated: true,
      messageCount: 2,
      lastActivity: '2026-11-30T10:15:00.123456Z',
      openRate: 12.5,
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/api/v1/threads/18c2f0a9b3d4e5f6');
    const thread: Thread = res.json();
    expect(thread).toMatchObject({
      userId: 'me',
      threadId: '18c2f0a9b3d4e5f6',
      subject: 'Application: Senior Engineer',
      participants: ['hiring@acme.example', 'me@example.org'],
      emailType: 'application',
      systemGenerated: true,
      tracked: true,
      hidden: false,
      status: 'active',
      messageCount: 2,
      lastActivity: '2026-11-30T10:15:00.123456Z',
      followupScheduled: false,
      followupCount: 0,
      openRate: 12.5,
      replyRate: null,
      responseTimeHours: null,
      hiddenAt: null,
      archivedAt: null,
    });
    expect(thread.id).toMatch(/^[0-9a-f-]{36}$/);

    const stored = await row('18c2f0a9b3d4e5f6');
    expect(stored).toMatchObject({
      id: thread.id,
      subject: 'Application: Senior Engineer',
      participants: ['hiring@acme.example', 'me@example.org'],
      email_type: 'application',
      message_count: 2,
    });
    expect(await eventRows('18c2f0a9b3d4e5f6')).toEqual([
      { type: 'created', data: { fields: expect.arrayContaining(['subject', 'emailType']) } },
    ]);

    const got = await call('GET', '/api/v1/threads/18c2f0a9b3d4e5f6');
    expect(got.statusCode).toBe(200);
    expect(got.headers['content-type']).toMatch(/^application\/json/);
    expect(got.json()).toEqual(thread);
  });

  it('refuses a second create of the same thread with 409 THREAD_EXISTS and keeps the first', async () => {
    const first = await create({ threadId: 'dup', subject: 'first' });
    const res = await call('POST', '/api/v1/threads', { threadId: 'dup', subject: 'second' });
    expectProblem(res, 409, 'THREAD_EXISTS');
    expect(await row('dup')).toMatchObject({ id: first.id, subject: 'first' });
    expect((await eventRows('dup')).map((e) => e.type)).toEqual(['created']);
  });

  it('answers 404 THREAD_NOT_FOUND for an unknown thread', async () => {
    expectProblem(await call('GET', '/api/v1/threads/nope'), 404, 'THREAD_NOT_FOUND');
  });

  it('reads the new state right after each write (the cache follows the database)', async () => {
    await create({ threadId: 'c1', subject: 'v1' });
    expect((await call('GET', '/api/v1/threads/c1')).json().subject).toBe('v1');
    await call('PATCH', '/api/v1/threads/c1', { subject: 'v2' });
    expect((await call('GET', '/api/v1/threads/c1')).json().subject).toBe('v2');
    await call('POST', '/api/v1/threads/c1/hide');
    expect((await call('GET', '/api/v1/threads/c1')).json().hidden).toBe(true);
    await call('DELETE', '/api/v1/threads/c1?purge=true');
    expectProblem(await call('GET', '/api/v1/threads/c1'), 404, 'THREAD_NOT_FOUND');
  });
});

describe('PUT /threads/:threadId (upsert)', () => {
  it('creates a missing thread with 200', async () => {
    const res = await call('PUT', '/api/v1/threads/p1', { subject: 'hello', messageCount: 3 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ threadId: 'p1', subject: 'hello', messageCount: 3, status: 'active' });
    expect(await row('p1')).toMatchObject({ subject: 'hello', message_count: 3 });
    expect((await eventRows('p1')).map((e) => e.type)).toEqual(['created']);
  });

  it('changes only the given fields of an existing thread', async () => {
    await create({ threadId: 'p2', subject: 'old', messageCount: 1, emailType: 'manual', openRate: 40 });
    await call('POST', '/api/v1/threads/p2/hide');
    const res = await call('PUT', '/api/v1/threads/p2', { subject: 'new', messageCount: 4 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      subject: 'new',
      messageCount: 4,
      hidden: true,
      emailType: 'manual',
      openRate: 40,
    });
    expect(await row('p2')).toMatchObject({
      subject: 'new',
      message_count: 4,
      hidden: true,
      email_type: 'manual',
      open_rate: '40.00',
    });
    expect((await eventRows('p2')).map((e) => e.type)).toEqual(['created', 'hidden', 'upserted']);
  });

  it('writes no event when nothing changes', async () => {
    const created = await create({ threadId: 'p3', subject: 'same' });
    const res = await call('PUT', '/api/v1/threads/p3', { subject: 'same' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ subject: 'same', updatedAt: created.updatedAt });
    expect((await eventRows('p3')).map((e) => e.type)).toEqual(['created']);
  });

  it('takes the thread id from the path only', async () => {
    expectProblem(await call('PUT', '/api/v1/threads/p4', { threadId: 'other' }), 400, 'VALIDATION_FAILED');
    expect(await row('p4')).toBeUndefined();
    expect(await row('other')).toBeUndefined();
  });
});

describe('PATCH /threads/:threadId', () => {
  it('updates allowed fields and records the change', async () => {
    const created = await create({ threadId: 'u1', subject: 'before' });
    const res = await call('PATCH', '/api/v1/threads/u1', {
      subject: 'after',
      tracked: false,
      messageCount: 7,
      replyRate: 33.33,
      responseTimeHours: 5,
      lastActivity: null,
    });
    expect(res.statusCode, res.body).toBe(200);
    const updated: Thread = res.json();
    expect(updated).toMatchObject({
      subject: 'after',
      tracked: false,
      messageCount: 7,
      replyRate: 33.33,
      responseTimeHours: 5,
      lastActivity: null,
      createdAt: created.createdAt,
      id: created.id,
    });
    expect(updated.updatedAt > created.updatedAt).toBe(true);
    expect(await row('u1')).toMatchObject({ subject: 'after', tracked: false, last_activity: null });
    const events = await eventRows('u1');
    expect(events.at(-1)).toEqual({
      type: 'updated',
      data: {
        changes: {
          subject: 'after',
          tracked: false,
          messageCount: 7,
          replyRate: 33.33,
          responseTimeHours: 5,
          lastActivity: null,
        },
      },
    });
  });

  it('sets archivedAt when the status becomes archived and clears it when active again', async () => {
    await create({ threadId: 'u2' });
    const archived = (await call('PATCH', '/api/v1/threads/u2', { status: 'archived' })).json();
    expect(archived.status).toBe('archived');
    expect(archived.archivedAt).toEqual(expect.any(String));
    const active = (await call('PATCH', '/api/v1/threads/u2', { status: 'active' })).json();
    expect(active).toMatchObject({ status: 'active', archivedAt: null });
  });

  it.each([
    ['userId', 'someone-else'],
    ['id', '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b'],
    ['threadId', 'renamed'],
    ['createdAt', '2020-01-01T00:00:00Z'],
    ['updatedAt', '2020-01-01T00:00:00Z'],
    ['hidden', true],
    ['hiddenAt', '2020-01-01T00:00:00Z'],
    ['systemGenerated', true],
    ['followupScheduled', true],
    ['followupCount', 99],
    ['favouriteColour', 'blue'],
  ])('refuses %s with 400 naming the field, and changes nothing', async (field, value) => {
    const created = await create({ threadId: 'u3', subject: 'keep' });
    const before = await row('u3');
    const body = expectProblem(
      await call('PATCH', '/api/v1/threads/u3', { subject: 'changed', [field]: value }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors).toContainEqual({ path: `body.${field}`, message: 'is not a known field' });
    expect(await row('u3')).toEqual(before);
    expect((await call('GET', '/api/v1/threads/u3')).json()).toEqual(created);
    expect((await eventRows('u3')).map((e) => e.type)).toEqual(['created']);
  });

  it('refuses an empty patch', async () => {
    await create({ threadId: 'u4' });
    expectProblem(await call('PATCH', '/api/v1/threads/u4', {}), 400, 'VALIDATION_FAILED');
  });

  it('answers 404 for an unknown thread', async () => {
    expectProblem(await call('PATCH', '/api/v1/threads/none', { subject: 'x' }), 404, 'THREAD_NOT_FOUND');
    expect(await row('none')).toBeUndefined();
  });
});

describe('DELETE /threads/:threadId', () => {
  it('soft-deletes: status deleted, follow-up dropped, gone from the default list', async () => {
    await create({ threadId: 'd1', followupScheduledAt: FUTURE });
    await create({ threadId: 'd2' });
    const res = await call('DELETE', '/api/v1/threads/d1');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      threadId: 'd1',
      status: 'deleted',
      followupScheduled: false,
      followupScheduledAt: null,
    });
    expect(await row('d1')).toMatchObject({ status: 'deleted', followup_scheduled: false });
    expect(ids(await list())).toEqual(['d2']);
    expect(ids(await list('status=deleted'))).toEqual(['d1']);
    expect((await call('GET', '/api/v1/threads/d1')).json().status).toBe('deleted');
    expect((await eventRows('d1')).map((e) => e.type)).toEqual(['created', 'deleted']);
  });

  it('purges with purge=true: 204, the row is gone, its history stays', async () => {
    await create({ threadId: 'd3' });
    await call('POST', '/api/v1/threads/d3/hide');
    const res = await call('DELETE', '/api/v1/threads/d3?purge=true');
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(await row('d3')).toBeUndefined();
    expectProblem(await call('GET', '/api/v1/threads/d3'), 404, 'THREAD_NOT_FOUND');
    expect((await eventRows('d3')).map((e) => e.type)).toEqual(['created', 'hidden', 'purged']);
    const history = (await call('GET', '/api/v1/threads/d3/events')).json().items as ThreadEvent[];
    expect(history.map((e) => e.type)).toEqual(['created', 'hidden', 'purged']);
  });

  it('answers 404 for an unknown thread, soft or purge', async () => {
    expectProblem(await call('DELETE', '/api/v1/threads/none'), 404, 'THREAD_NOT_FOUND');
    expectProblem(await call('DELETE', '/api/v1/threads/none?purge=true'), 404, 'THREAD_NOT_FOUND');
  });

  it('refuses a purge flag that is not true or false', async () => {
    await create({ threadId: 'd4' });
    expectProblem(await call('DELETE', '/api/v1/threads/d4?purge=yes'), 400, 'VALIDATION_FAILED');
    expect(await row('d4')).toMatchObject({ status: 'active' });
  });
});

describe('hide, unhide, archive, unarchive, system-generated', () => {
  it('hides and unhides', async () => {
    await create({ threadId: 'h1' });
    const hidden = await call('POST', '/api/v1/threads/h1/hide');
    expect(hidden.statusCode).toBe(200);
    expect(hidden.json()).toMatchObject({ hidden: true, hiddenAt: expect.any(String) });
    expect(await row('h1')).toMatchObject({ hidden: true, hidden_at: expect.any(String) });
    const shown = await call('POST', '/api/v1/threads/h1/unhide', {});
    expect(shown.json()).toMatchObject({ hidden: false, hiddenAt: null });
    expect(await row('h1')).toMatchObject({ hidden: false, hidden_at: null });
    expect((await eventRows('h1')).map((e) => e.type)).toEqual(['created', 'hidden', 'unhidden']);
  });

  it('archives (dropping the follow-up) and unarchives', async () => {
    await create({ threadId: 'a1', followupScheduledAt: FUTURE });
    const archived = (await call('POST', '/api/v1/threads/a1/archive')).json();
    expect(archived).toMatchObject({
      status: 'archived',
      archivedAt: expect.any(String),
      followupScheduled: false,
      followupScheduledAt: null,
    });
    const again = await call('POST', '/api/v1/threads/a1/archive');
    expect(again.statusCode).toBe(200);
    const active = (await call('POST', '/api/v1/threads/a1/unarchive')).json();
    expect(active).toMatchObject({ status: 'active', archivedAt: null });
    expect(await row('a1')).toMatchObject({ status: 'active', archived_at: null });
    expect((await eventRows('a1')).map((e) => e.type)).toEqual([
      'created',
      'archived',
      'archived',
      'unarchived',
    ]);
  });

  it.each([
    ['archive', 'deleted'],
    ['unarchive', 'deleted'],
    ['archive', 'spam'],
    ['unarchive', 'spam'],
  ])('refuses to %s a %s thread with 409 THREAD_STATE_CONFLICT', async (action, status) => {
    await create({ threadId: 's1', status });
    const before = await row('s1');
    expectProblem(await call('POST', `/api/v1/threads/s1/${action}`), 409, 'THREAD_STATE_CONFLICT');
    expect(await row('s1')).toEqual(before);
  });

  it.each(['hide', 'unhide', 'archive', 'unarchive', 'followup/increment'])(
    'answers 404 to %s on an unknown thread',
    async (action) => {
      expectProblem(await call('POST', `/api/v1/threads/nope/${action}`), 404, 'THREAD_NOT_FOUND');
    },
  );

  it('refuses a body on the action routes', async () => {
    await create({ threadId: 'b1' });
    expectProblem(await call('POST', '/api/v1/threads/b1/hide', { force: true }), 400, 'VALIDATION_FAILED');
    expect(await row('b1')).toMatchObject({ hidden: false });
  });

  it('marks a thread system-generated with its email type', async () => {
    await create({ threadId: 'sg1' });
    const res = await call('POST', '/api/v1/threads/sg1/system-generated', {
      emailType: 'auto_followup',
      aiGenerated: true,
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      systemGenerated: true,
      emailType: 'auto_followup',
      aiGenerated: true,
    });
    expect(await row('sg1')).toMatchObject({
      system_generated: true,
      email_type: 'auto_followup',
      ai_generated: true,
    });
    expect((await eventRows('sg1')).at(-1)).toEqual({
      type: 'marked_system_generated',
      data: { emailType: 'auto_followup' },
    });
  });

  it.each([
    ['no email type', {}],
    ['an unknown email type', { emailType: 'newsletter' }],
    ['a string for aiGenerated', { emailType: 'manual', aiGenerated: 'yes' }],
  ])('refuses system-generated with %s', async (_name, body) => {
    await create({ threadId: 'sg2' });
    expectProblem(await call('POST', '/api/v1/threads/sg2/system-generated', body), 400, 'VALIDATION_FAILED');
    expect(await row('sg2')).toMatchObject({ system_generated: false });
  });

  it('answers 404 to system-generated on an unknown thread', async () => {
    expectProblem(
      await call('POST', '/api/v1/threads/nope/system-generated', { emailType: 'manual' }),
      404,
      'THREAD_NOT_FOUND',
    );
  });
});

describe('follow-ups', () => {
  it('schedules a future follow-up, stored in UTC', async () => {
    await create({ threadId: 'f1' });
    const res = await call('PUT', '/api/v1/threads/f1/followup', {
      scheduledAt: '2099-06-01T11:00:00+02:00',
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      followupScheduled: true,
      followupScheduledAt: '2099-06-01T09:00:00.000000Z',
    });
    expect(await row('f1')).toMatchObject({ followup_scheduled: true });
    expect((await eventRows('f1')).at(-1)).toEqual({
      type: 'followup_scheduled',
      data: { scheduledAt: FUTURE },
    });
  });

  it('refuses a time in the past with 422 FOLLOWUP_IN_PAST and keeps the schedule', async () => {
    await create({ threadId: 'f2', followupScheduledAt: FUTURE });
    const body = expectProblem(
      await call('PUT', '/api/v1/threads/f2/followup', { scheduledAt: PAST }),
      422,
      'FOLLOWUP_IN_PAST',
    );
    expect(body.errors?.[0]?.path).toBe('scheduledAt');
    expect((await call('GET', '/api/v1/threads/f2')).json()).toMatchObject({
      followupScheduled: true,
      followupScheduledAt: '2099-06-01T09:00:00.000000Z',
    });
  });

  it('refuses to schedule on a thread that is not active', async () => {
    await create({ threadId: 'f3', status: 'archived' });
    expectProblem(
      await call('PUT', '/api/v1/threads/f3/followup', { scheduledAt: FUTURE }),
      409,
      'THREAD_STATE_CONFLICT',
    );
    expect(await row('f3')).toMatchObject({ followup_scheduled: false, followup_scheduled_at: null });
  });

  it.each([
    ['no time', {}],
    ['a date only', { scheduledAt: '2099-06-01' }],
    ['no time zone', { scheduledAt: '2099-06-01T09:00:00' }],
    ['a number', { scheduledAt: 4_084_000_000_000 }],
    ['an extra field', { scheduledAt: FUTURE, note: 'x' }],
  ])('refuses %s with 400', async (_name, body) => {
    await create({ threadId: 'f4' });
    expectProblem(await call('PUT', '/api/v1/threads/f4/followup', body), 400, 'VALIDATION_FAILED');
    expect(await row('f4')).toMatchObject({ followup_scheduled: false });
  });

  it('cancels a follow-up', async () => {
    await create({ threadId: 'f5', followupScheduledAt: FUTURE });
    const res = await call('DELETE', '/api/v1/threads/f5/followup');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ followupScheduled: false, followupScheduledAt: null });
    expect(await row('f5')).toMatchObject({ followup_scheduled: false, followup_scheduled_at: null });
    expect((await eventRows('f5')).at(-1)).toEqual({ type: 'followup_cancelled', data: { reason: 'user' } });
  });

  it('increments the follow-up count; each event carries the new count', async () => {
    await create({ threadId: 'f6', followupCount: 2 });
    expect((await call('POST', '/api/v1/threads/f6/followup/increment')).json().followupCount).toBe(3);
    expect((await call('POST', '/api/v1/threads/f6/followup/increment')).json().followupCount).toBe(4);
    expect(await row('f6')).toMatchObject({ followup_count: 4 });
    expect((await eventRows('f6')).slice(1)).toEqual([
      { type: 'followup_count_incremented', data: { followupCount: 3 } },
      { type: 'followup_count_incremented', data: { followupCount: 4 } },
    ]);
  });

  it('answers 404 to schedule and cancel on an unknown thread', async () => {
    expectProblem(
      await call('PUT', '/api/v1/threads/nope/followup', { scheduledAt: FUTURE }),
      404,
      'THREAD_NOT_FOUND',
    );
    expectProblem(await call('DELETE', '/api/v1/threads/nope/followup'), 404, 'THREAD_NOT_FOUND');
  });
});

describe('GET /threads: filters', () => {
  const LEAD_A_NAME = 'Ada';
  let leadA: string;
  let leadB: string;

  beforeEach(async () => {
    leadA = (await call('POST', '/api/v1/leads', { name: LEAD_A_NAME })).json().id;
    leadB = (await call('POST', '/api/v1/leads', { name: 'Bob' })).json().id;
    await create({
      threadId: 'x1',
      subject: 'Offer from ACME',
      participants: ['jane@acme.example'],
      emailType: 'application',
      systemGenerated: true,
      leadId: leadA,
      lastActivity: '2026-11-01T00:00:00Z',
    });
    await create({
      threadId: 'x2',
      subject: '100% match_here',
      participants: ['bob@globex.example'],
      emailType: 'followup',
      hidden: true,
      leadId: leadB,
      lastActivity: '2026-11-02T00:00:00Z',
    });
    await create({
      threadId: 'x3',
      subject: 'Lunch?',
      participants: ['ACME-friend@example.org'],
      tracked: false,
      status: 'archived',
      lastActivity: '2026-11-03T00:00:00Z',
    });
    await create({ threadId: 'x4', subject: 'Spam', status: 'spam', lastActivity: null });
    await create({ threadId: 'x5', subject: 'Old', status: 'deleted', lastActivity: '2026-10-01T00:00:00Z' });
  });

  const sorted = (values: string[]) => [...values].sort();

  it.each([
    ['no filter (everything but deleted)', '', ['x1', 'x2', 'x3', 'x4']],
    ['status=active', 'status=active', ['x1', 'x2']],
    ['status=archived', 'status=archived', ['x3']],
    ['status=spam', 'status=spam', ['x4']],
    ['status=deleted', 'status=deleted', ['x5']],
    ['hidden=true', 'hidden=true', ['x2']],
    ['hidden=false', 'hidden=false', ['x1', 'x3', 'x4']],
    ['systemGenerated=true', 'systemGenerated=true', ['x1']],
    ['systemGenerated=false', 'systemGenerated=false', ['x2', 'x3', 'x4']],
    ['tracked=false', 'tracked=false', ['x3']],
    ['emailType=followup', 'emailType=followup', ['x2']],
    ['q over subjects, case-insensitive', 'q=acme', ['x1', 'x3']],
    ['q over participants', 'q=globex', ['x2']],
    ['q with % taken literally', 'q=%25', ['x2']],
    ['q with _ taken literally', 'q=h_here', ['x2']],
    ['q with _ not a wildcard', 'q=L_nch', []],
    ['q with a backslash', 'q=%5C', []],
    ['lastActivityFrom (inclusive)', 'lastActivityFrom=2026-11-02T00:00:00Z', ['x2', 'x3']],
    ['lastActivityTo (exclusive)', 'lastActivityTo=2026-11-02T00:00:00Z', ['x1']],
    [
      'a lastActivity window with an offset',
      'lastActivityFrom=2026-11-02T01:00:00%2B01:00&lastActivityTo=2026-11-03T00:00:00Z',
      ['x2'],
    ],
    ['filters combined', 'status=active&hidden=false&emailType=application', ['x1']],
  ])('%s', async (_name, query, expected) => {
    expect(sorted(ids(await list(query)))).toEqual(sorted(expected));
  });

  it('filters by lead', async () => {
    expect(ids(await list(`leadId=${leadA}`))).toEqual(['x1']);
    expect(ids(await list(`leadId=${leadB}`))).toEqual(['x2']);
    expect(ids(await list('leadId=0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b'))).toEqual([]);
  });

  it('lists hidden threads at /hidden-threads', async () => {
    const res = await call('GET', '/api/v1/hidden-threads');
    expect(res.statusCode).toBe(200);
    expect(ids(res.json())).toEqual(['x2']);
    expect(ids((await call('GET', '/api/v1/hidden-threads?emailType=application')).json())).toEqual([]);
    expectProblem(await call('GET', '/api/v1/hidden-threads?hidden=false'), 400, 'VALIDATION_FAILED');
  });

  it('lists system-generated threads at /system-generated-threads', async () => {
    const res = await call('GET', '/api/v1/system-generated-threads');
    expect(res.statusCode).toBe(200);
    expect(ids(res.json())).toEqual(['x1']);
    expectProblem(
      await call('GET', '/api/v1/system-generated-threads?systemGenerated=false'),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('shows a new write in a list that was cached before it', async () => {
    expect(ids(await list('hidden=true'))).toEqual(['x2']);
    await call('POST', '/api/v1/threads/x1/hide');
    expect(sorted(ids(await list('hidden=true')))).toEqual(['x1', 'x2']);
  });
});

describe('GET /threads: sorting and keyset pagination', () => {
  /** 14 threads: groups with equal lastActivity, several NULLs, and equal created_at values. */
  async function seed(): Promise<Thread[]> {
    const activity = [
      '2026-11-05T10:00:00.000001Z',
      '2026-11-05T10:00:00.000001Z',
      '2026-11-05T10:00:00.000001Z',
      '2026-11-04T00:00:00Z',
      null,
      '2026-11-06T00:00:00Z',
      null,
      '2026-11-04T00:00:00Z',
      null,
      '2026-11-03T23:59:59.999999Z',
      '2026-11-05T10:00:00Z',
      null,
      '2026-11-07T00:00:00Z',
      '2026-11-05T10:00:00.000001Z',
    ];
    const res = await call('POST', '/api/v1/threads/batch', {
      threads: activity.slice(0, BATCH_SIZE).map((lastActivity, i) => ({ threadId: `k${i}`, lastActivity })),
    });
    expect(res.statusCode, res.body).toBe(200);
    for (const [i, lastActivity] of activity.entries()) {
      if (i >= BATCH_SIZE) await create({ threadId: `k${i}`, lastActivity });
    }
    // Ties on created_at too: three groups of equal creation times.
    const groups = [
      ['k0', 'k5', 'k9', 'k13'],
      ['k1', 'k2', 'k6'],
      ['k3', 'k4', 'k7', 'k8', 'k10', 'k11', 'k12'],
    ];
    for (const [i, group] of groups.entries()) {
      await t.store.db
        .updateTable('thread_tracking')
        .set({ created_at: `2026-10-0${i + 1}T12:00:00.5Z` })
        .where('thread_id', 'in', group)
        .execute();
    }
    await t.service.clearUserCache('me');
    return (await list('limit=100')).items;
  }

  type Key = 'lastActivity' | 'createdAt';
  function expectedOrder(threads: Thread[], sort: Key, order: 'asc' | 'desc'): string[] {
    const sign = order === 'asc' ? 1 : -1;
    return [...threads]
      .sort((a, b) => {
        const va = a[sort];
        const vb = b[sort];
        if (va !== vb) {
          // NULLs are the oldest values: first ascending, last descending.
          if (va === null) return -sign;
          if (vb === null) return sign;
          return (va < vb ? -1 : 1) * sign;
        }
        return (a.id < b.id ? -1 : 1) * sign;
      })
      .map((x) => x.threadId);
  }

  async function walk(query: string, limit: number): Promise<{ pages: string[][]; all: string[] }> {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(ids(page));
      cursor = page.nextCursor;
      expect(pages.length).toBeLessThan(100);
    } while (cursor);
    return { pages, all: pages.flat() };
  }

  const combos = [
    ['lastActivity', 'desc'],
    ['lastActivity', 'asc'],
    ['createdAt', 'desc'],
    ['createdAt', 'asc'],
  ] as const;

  it.each(combos)('sorts by %s %s with NULLs as the oldest and ties broken by id', async (sort, order) => {
    const threads = await seed();
    expect(threads).toHaveLength(14);
    const page = await list(`sort=${sort}&order=${order}&limit=100`);
    expect(ids(page)).toEqual(expectedOrder(threads, sort, order));
    expect(page.nextCursor).toBeNull();
  });

  it('defaults to lastActivity descending', async () => {
    const threads = await seed();
    expect(ids(await list())).toEqual(expectedOrder(threads, 'lastActivity', 'desc'));
  });

  it.each(combos)('pages through %s %s without skipping or repeating a row', async (sort, order) => {
    const threads = await seed();
    const expected = expectedOrder(threads, sort, order);
    for (const limit of [1, 2, 3, 5, 13, 14, 15]) {
      const { pages, all } = await walk(`sort=${sort}&order=${order}`, limit);
      expect(all, `limit ${limit}`).toEqual(expected);
      expect(new Set(all).size).toBe(all.length);
      expect(pages.length).toBe(Math.max(1, Math.ceil(expected.length / limit)));
      for (const p of pages.slice(0, -1)) expect(p).toHaveLength(limit);
    }
  });

  it('pages through a filtered list', async () => {
    const threads = await seed();
    for (const id of ['k0', 'k4', 'k9', 'k12']) await call('POST', `/api/v1/threads/${id}/hide`);
    const visible = threads.filter((x) => !['k0', 'k4', 'k9', 'k12'].includes(x.threadId));
    const { all } = await walk('hidden=false&order=asc', 3);
    expect(all).toEqual(expectedOrder(visible, 'lastActivity', 'asc'));
  });

  it('defaults to 50 per page and allows at most 100', async () => {
    const rows = Array.from({ length: 120 }, (_, i) => ({
      user_id: 'me',
      thread_id: `bulk${String(i).padStart(3, '0')}`,
    }));
    await t.store.db.insertInto('thread_tracking').values(rows).execute();
    const first = await list();
    expect(first.items).toHaveLength(50);
    expect(first.nextCursor).toEqual(expect.any(String));
    const max = await list('limit=100');
    expect(max.items).toHaveLength(100);
    const rest = await list(`limit=100&cursor=${max.nextCursor}`);
    expect(rest.items).toHaveLength(20);
    expect(rest.nextCursor).toBeNull();
    expectProblem(await call('GET', '/api/v1/threads?limit=101'), 400, 'VALIDATION_FAILED');
    expectProblem(await call('GET', '/api/v1/threads?limit=0'), 400, 'VALIDATION_FAILED');
  });

  it('refuses a cursor made for another sort or order with 400 INVALID_CURSOR', async () => {
    await seed();
    const { nextCursor } = await list('sort=createdAt&order=asc&limit=2');
    expect(nextCursor).toEqual(expect.any(String));
    for (const query of ['sort=createdAt&order=desc', 'sort=lastActivity&order=asc', '']) {
      expectProblem(
        await call('GET', `/api/v1/threads?${query}&cursor=${nextCursor}`),
        400,
        'INVALID_CURSOR',
      );
    }
  });

  it.each([
    'garbage',
    Buffer.from('[1,2,3]').toString('base64url'),
    Buffer.from(JSON.stringify(['ld', "x' or 1=1 --", '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b'])).toString(
      'base64url',
    ),
    Buffer.from(
      JSON.stringify(['ld', '2026-02-30T00:00:00Z', '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b']),
    ).toString('base64url'),
    Buffer.from(
      JSON.stringify(['ld', '0000-01-01T00:00:00Z', '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b']),
    ).toString('base64url'),
  ])('refuses the forged cursor %s with 400 INVALID_CURSOR', async (cursor) => {
    expectProblem(await call('GET', `/api/v1/threads?cursor=${cursor}`), 400, 'INVALID_CURSOR');
  });
});

describe('POST /threads/batch', () => {
  it('inserts and updates in one call, changing only the given fields on update', async () => {
    await create({ threadId: 'b1', subject: 'keep me', messageCount: 1, emailType: 'manual' });
    await call('POST', '/api/v1/threads/b1/hide');
    await create({ threadId: 'b2', subject: 'same' });
    const res = await call('POST', '/api/v1/threads/batch', {
      threads: [
        { threadId: 'b1', messageCount: 5 },
        { threadId: 'b2', subject: 'same' },
        { threadId: 'b3', subject: 'new one', participants: ['X@Example.com'] },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ created: 1, updated: 1, unchanged: 1 });
    expect(body.threads.map((x: Thread) => x.threadId).sort()).toEqual(['b1', 'b3']);
    expect(await row('b1')).toMatchObject({
      subject: 'keep me',
      message_count: 5,
      email_type: 'manual',
      hidden: true,
    });
    expect(await row('b3')).toMatchObject({ subject: 'new one', participants: ['x@example.com'] });
    expect((await eventRows('b1')).map((e) => e.type)).toEqual(['created', 'hidden', 'upserted']);
    expect((await eventRows('b2')).map((e) => e.type)).toEqual(['created']);
    expect((await eventRows('b3')).map((e) => e.type)).toEqual(['created']);
  });

  it(`accepts exactly the batch size (${BATCH_SIZE}) and refuses one more`, async () => {
    const threads = (n: number) => Array.from({ length: n }, (_, i) => ({ threadId: `n${i}` }));
    expectProblem(
      await call('POST', '/api/v1/threads/batch', { threads: threads(BATCH_SIZE + 1) }),
      400,
      'VALIDATION_FAILED',
    );
    expect(await t.store.db.selectFrom('thread_tracking').select('id').execute()).toHaveLength(0);
    const ok = await call('POST', '/api/v1/threads/batch', { threads: threads(BATCH_SIZE) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().created).toBe(BATCH_SIZE);
    expect(await t.store.db.selectFrom('thread_tracking').select('id').execute()).toHaveLength(BATCH_SIZE);
  });

  it.each([
    ['an empty batch', { threads: [] }],
    ['a duplicate thread id', { threads: [{ threadId: 'z1' }, { threadId: 'z2' }, { threadId: 'z1' }] }],
    ['one invalid item', { threads: [{ threadId: 'z1' }, { threadId: 'z2', status: 'open' }] }],
    ['an unknown field in one item', { threads: [{ threadId: 'z1' }, { threadId: 'z2', userId: 'x' }] }],
    ['no threads key', {}],
    ['threads as an object', { threads: { threadId: 'z1' } }],
  ])('refuses %s with 400 and stores nothing', async (_name, body) => {
    expectProblem(await call('POST', '/api/v1/threads/batch', body), 400, 'VALIDATION_FAILED');
    expect(await t.store.db.selectFrom('thread_tracking').select('id').execute()).toHaveLength(0);
    expect(await t.store.db.selectFrom('thread_events').select('id').execute()).toHaveLength(0);
  });

  it('names the duplicate in the error', async () => {
    const body = expectProblem(
      await call('POST', '/api/v1/threads/batch', { threads: [{ threadId: 'z1' }, { threadId: 'z1' }] }),
      400,
      'VALIDATION_FAILED',
    );
    expect(body.errors).toEqual([
      { path: 'threads.1.threadId', message: 'duplicate threadId in this batch' },
    ]);
  });

  it('applies all or nothing: an unknown lead in one item stores none of them', async () => {
    const res = await call('POST', '/api/v1/threads/batch', {
      threads: [{ threadId: 'z1' }, { threadId: 'z2', leadId: '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b' }],
    });
    expectProblem(res, 404, 'LEAD_NOT_FOUND');
    expect(await row('z1')).toBeUndefined();
  });
});

describe('POST /threads/bulk', () => {
  beforeEach(async () => {
    for (const id of ['m1', 'm2', 'm3']) await create({ threadId: id });
  });

  it('hides many, ignores repeats and reports unknown ids', async () => {
    const res = await call('POST', '/api/v1/threads/bulk', {
      action: 'hide',
      threadIds: ['m1', 'm2', 'm1', 'unknown'],
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.updated.map((x: Thread) => x.threadId)).toEqual(['m1', 'm2']);
    expect(body.notFound).toEqual(['unknown']);
    expect(await row('m1')).toMatchObject({ hidden: true });
    expect(await row('m2')).toMatchObject({ hidden: true });
    expect(await row('m3')).toMatchObject({ hidden: false });
    expect((await eventRows('m1')).map((e) => e.type)).toEqual(['created', 'hidden']);
  });

  it.each([
    ['unhide', { hidden: false }],
    ['archive', { status: 'archived' }],
  ])('applies %s', async (action, expected) => {
    await call('POST', '/api/v1/threads/bulk', { action: 'hide', threadIds: ['m1', 'm2', 'm3'] });
    const res = await call('POST', '/api/v1/threads/bulk', { action, threadIds: ['m1', 'm3'] });
    expect(res.statusCode, res.body).toBe(200);
    expect(await row('m1')).toMatchObject(expected);
    expect(await row('m3')).toMatchObject(expected);
  });

  it('unarchives', async () => {
    await call('POST', '/api/v1/threads/bulk', { action: 'archive', threadIds: ['m1', 'm2'] });
    await call('POST', '/api/v1/threads/bulk', { action: 'unarchive', threadIds: ['m1'] });
    expect(await row('m1')).toMatchObject({ status: 'active', archived_at: null });
    expect(await row('m2')).toMatchObject({ status: 'archived' });
  });

  it('applies all or nothing: one thread in the wrong state refuses the whole bulk archive', async () => {
    await call('DELETE', '/api/v1/threads/m2');
    expectProblem(
      await call('POST', '/api/v1/threads/bulk', { action: 'archive', threadIds: ['m1', 'm2', 'm3'] }),
      409,
      'THREAD_STATE_CONFLICT',
    );
    expect(await row('m1')).toMatchObject({ status: 'active' });
    expect(await row('m3')).toMatchObject({ status: 'active' });
  });

  it.each([
    ['an unknown action', { action: 'delete', threadIds: ['m1'] }],
    ['no ids', { action: 'hide', threadIds: [] }],
    [
      'too many ids',
      { action: 'hide', threadIds: Array.from({ length: BATCH_SIZE + 1 }, (_, i) => `m${i}`) },
    ],
    ['an invalid id', { action: 'hide', threadIds: ['m1', 'a b'] }],
  ])('refuses %s with 400', async (_name, body) => {
    expectProblem(await call('POST', '/api/v1/threads/bulk', body), 400, 'VALIDATION_FAILED');
    expect(await row('m1')).toMatchObject({ hidden: false, status: 'active' });
  });
});

describe('events', () => {
  it('lists the history of one thread, oldest first, after an id', async () => {
    await create({ threadId: 'e1' });
    await create({ threadId: 'e2' });
    await call('POST', '/api/v1/threads/e1/hide');
    await call('PATCH', '/api/v1/threads/e1', { subject: 's' });
    await call('POST', '/api/v1/threads/e1/followup/increment');
    const res = await call('GET', '/api/v1/threads/e1/events');
    expect(res.statusCode).toBe(200);
    const items: ThreadEvent[] = res.json().items;
    expect(items.map((e) => e.type)).toEqual(['created', 'hidden', 'updated', 'followup_count_incremented']);
    expect(items.every((e) => e.threadId === 'e1' && e.userId === 'me')).toBe(true);
    const numeric = items.map((e) => BigInt(e.id));
    expect([...numeric].sort((a, b) => (a < b ? -1 : 1))).toEqual(numeric);

    const after = (await call('GET', `/api/v1/threads/e1/events?afterId=${items[1]!.id}`)).json().items;
    expect(after.map((e: ThreadEvent) => e.type)).toEqual(['updated', 'followup_count_incremented']);
    const limited = (await call('GET', '/api/v1/threads/e1/events?limit=2')).json().items;
    expect(limited.map((e: ThreadEvent) => e.type)).toEqual(['created', 'hidden']);
  });

  it('lists every event of the caller after an id at /events', async () => {
    await create({ threadId: 'e1' });
    const first = (await call('GET', '/api/v1/events')).json().items as ThreadEvent[];
    expect(first.map((e) => [e.threadId, e.type])).toEqual([['e1', 'created']]);
    await create({ threadId: 'e2' });
    await call('POST', '/api/v1/threads/e1/archive');
    const next = (await call('GET', `/api/v1/events?afterId=${first[0]!.id}`)).json().items as ThreadEvent[];
    expect(next.map((e) => [e.threadId, e.type])).toEqual([
      ['e2', 'created'],
      ['e1', 'archived'],
    ]);
    expect((await call('GET', `/api/v1/events?afterId=${next[1]!.id}`)).json().items).toEqual([]);
  });

  it('answers an empty history for a thread that never existed', async () => {
    const res = await call('GET', '/api/v1/threads/never/events');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [] });
  });

  it.each(['abc', '-1', '1.5', '', '99999999999999999999', '9223372036854775808'])(
    'refuses afterId=%s with 400',
    async (afterId) => {
      expectProblem(await call('GET', `/api/v1/events?afterId=${afterId}`), 400, 'VALIDATION_FAILED');
      expectProblem(
        await call('GET', `/api/v1/threads/e1/events?afterId=${afterId}`),
        400,
        'VALIDATION_FAILED',
      );
    },
  );

  it.each(['0', '501', 'x'])('refuses limit=%s with 400', async (limit) => {
    expectProblem(await call('GET', `/api/v1/events?limit=${limit}`), 400, 'VALIDATION_FAILED');
  });
});

describe('cache administration', () => {
  it("clears the caller's cache and keeps serving the same data", async () => {
    await create({ threadId: 'cc1', subject: 'cached' });
    await call('GET', '/api/v1/threads/cc1');
    await call('GET', '/api/v1/threads');
    const res = await call('POST', '/api/v1/cache/clear');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().cleared).toBeGreaterThanOrEqual(2);
    expect((await call('POST', '/api/v1/cache/clear', {})).json()).toEqual({ cleared: expect.any(Number) });
    expect((await call('GET', '/api/v1/threads/cc1')).json().subject).toBe('cached');
    expect(ids(await list())).toEqual(['cc1']);
  });

  it('lets the local user (an admin) clear the whole cache', async () => {
    await create({ threadId: 'cc2' });
    await call('GET', '/api/v1/threads/cc2');
    const res = await call('POST', '/api/v1/admin/cache/clear');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().cleared).toBeGreaterThanOrEqual(1);
    expect((await call('GET', '/api/v1/threads/cc2')).statusCode).toBe(200);
  });

  it('refuses a body on cache clear', async () => {
    expectProblem(await call('POST', '/api/v1/cache/clear', { all: true }), 400, 'VALIDATION_FAILED');
  });
});

describe('operations and documentation', () => {
  it('answers /health without touching anything', async () => {
    const res = await call('GET', '/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', uptimeSeconds: expect.any(Number) });
  });

  it('answers /ready with the database, pool and cache status', async () => {
    const res = await call('GET', '/ready');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('ready');
    expect(body.checks.database).toMatchObject({
      status: 'ok',
      latencyMs: expect.any(Number),
      pool: { engine: 'pglite', size: 1 },
    });
    expect(body.checks.cache).toMatchObject({ status: 'ok', tier: 'memory' });
  });

  it('says who the caller is', async () => {
    expect((await call('GET', '/api/v1/me')).json()).toEqual({
      userId: 'me',
      admin: true,
      authMode: 'local',
    });
  });

  it('serves a valid OpenAPI 3.1 document listing every route', async () => {
    const res = await call('GET', '/api/openapi.json');
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const routes = [
      ['get', '/api/v1/threads'],
      ['post', '/api/v1/threads'],
      ['post', '/api/v1/threads/batch'],
      ['post', '/api/v1/threads/bulk'],
      ['get', '/api/v1/threads/{threadId}'],
      ['put', '/api/v1/threads/{threadId}'],
      ['patch', '/api/v1/threads/{threadId}'],
      ['delete', '/api/v1/threads/{threadId}'],
      ['post', '/api/v1/threads/{threadId}/hide'],
      ['post', '/api/v1/threads/{threadId}/unhide'],
      ['post', '/api/v1/threads/{threadId}/archive'],
      ['post', '/api/v1/threads/{threadId}/unarchive'],
      ['post', '/api/v1/threads/{threadId}/system-generated'],
      ['put', '/api/v1/threads/{threadId}/followup'],
      ['delete', '/api/v1/threads/{threadId}/followup'],
      ['post', '/api/v1/threads/{threadId}/followup/increment'],
      ['get', '/api/v1/threads/{threadId}/events'],
      ['get', '/api/v1/hidden-threads'],
      ['get', '/api/v1/system-generated-threads'],
      ['get', '/api/v1/events'],
      ['get', '/api/v1/analytics'],
      ['get', '/api/v1/leads'],
      ['post', '/api/v1/leads'],
      ['get', '/api/v1/leads/{leadId}'],
      ['patch', '/api/v1/leads/{leadId}'],
      ['delete', '/api/v1/leads/{leadId}'],
      ['post', '/api/v1/cache/clear'],
      ['post', '/api/v1/admin/cache/clear'],
      ['get', '/api/v1/me'],
      ['get', '/health'],
      ['get', '/ready'],
    ];
    for (const [method, path] of routes) {
      const operation = doc.paths?.[path!]?.[method!];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(Object.keys(operation.responses ?? {}).length, `${method} ${path} responses`).toBeGreaterThan(0);
    }
    // Path parameters are declared, and every $ref points at something that exists.
    expect(doc.paths['/api/v1/threads/{threadId}'].get.parameters).toContainEqual(
      expect.objectContaining({ name: 'threadId', in: 'path', required: true }),
    );
    const refs: string[] = [];
    JSON.stringify(doc, (key, value) => {
      if (key === '$ref' && typeof value === 'string') refs.push(value);
      return value;
    });
    for (const ref of refs) {
      expect(ref.startsWith('#/'), ref).toBe(true);
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
      expect(target, ref).toBeDefined();
    }
    // The request schemas are the validating ones: the create body refuses unknown fields.
    const createBody = doc.paths['/api/v1/threads'].post.requestBody.content['application/json'].schema;
    expect(createBody.additionalProperties).toBe(false);
    expect(createBody.required).toEqual(['threadId']);
  });

  it('serves the documentation page', async () => {
    const res = await call('GET', '/api/docs');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('swagger');
  });

  it('answers an unknown API path with 404 NOT_FOUND problem+json', async () => {
    expectProblem(await call('GET', '/api/v1/nothing-here'), 404, 'NOT_FOUND');
    expectProblem(await call('PATCH', '/api/v1/threads'), 404, 'NOT_FOUND');
  });

  it('echoes a valid X-Request-Id and makes one up otherwise', async () => {
    const given = await call('GET', '/health', undefined, { 'x-request-id': 'abc-123' });
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await call('GET', '/health', undefined, { 'x-request-id': 'bad id\twith spaces' });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const problem = expectProblem(
      await call('GET', '/api/v1/threads/none', undefined, { 'x-request-id': 'req-42' }),
      404,
      'THREAD_NOT_FOUND',
    );
    expect(problem).toMatchObject({ requestId: 'req-42', instance: '/api/v1/threads/none' });
  });
});
