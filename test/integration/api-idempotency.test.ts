/**
 * Idempotency-Key on every mutating route: a retry with the same key answers the first response (same status and
 * body, Idempotent-Replayed: true) without applying the change again; the same key with another request is a 422;
 * concurrent requests with one key apply once; keys belong to one user; a failed request does not use up its key.
 */
import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/api/auth/authenticator.ts';
import { createTestApp, TEST_JWT_SECRET, type TestApp } from '../support/test-app.ts';

const FUTURE = '2099-03-01T00:00:00Z';
let t: TestApp;
let A: string;
let B: string;

beforeAll(async () => {
  t = await createTestApp({ auth: 'jwt' });
  const mint = (userId: string) =>
    mintToken({ secret: TEST_JWT_SECRET, userId, issuer: 'thread-tracker-test', audience: 'thread-tracker' });
  A = `Bearer ${await mint('user-a')}`;
  B = `Bearer ${await mint('user-b')}`;
});
afterAll(async () => {
  await t?.close();
});

let leadId: string;
beforeEach(async () => {
  await t.reset();
  leadId = (await send(A, 'POST', '/api/v1/leads', { name: 'Ada' })).json().id;
  for (const body of [
    { threadId: 'i1', subject: 'first' },
    { threadId: 'i2', hidden: true, followupScheduledAt: FUTURE },
  ]) {
    expect((await send(A, 'POST', '/api/v1/threads', body)).statusCode).toBe(201);
  }
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function send(
  auth: string,
  method: Method,
  url: string,
  payload?: unknown,
  key?: string,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url,
    headers: { authorization: auth, ...(key === undefined ? {} : { 'idempotency-key': key }) },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** Everything a route can change, per user, as text. */
async function state(userId = 'user-a') {
  const { rows } = await sql<Record<string, string | null>>`
    select
      (select string_agg(t::text, E'\\n' order by t.id) from thread_tracking t where t.user_id = ${userId}) as threads,
      (select count(*)::text from thread_events e where e.user_id = ${userId}) as events,
      (select string_agg(l::text, E'\\n' order by l.id) from leads l where l.user_id = ${userId}) as leads
  `.execute(t.store.db);
  return rows[0]!;
}

interface Route {
  name: string;
  method: Method;
  url: () => string;
  body?: () => unknown;
  /** Another body for the same route (the same key with it must be refused). */
  other: () => unknown;
  status: number;
}

const routes: Route[] = [
  {
    name: 'create a thread',
    method: 'POST',
    url: () => '/api/v1/threads',
    body: () => ({ threadId: 'n1' }),
    other: () => ({ threadId: 'n2' }),
    status: 201,
  },
  {
    name: 'upsert a thread',
    method: 'PUT',
    url: () => '/api/v1/threads/i1',
    body: () => ({ subject: 'put' }),
    other: () => ({ subject: 'other' }),
    status: 200,
  },
  {
    name: 'patch a thread',
    method: 'PATCH',
    url: () => '/api/v1/threads/i1',
    body: () => ({ subject: 'patched' }),
    other: () => ({ subject: 'other' }),
    status: 200,
  },
  {
    name: 'soft-delete a thread',
    method: 'DELETE',
    url: () => '/api/v1/threads/i1',
    other: () => ({}),
    status: 200,
  },
  {
    name: 'purge a thread',
    method: 'DELETE',
    url: () => '/api/v1/threads/i1?purge=true',
    other: () => ({}),
    status: 204,
  },
  { name: 'hide', method: 'POST', url: () => '/api/v1/threads/i1/hide', other: () => ({}), status: 200 },
  { name: 'unhide', method: 'POST', url: () => '/api/v1/threads/i2/unhide', other: () => ({}), status: 200 },
  {
    name: 'archive',
    method: 'POST',
    url: () => '/api/v1/threads/i1/archive',
    other: () => ({}),
    status: 200,
  },
  {
    name: 'unarchive',
    method: 'POST',
    url: () => '/api/v1/threads/i1/unarchive',
    other: () => ({}),
    status: 200,
  },
  {
    name: 'increment follow-ups',
    method: 'POST',
    url: () => '/api/v1/threads/i1/followup/increment',
    other: () => ({}),
    status: 200,
  },
  {
    name: 'mark system-generated',
    method: 'POST',
    url: () => '/api/v1/threads/i1/system-generated',
    body: () => ({ emailType: 'manual' }),
    other: () => ({ emailType: 'followup' }),
    status: 200,
  },
  {
    name: 'schedule a follow-up',
    method: 'PUT',
    url: () => '/api/v1/threads/i1/followup',
    body: () => ({ scheduledAt: FUTURE }),
    other: () => ({ scheduledAt: '2099-03-02T00:00:00Z' }),
    status: 200,
  },
  {
    name: 'cancel a follow-up',
    method: 'DELETE',
    url: () => '/api/v1/threads/i2/followup',
    other: () => ({}),
    status: 200,
  },
  {
    name: 'batch upsert',
    method: 'POST',
    url: () => '/api/v1/threads/batch',
    body: () => ({ threads: [{ threadId: 'i1', messageCount: 5 }, { threadId: 'n3' }] }),
    other: () => ({ threads: [{ threadId: 'n4' }] }),
    status: 200,
  },
  {
    name: 'bulk hide',
    method: 'POST',
    url: () => '/api/v1/threads/bulk',
    body: () => ({ action: 'hide', threadIds: ['i1'] }),
    other: () => ({ action: 'archive', threadIds: ['i1'] }),
    status: 200,
  },
  {
    name: 'create a lead',
    method: 'POST',
    url: () => '/api/v1/leads',
    body: () => ({ name: 'Grace' }),
    other: () => ({ name: 'Linus' }),
    status: 201,
  },
  {
    name: 'patch a lead',
    method: 'PATCH',
    url: () => `/api/v1/leads/${leadId}`,
    body: () => ({ company: 'ACME' }),
    other: () => ({ company: 'Globex' }),
    status: 200,
  },
  {
    name: 'delete a lead',
    method: 'DELETE',
    url: () => `/api/v1/leads/${leadId}`,
    other: () => ({}),
    status: 204,
  },
];

describe.each(routes)('$method $name with an Idempotency-Key', (route) => {
  it('replays the first response on a retry and applies once', async () => {
    const before = await state();
    const first = await send(A, route.method, route.url(), route.body?.(), 'key-1');
    expect(first.statusCode, first.body).toBe(route.status);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const afterFirst = await state();
    expect(afterFirst).not.toEqual(before);

    for (let i = 0; i < 3; i++) {
      const retry = await send(A, route.method, route.url(), route.body?.(), 'key-1');
      expect(retry.statusCode, retry.body).toBe(route.status);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      // The same body as JSON (the stored copy is jsonb, which does not keep key order).
      expect(retry.body === '' ? '' : retry.json()).toEqual(first.body === '' ? '' : first.json());
    }
    expect(await state()).toEqual(afterFirst);
  });

  it('refuses the same key with another body, or on another route, with 422 and no change', async () => {
    const first = await send(A, route.method, route.url(), route.body?.(), 'key-2');
    expect(first.statusCode, first.body).toBe(route.status);
    const afterFirst = await state();
    const attempts = [
      send(A, route.method, route.url(), route.other(), 'key-2'),
      send(A, 'POST', '/api/v1/threads/i1/hide', undefined, 'key-2'),
      send(A, 'POST', '/api/v1/threads', { threadId: 'zz' }, 'key-2'),
    ];
    let refused = 0;
    for (const res of await Promise.all(attempts)) {
      // The route itself may be one of the two others, in which case its request is a true retry.
      if (res.headers['idempotent-replayed'] === 'true') continue;
      expect(res.statusCode, res.body).toBe(422);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' });
      refused++;
    }
    expect(refused).toBeGreaterThanOrEqual(2);
    expect(await state()).toEqual(afterFirst);
  });
});

describe('idempotency details', () => {
  it('increments the follow-up count once however often a keyed request is retried', async () => {
    const responses = [];
    for (let i = 0; i < 5; i++) {
      responses.push(await send(A, 'POST', '/api/v1/threads/i1/followup/increment', undefined, 'inc-1'));
    }
    expect(responses.map((r) => r.json().followupCount)).toEqual([1, 1, 1, 1, 1]);
    const row = await t.store.db
      .selectFrom('thread_tracking')
      .select('followup_count')
      .where('thread_id', '=', 'i1')
      .executeTakeFirstOrThrow();
    expect(row.followup_count).toBe(1);
    const events = await t.store.db
      .selectFrom('thread_events')
      .select('type')
      .where('thread_id', '=', 'i1')
      .where('type', '=', 'followup_count_incremented')
      .execute();
    expect(events).toHaveLength(1);
    // A new key is a new request.
    expect(
      (await send(A, 'POST', '/api/v1/threads/i1/followup/increment', undefined, 'inc-2')).json()
        .followupCount,
    ).toBe(2);
  });

  it('applies concurrent requests with the same key once, and all of them get the first response', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        send(A, 'POST', '/api/v1/threads/i1/followup/increment', undefined, 'conc'),
      ),
    );
    const ok = results.filter((r) => r.statusCode === 200);
    // A request that finds the key still in progress may be told to retry (409 + Retry-After); none may apply twice.
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(409);
      expect(r.json().code).toBe('IDEMPOTENCY_KEY_IN_USE');
      expect(r.headers['retry-after']).toBe('1');
    }
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(new Set(ok.map((r) => JSON.stringify(r.json(), Object.keys(r.json()).sort()))).size).toBe(1);
    expect(ok[0]!.json().followupCount).toBe(1);
    expect(ok.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    const row = await t.store.db
      .selectFrom('thread_tracking')
      .select('followup_count')
      .where('thread_id', '=', 'i1')
      .executeTakeFirstOrThrow();
    expect(row.followup_count).toBe(1);
  });

  it('applies concurrent creates with the same key once', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        send(A, 'POST', '/api/v1/threads', { threadId: 'race' }, 'create-race'),
      ),
    );
    expect(results.filter((r) => r.statusCode === 201).length).toBeGreaterThanOrEqual(1);
    expect(results.every((r) => r.statusCode === 201 || r.statusCode === 409)).toBe(true);
    expect(
      results.filter((r) => r.statusCode === 409).every((r) => r.json().code === 'IDEMPOTENCY_KEY_IN_USE'),
    ).toBe(true);
    expect(new Set(results.filter((r) => r.statusCode === 201).map((r) => r.json().id)).size).toBe(1);
    const events = await t.store.db
      .selectFrom('thread_events')
      .select('type')
      .where('thread_id', '=', 'race')
      .execute();
    expect(events).toEqual([{ type: 'created' }]);
  });

  it('keeps keys per user: the same key from another user is a new request', async () => {
    const fromA = await send(A, 'POST', '/api/v1/threads', { threadId: 'shared' }, 'same-key');
    expect(fromA.statusCode).toBe(201);
    const fromB = await send(B, 'POST', '/api/v1/threads', { threadId: 'shared' }, 'same-key');
    expect(fromB.statusCode, fromB.body).toBe(201);
    expect(fromB.headers['idempotent-replayed']).toBeUndefined();
    expect(fromB.json()).toMatchObject({ userId: 'user-b', threadId: 'shared' });
    expect(fromB.json().id).not.toBe(fromA.json().id);
    const otherBody = await send(B, 'POST', '/api/v1/threads/i1/hide', undefined, 'key-of-a');
    await send(A, 'POST', '/api/v1/threads/i2/unhide', undefined, 'key-of-a');
    expect(otherBody.statusCode).toBe(404);
    // A's retry still replays A's response, not B's.
    const retryA = await send(A, 'POST', '/api/v1/threads', { threadId: 'shared' }, 'same-key');
    expect(retryA.headers['idempotent-replayed']).toBe('true');
    expect(retryA.json()).toEqual(fromA.json());
  });

  it('does not use up a key on a failed request', async () => {
    const failed = await send(A, 'PATCH', '/api/v1/threads/later', { subject: 'x' }, 'retry-after-404');
    expect(failed.statusCode).toBe(404);
    const invalid = await send(
      A,
      'PATCH',
      '/api/v1/threads/later',
      { subject: 'x', bogus: 1 },
      'retry-after-400',
    );
    expect(invalid.statusCode).toBe(400);
    expect(await t.store.db.selectFrom('idempotency_keys').select('key').execute()).toEqual([]);
    await send(A, 'POST', '/api/v1/threads', { threadId: 'later' });
    const retried = await send(A, 'PATCH', '/api/v1/threads/later', { subject: 'x' }, 'retry-after-404');
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(retried.json().subject).toBe('x');
  });

  it('replays a refused request as it was first answered only when it succeeded', async () => {
    const past = await send(
      A,
      'PUT',
      '/api/v1/threads/i1/followup',
      { scheduledAt: '2001-01-01T00:00:00Z' },
      'k-past',
    );
    expect(past.statusCode).toBe(422);
    expect(past.json().code).toBe('FOLLOWUP_IN_PAST');
    const again = await send(
      A,
      'PUT',
      '/api/v1/threads/i1/followup',
      { scheduledAt: '2001-01-01T00:00:00Z' },
      'k-past',
    );
    expect(again.statusCode).toBe(422);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
  });

  it('lets a key be used again after 24 hours', async () => {
    const first = await send(A, 'POST', '/api/v1/threads/i1/followup/increment', undefined, 'old-key');
    expect(first.json().followupCount).toBe(1);
    await t.store.db
      .updateTable('idempotency_keys')
      .set({ created_at: sql`now() - interval '25 hours'` as never })
      .where('key', '=', 'old-key')
      .execute();
    const later = await send(A, 'POST', '/api/v1/threads/i1/followup/increment', undefined, 'old-key');
    expect(later.statusCode).toBe(200);
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    expect(later.json().followupCount).toBe(2);
    const retry = await send(A, 'POST', '/api/v1/threads/i1/followup/increment', undefined, 'old-key');
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json().followupCount).toBe(2);
  });

  it('treats the same body with keys in another order as the same request', async () => {
    const first = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/threads/i1',
      headers: { authorization: A, 'idempotency-key': 'order', 'content-type': 'application/json' },
      payload: '{"subject":"s","messageCount":3}',
    });
    const second = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/threads/i1',
      headers: { authorization: A, 'idempotency-key': 'order', 'content-type': 'application/json' },
      payload: '{"messageCount":3,"subject":"s"}',
    });
    expect(first.statusCode).toBe(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
  });

  it.each([
    ['an empty key', ''],
    ['a key with a space', 'a b'],
    ['a key with non-ASCII', 'clé'],
    ['a key of 256 characters', 'k'.repeat(256)],
  ])('refuses %s with 400', async (_name, key) => {
    const before = await state();
    const res = await send(A, 'POST', '/api/v1/threads/i1/hide', undefined, key);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    expect(await state()).toEqual(before);
  });

  it('accepts a key of 255 visible characters', async () => {
    const res = await send(A, 'POST', '/api/v1/threads/i1/hide', undefined, `${'k'.repeat(250)}!~"{}`);
    expect(res.statusCode, res.body).toBe(200);
  });
});
