/**
 * JWT mode: every bad token is a 401 problem with WWW-Authenticate, a good one works, the admin claim opens the
 * admin routes; and one user can never read, change or even detect another user's threads and leads.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/api/auth/authenticator.ts';
import { createTestApp, TEST_JWT_SECRET, type TestApp } from '../support/test-app.ts';

const ISSUER = 'thread-tracker-test';
const AUDIENCE = 'thread-tracker';
const secret = new TextEncoder().encode(TEST_JWT_SECRET);

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp({ auth: 'jwt' });
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await t.reset();
});

const token = (userId: string, admin = false) =>
  mintToken({ secret: TEST_JWT_SECRET, userId, admin, issuer: ISSUER, audience: AUDIENCE });

const now = () => Math.floor(Date.now() / 1000);

/** A token with full control over header, claims and key. */
function forge(
  claims: Record<string, unknown>,
  options: { key?: Uint8Array | Parameters<SignJWT['sign']>[0]; alg?: string } = {},
): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'user-a', iat: now(), exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .sign(options.key ?? secret);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function as(
  auth: string | undefined,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url,
    headers: auth === undefined ? {} : { authorization: auth },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
  expect(res.body).not.toMatch(
    /\n\s+at |node_modules|\.ts:\d+|\b(select|insert|update|delete)\b.*\b(from|into|set)\b/i,
  );
}

function expect401(res: LightMyRequestResponse) {
  expectProblem(res, 401, 'UNAUTHENTICATED');
  expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
}

describe('JWT authentication', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  const bad: [string, () => Promise<string | undefined>][] = [
    ['no Authorization header', async () => undefined],
    ['an empty header', async () => ''],
    ['the scheme only', async () => 'Bearer'],
    ['the scheme and a space', async () => 'Bearer '],
    ['Basic credentials', async () => `Basic ${Buffer.from('me:pw').toString('base64')}`],
    ['a token without a scheme', async () => token('user-a')],
    ['a trailing word', async () => `Bearer ${await token('user-a')} extra`],
    ['two tokens', async () => `Bearer ${await token('user-a')},${await token('user-b')}`],
    ['not a JWT', async () => 'Bearer not-a-jwt'],
    ['two segments', async () => 'Bearer aaa.bbb'],
    ['four segments', async () => `Bearer ${await token('user-a')}.x`],
    [
      'a header that is not JSON',
      async () => `Bearer ${Buffer.from('{alg').toString('base64url')}.${b64({ sub: 'x' })}.sig`,
    ],
    ['a header that is not base64url', async () => 'Bearer @@@.@@@.@@@'],
    [
      'alg none (unsigned)',
      async () =>
        `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'user-a', iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })}.`,
    ],
    [
      'alg None with a signature copied from a real token',
      async () => {
        const real = (await token('user-a')).split('.');
        return `Bearer ${b64({ alg: 'None' })}.${real[1]}.${real[2]}`;
      },
    ],
    [
      'a real signature over a changed payload',
      async () => {
        const real = (await token('user-a')).split('.');
        return `Bearer ${real[0]}.${b64({ sub: 'user-b', iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })}.${real[2]}`;
      },
    ],
    [
      'the wrong key',
      async () => `Bearer ${await forge({}, { key: new TextEncoder().encode('x'.repeat(64)) })}`,
    ],
    [
      'HS256 signed with a public-key-looking secret',
      async () => `Bearer ${await forge({}, { key: new TextEncoder().encode(publicPem) })}`,
    ],
    [
      'RS256 (no key set configured)',
      async () => `Bearer ${await forge({}, { key: rsa.privateKey, alg: 'RS256' })}`,
    ],
    [
      'HS512 with the right secret (algorithm not allowed)',
      async () => `Bearer ${await forge({}, { alg: 'HS512' })}`,
    ],
    ['an expired token', async () => `Bearer ${await forge({ iat: now() - 7200, exp: now() - 3600 })}`],
    ['a token expired 10 s ago', async () => `Bearer ${await forge({ exp: now() - 10 })}`],
    ['a token not valid yet', async () => `Bearer ${await forge({ nbf: now() + 3600 })}`],
    ['no exp claim', async () => `Bearer ${await forge({ exp: undefined })}`],
    ['the wrong audience', async () => `Bearer ${await forge({ aud: 'someone-else' })}`],
    ['no audience', async () => `Bearer ${await forge({ aud: undefined })}`],
    ['the wrong issuer', async () => `Bearer ${await forge({ iss: 'https://evil.example' })}`],
    ['no issuer', async () => `Bearer ${await forge({ iss: undefined })}`],
    ['no sub claim', async () => `Bearer ${await forge({ sub: undefined })}`],
    ['an empty sub', async () => `Bearer ${await forge({ sub: '' })}`],
    ['a numeric sub', async () => `Bearer ${await forge({ sub: 42 })}`],
    ['a sub of 256 characters', async () => `Bearer ${await forge({ sub: 'u'.repeat(256) })}`],
    ['a sub with a NUL', async () => `Bearer ${await forge({ sub: 'user-a\u0000' })}`],
  ];

  it.each(bad)('refuses %s with 401 and WWW-Authenticate', async (_name, make) => {
    const auth = await make();
    for (const [method, url] of [
      ['GET', '/api/v1/me'],
      ['GET', '/api/v1/threads'],
      ['POST', '/api/v1/threads'],
    ] as const) {
      expect401(await as(auth, method, url, method === 'POST' ? { threadId: 'x1' } : undefined));
    }
    expect(await t.store.db.selectFrom('thread_tracking').select('id').execute()).toEqual([]);
  });

  it('accepts a valid token: sub is the user id', async () => {
    const res = await as(`Bearer ${await token('user-a')}`, 'GET', '/api/v1/me');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ userId: 'user-a', admin: false, authMode: 'jwt' });
    const created = await as(`Bearer ${await token('user-a')}`, 'POST', '/api/v1/threads', {
      threadId: 'x1',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().userId).toBe('user-a');
    const stored = await t.store.db.selectFrom('thread_tracking').select(['user_id', 'thread_id']).execute();
    expect(stored).toEqual([{ user_id: 'user-a', thread_id: 'x1' }]);
  });

  it('reads the scheme case-insensitively and allows several spaces before the token (RFC 9110)', async () => {
    for (const header of [
      `bearer ${await token('user-a')}`,
      `BEARER ${await token('user-a')}`,
      `Bearer   ${await token('user-a')}`,
    ]) {
      const res = await as(header, 'GET', '/api/v1/me');
      expect(res.statusCode, header).toBe(200);
      expect(res.json().userId).toBe('user-a');
    }
  });

  it('accepts a token within the clock tolerance', async () => {
    const res = await as(`Bearer ${await forge({ nbf: now() + 2 })}`, 'GET', '/api/v1/me');
    expect(res.statusCode, res.body).toBe(200);
  });

  it('keeps Unicode and punctuation in sub as the user id', async () => {
    const sub = 'auth0|Ünïcode 👋 user';
    const res = await as(`Bearer ${await forge({ sub })}`, 'GET', '/api/v1/me');
    expect(res.json().userId).toBe(sub);
  });

  it('refuses every /api/v1 route without a token, however the path is spelled', async () => {
    for (const url of [
      '/api/v1/threads',
      '/api/v1/threads/x1',
      '/api/v1/analytics',
      '/api/v1/leads',
      '/api/v1/events',
      '/api/v1/me',
      '/ap%69/v1/me',
      '/api/%761/threads',
      '/api/v1/%74hreads',
      '/api/v1/threads/',
    ]) {
      expect401(await as(undefined, 'GET', url));
    }
    expect401(await as(undefined, 'POST', '/api/v1/threads', { threadId: 'x1' }));
    expect401(await as(undefined, 'POST', '/api/v1/cache/clear'));
    expect401(await as(undefined, 'POST', '/api/v1/admin/cache/clear'));
    expect(await t.store.db.selectFrom('thread_tracking').select('id').execute()).toEqual([]);
  });

  it('serves health, readiness and the API description without a token', async () => {
    expect((await as(undefined, 'GET', '/health')).statusCode).toBe(200);
    expect((await as(undefined, 'GET', '/ready')).statusCode).toBe(200);
    const doc = await as(undefined, 'GET', '/api/openapi.json');
    expect(doc.statusCode).toBe(200);
    expect(doc.json().components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.json().security).toEqual([{ bearer: [] }]);
    expect((await as(undefined, 'GET', '/api/docs')).statusCode).toBe(200);
  });

  it('opens the admin routes to the admin claim only', async () => {
    const user = `Bearer ${await token('user-a')}`;
    const admin = `Bearer ${await token('root', true)}`;
    expect((await as(admin, 'GET', '/api/v1/me')).json()).toEqual({
      userId: 'root',
      admin: true,
      authMode: 'jwt',
    });
    expectProblem(await as(user, 'POST', '/api/v1/admin/cache/clear'), 403, 'FORBIDDEN');
    expect((await as(user, 'POST', '/api/v1/cache/clear')).statusCode).toBe(200);
    const res = await as(admin, 'POST', '/api/v1/admin/cache/clear');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ cleared: expect.any(Number) });
  });

  it.each([
    ['role: admin in a list', { role: ['user', 'admin'] }, true],
    ['role: Admin (case differs)', { role: 'Admin' }, false],
    ['role: user', { role: 'user' }, false],
    ['admin: true (another claim)', { admin: true }, false],
    ['role: admin nested elsewhere', { app_metadata: { role: 'admin' } }, false],
  ])('reads %s as admin=%s', async (_name, claims, admin) => {
    const res = await as(`Bearer ${await forge(claims)}`, 'GET', '/api/v1/me');
    expect(res.json().admin).toBe(admin);
    const clear = await as(`Bearer ${await forge(claims)}`, 'POST', '/api/v1/admin/cache/clear');
    expect(clear.statusCode).toBe(admin ? 200 : 403);
  });
});

describe('cross-tenant access', () => {
  const SECRET_SUBJECT = 'Confidential offer for user A';
  let A: string;
  let B: string;
  let leadOfA: string;

  async function rowsOf(userId: string) {
    const db = t.store.db;
    return {
      threads: await db
        .selectFrom('thread_tracking')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('id')
        .execute(),
      events: await db
        .selectFrom('thread_events')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('id')
        .execute(),
      leads: await db.selectFrom('leads').selectAll().where('user_id', '=', userId).orderBy('id').execute(),
    };
  }

  beforeEach(async () => {
    A = `Bearer ${await token('user-a')}`;
    B = `Bearer ${await token('user-b')}`;
    leadOfA = (await as(A, 'POST', '/api/v1/leads', { name: 'Lead of A', email: 'lead@a.example' })).json()
      .id;
    const threads = [
      { threadId: 'a1', subject: SECRET_SUBJECT, leadId: leadOfA, participants: ['lead@a.example'] },
      {
        threadId: 'a2',
        subject: SECRET_SUBJECT,
        hidden: true,
        systemGenerated: true,
        emailType: 'application',
      },
      { threadId: 'a3', subject: SECRET_SUBJECT, followupScheduledAt: '2099-01-01T00:00:00Z' },
    ];
    for (const body of threads) expect((await as(A, 'POST', '/api/v1/threads', body)).statusCode).toBe(201);
    // A's thread is in the cache too: B must not be served from it.
    expect((await as(A, 'GET', '/api/v1/threads/a1')).statusCode).toBe(200);
    expect((await as(A, 'GET', '/api/v1/threads')).json().items).toHaveLength(3);
  });

  const notFound: [string, 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', string, unknown?][] = [
    ['read', 'GET', '/api/v1/threads/a1'],
    ['patch', 'PATCH', '/api/v1/threads/a1', { subject: 'pwned' }],
    ['soft delete', 'DELETE', '/api/v1/threads/a1'],
    ['purge', 'DELETE', '/api/v1/threads/a1?purge=true'],
    ['hide', 'POST', '/api/v1/threads/a1/hide'],
    ['unhide', 'POST', '/api/v1/threads/a2/unhide'],
    ['archive', 'POST', '/api/v1/threads/a1/archive'],
    ['unarchive', 'POST', '/api/v1/threads/a1/unarchive'],
    ['mark system-generated', 'POST', '/api/v1/threads/a1/system-generated', { emailType: 'manual' }],
    ['schedule a follow-up', 'PUT', '/api/v1/threads/a1/followup', { scheduledAt: '2099-06-01T00:00:00Z' }],
    ['cancel a follow-up', 'DELETE', '/api/v1/threads/a3/followup'],
    ['increment follow-ups', 'POST', '/api/v1/threads/a1/followup/increment'],
  ];

  it.each(notFound)(
    "cannot %s A's thread: 404, nothing leaked, nothing changed",
    async (_name, method, url, body) => {
      const before = await rowsOf('user-a');
      const res = await as(B, method, url, body);
      expectProblem(res, 404, 'THREAD_NOT_FOUND');
      expect(res.body).not.toContain(SECRET_SUBJECT);
      expect(await rowsOf('user-a')).toEqual(before);
    },
  );

  it("sees none of A's threads or events in any list", async () => {
    const before = await rowsOf('user-a');
    for (const url of [
      '/api/v1/threads',
      '/api/v1/threads?status=active',
      '/api/v1/threads?hidden=true',
      `/api/v1/threads?leadId=${leadOfA}`,
      `/api/v1/threads?q=${encodeURIComponent('Confidential')}`,
      '/api/v1/hidden-threads',
      '/api/v1/system-generated-threads',
      '/api/v1/threads/a1/events',
      '/api/v1/events',
      '/api/v1/events?afterId=0',
      '/api/v1/leads',
      '/api/v1/leads?q=lead',
    ]) {
      const res = await as(B, 'GET', url);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
      expect(res.json().items, url).toEqual([]);
      expect(res.body).not.toContain(SECRET_SUBJECT);
    }
    const analytics = (await as(B, 'GET', '/api/v1/analytics')).json();
    expect(analytics.totals.threads).toBe(0);
    expect(analytics.byStatus.active).toBe(0);
    expect(await rowsOf('user-a')).toEqual(before);
  });

  it("cannot bulk-change A's threads", async () => {
    const before = await rowsOf('user-a');
    for (const action of ['hide', 'unhide', 'archive', 'unarchive']) {
      const res = await as(B, 'POST', '/api/v1/threads/bulk', { action, threadIds: ['a1', 'a2', 'a3'] });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ updated: [], notFound: ['a1', 'a2', 'a3'] });
    }
    expect(await rowsOf('user-a')).toEqual(before);
  });

  it("creates B's own thread under the same id: no conflict that would reveal A's", async () => {
    const before = await rowsOf('user-a');
    const created = await as(B, 'POST', '/api/v1/threads', { threadId: 'a1', subject: 'mine' });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({
      userId: 'user-b',
      threadId: 'a1',
      subject: 'mine',
      hidden: false,
    });
    const upserted = await as(B, 'PUT', '/api/v1/threads/a2', { subject: 'mine too' });
    expect(upserted.statusCode).toBe(200);
    expect(upserted.json()).toMatchObject({
      userId: 'user-b',
      subject: 'mine too',
      hidden: false,
      systemGenerated: false,
    });
    const batch = await as(B, 'POST', '/api/v1/threads/batch', {
      threads: [{ threadId: 'a3', messageCount: 9 }],
    });
    expect(batch.json()).toMatchObject({ created: 1, updated: 0 });
    expect(await rowsOf('user-a')).toEqual(before);
    expect((await as(A, 'GET', '/api/v1/threads/a1')).json().subject).toBe(SECRET_SUBJECT);
    expect((await as(B, 'GET', '/api/v1/threads/a1')).json().subject).toBe('mine');
    expect((await as(B, 'GET', '/api/v1/threads')).json().items).toHaveLength(3);
  });

  it("cannot read, change, delete or link A's lead", async () => {
    const before = await rowsOf('user-a');
    expectProblem(await as(B, 'GET', `/api/v1/leads/${leadOfA}`), 404, 'LEAD_NOT_FOUND');
    expectProblem(await as(B, 'PATCH', `/api/v1/leads/${leadOfA}`, { name: 'x' }), 404, 'LEAD_NOT_FOUND');
    expectProblem(await as(B, 'DELETE', `/api/v1/leads/${leadOfA}`), 404, 'LEAD_NOT_FOUND');
    expectProblem(
      await as(B, 'POST', '/api/v1/threads', { threadId: 'b1', leadId: leadOfA }),
      404,
      'LEAD_NOT_FOUND',
    );
    expectProblem(await as(B, 'PUT', '/api/v1/threads/b2', { leadId: leadOfA }), 404, 'LEAD_NOT_FOUND');
    expectProblem(
      await as(B, 'POST', '/api/v1/threads/batch', { threads: [{ threadId: 'b3', leadId: leadOfA }] }),
      404,
      'LEAD_NOT_FOUND',
    );
    await as(B, 'POST', '/api/v1/threads', { threadId: 'b4' });
    expectProblem(await as(B, 'PATCH', '/api/v1/threads/b4', { leadId: leadOfA }), 404, 'LEAD_NOT_FOUND');
    expect(await rowsOf('user-a')).toEqual(before);
    const ofB = await rowsOf('user-b');
    expect(ofB.threads.map((r) => [r.thread_id, r.lead_id])).toEqual([['b4', null]]);
  });
});
