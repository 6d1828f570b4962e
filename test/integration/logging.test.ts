/**
 * Operational logging, read from what the logger actually writes: every line of a request carries its id, one
 * completion line per request, 4xx at warn and 5xx at error (stack in the log, never in the response), secrets
 * never in the output at any depth, and LOG_LEVEL=warn keeping info lines out.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JwtAuthenticator, mintToken } from '../../src/api/auth/authenticator.ts';
import { buildApp } from '../../src/api/build-app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { memoryLog } from '../support/observability.ts';
import { createTestApp, TEST_JWT_SECRET, type TestApp } from '../support/test-app.ts';

const ISSUER = 'thread-tracker-test';
const AUDIENCE = 'thread-tracker';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const authenticator = new JwtAuthenticator({
  secret: TEST_JWT_SECRET,
  algorithms: ['HS256'],
  issuer: ISSUER,
  audience: AUDIENCE,
  adminClaim: 'role',
  adminValue: 'admin',
});

/** A route that fails the way a bug does: a plain Error with internals in its message. */
async function brokenRoutes(api: FastifyInstance): Promise<void> {
  api.get('/broken', async () => {
    throw new Error('kaboom: internal detail /srv/secret-path');
  });
}

let t: TestApp;
let bearer: string;
const info = memoryLog();
const warnOnly = memoryLog();
let app: FastifyInstance;
let quietApp: FastifyInstance;

const build = (logger: ReturnType<typeof createLogger>) =>
  buildApp({
    service: t.service,
    leads: t.leads,
    health: t.health,
    authenticator,
    logger,
    apiPlugins: [brokenRoutes],
  });

beforeAll(async () => {
  t = await createTestApp();
  bearer = `Bearer ${await mintToken({ secret: TEST_JWT_SECRET, userId: 'logger-user', issuer: ISSUER, audience: AUDIENCE })}`;
  app = await build(createLogger({ level: 'info', format: 'json', destination: info.destination }));
  const quiet = loadConfig({ LOG_LEVEL: 'warn' });
  quietApp = await build(
    createLogger({ level: quiet.LOG_LEVEL, format: 'json', destination: warnOnly.destination }),
  );
  await app.ready();
  await quietApp.ready();
});
afterAll(async () => {
  await app?.close();
  await quietApp?.close();
  await t?.close();
});
beforeEach(async () => {
  await t.reset();
  info.clear();
  warnOnly.clear();
});

describe('request ids', () => {
  it('echoes a valid X-Request-Id and puts it on every line of that request', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/threads',
      headers: { authorization: bearer, 'x-request-id': 'my-req-1' },
      payload: { threadId: 'x', unknownField: true },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['x-request-id']).toBe('my-req-1');
    const lines = info.lines();
    // The refusal at warn and the completion line, both of this request and nothing else.
    expect(lines.map((l) => l.msg)).toEqual(['request refused', 'request completed']);
    for (const line of lines) expect(line.reqId).toBe('my-req-1');
  });

  it.each([
    ['200 characters', 'a'.repeat(200)],
    ['a space', 'my req'],
    ['a quote and angle brackets', '"><script>'],
  ])('replaces an id with %s by a generated UUID', async (_label, given) => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/threads/nope',
      headers: { authorization: bearer, 'x-request-id': given },
    });
    expect(res.statusCode).toBe(404);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(UUID);
    expect(JSON.parse(res.body).requestId ?? id).toBe(id);
    const lines = info.lines();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.reqId).toBe(id);
    expect(info.text()).not.toContain(given);
  });

  it('gives each request without an id its own', async () => {
    const [a, b] = await Promise.all([
      app.inject({ method: 'GET', url: '/health' }),
      app.inject({ method: 'GET', url: '/health' }),
    ]);
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });
});

describe('one completion line per request', () => {
  it('writes exactly one "request completed" line with method, url without query, status and duration', async () => {
    const requests = [
      { id: 'list-1', method: 'GET' as const, url: '/api/v1/threads?limit=5&status=active', status: 200 },
      { id: 'missing-1', method: 'GET' as const, url: '/api/v1/threads/absent?x=1', status: 404 },
      { id: 'noroute-1', method: 'GET' as const, url: '/api/v1/no-such-route?q=secret', status: 404 },
      { id: 'create-1', method: 'POST' as const, url: '/api/v1/threads', status: 201 },
      { id: 'unauth-1', method: 'GET' as const, url: '/api/v1/me', status: 401 },
      { id: 'broken-1', method: 'GET' as const, url: '/api/v1/broken?debug=1', status: 500 },
    ];
    const responses = await Promise.all(
      requests.map((r) =>
        app.inject({
          method: r.method,
          url: r.url,
          headers: {
            'x-request-id': r.id,
            ...(r.id === 'unauth-1' ? {} : { authorization: bearer }),
          },
          ...(r.method === 'POST' ? { payload: { threadId: 'thread-log-1' } } : {}),
        }),
      ),
    );
    responses.forEach((res, i) => {
      expect(res.statusCode, res.body).toBe(requests[i]!.status);
    });
    const lines = info.lines();
    for (const r of requests) {
      const completed = lines.filter((l) => l.reqId === r.id && l.msg === 'request completed');
      expect(completed, r.id).toHaveLength(1);
      const line = completed[0]!;
      expect(line.method).toBe(r.method);
      expect(line.url).toBe(r.url.split('?')[0]);
      expect(line.statusCode).toBe(r.status);
      expect(typeof line.ms).toBe('number');
      expect(line.ms as number).toBeGreaterThanOrEqual(0);
    }
    // No query string anywhere in the output (it can carry search terms or tokens).
    expect(info.text()).not.toContain('q=secret');
    expect(info.text()).not.toContain('limit=5');
  });
});

describe('levels', () => {
  it('logs refused requests at warn with their code', async () => {
    const cases = [
      { id: 'w-validation', url: '/api/v1/threads?limit=0', auth: true, code: 'VALIDATION_FAILED' },
      { id: 'w-missing', url: '/api/v1/threads/absent', auth: true, code: 'THREAD_NOT_FOUND' },
      { id: 'w-unauth', url: '/api/v1/threads', auth: false, code: 'UNAUTHENTICATED' },
    ];
    for (const c of cases) {
      const res = await app.inject({
        method: 'GET',
        url: c.url,
        headers: { 'x-request-id': c.id, ...(c.auth ? { authorization: bearer } : {}) },
      });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      const refused = info.lines().filter((l) => l.reqId === c.id && l.msg === 'request refused');
      expect(refused, c.id).toHaveLength(1);
      expect(refused[0]!.level).toBe('warn');
      expect(refused[0]!.code).toBe(c.code);
      expect(info.lines().filter((l) => l.reqId === c.id && l.level === 'error')).toEqual([]);
    }
  });

  it('logs a 500 at error with the stack, and keeps the stack and message out of the response', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/broken',
      headers: { authorization: bearer, 'x-request-id': 'boom-1' },
    });
    expect(res.statusCode).toBe(500);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(body.code).toBe('INTERNAL');
    expect(res.body).not.toContain('kaboom');
    expect(res.body).not.toContain('secret-path');
    expect(res.body).not.toMatch(/\bat .+:\d+:\d+/);
    expect(res.body).not.toContain('logging.test');

    const errors = info.lines().filter((l) => l.reqId === 'boom-1' && l.level === 'error');
    expect(errors).toHaveLength(1);
    const err = errors[0]!.err as { message: string; stack: string };
    expect(err.message).toContain('kaboom');
    expect(err.stack).toContain('logging.test.ts');
    expect(info.lines().filter((l) => l.reqId === 'boom-1' && l.level === 'warn')).toEqual([]);
  });

  it('writes no info lines at LOG_LEVEL=warn, but still the warnings', async () => {
    const ok = await quietApp.inject({
      method: 'GET',
      url: '/api/v1/threads',
      headers: { authorization: bearer },
    });
    expect(ok.statusCode).toBe(200);
    await quietApp.inject({ method: 'GET', url: '/health' });
    expect(warnOnly.lines()).toEqual([]);

    const refused = await quietApp.inject({ method: 'GET', url: '/api/v1/threads' });
    expect(refused.statusCode).toBe(401);
    const lines = warnOnly.lines();
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['warn', 'request refused']]);

    quietApp.log.info({ note: 'info-line-marker' }, 'should not appear');
    expect(warnOnly.text()).not.toContain('info-line-marker');
  });
});

describe('secrets', () => {
  it('never writes the bearer token of a request, accepted or refused', async () => {
    const token = bearer.slice('Bearer '.length);
    const forged = `${token.slice(0, -4)}AAAA`;
    const accepted = await app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: bearer },
    });
    expect(accepted.statusCode).toBe(200);
    const refused = await app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(refused.statusCode).toBe(401);
    // Also when something logs the request headers itself.
    app.log.info({ headers: { authorization: bearer, Authorization: bearer } }, 'headers');
    app.log.info({ req: { headers: { authorization: bearer, cookie: 'session=cookie-value-1' } } }, 'req');

    const text = info.text();
    expect(text).toContain('request completed');
    const signature = token.split('.')[2]!;
    expect(text).not.toContain(signature);
    expect(text).not.toContain(forged.split('.')[2]!);
    expect(text).not.toContain('cookie-value-1');
  });

  it('redacts password, token, accessToken, refreshToken, secret and apiKey fields at any depth', () => {
    const values = {
      password: 'pw-top-1',
      token: 'tok-top-1',
      accessToken: 'at-top-1',
      refreshToken: 'rt-top-1',
      secret: 'sec-top-1',
      apiKey: 'key-top-1',
      access_token: 'at-snake-1',
      refresh_token: 'rt-snake-1',
    };
    app.log.info(values, 'top level');
    app.log.info({ account: values }, 'one level down');
    app.log.warn({ user: { mailbox: { oauth: values } } }, 'three levels down');
    app.log.info({ accounts: [{ id: 'a1', credentials: values }] }, 'inside an array');
    // An HTTP client error carries the request it made, headers included.
    const clientError = Object.assign(new Error('request to the mail provider failed'), {
      config: { url: 'https://mail.example/api', headers: { Authorization: 'Bearer header-secret-1' } },
      credentials: values,
    });
    app.log.error({ err: clientError }, 'mail provider failed');
    app.log.info({ nested: { err: clientError } }, 'error nested');

    const text = info.text();
    for (const value of [...Object.values(values), 'header-secret-1']) {
      expect(text, value).not.toContain(value);
    }
    // Redaction, not removal: the fields are still there, and everything else is intact.
    expect(text).toContain('[redacted]');
    const lines = info.lines();
    const top = lines.find((l) => l.msg === 'top level')!;
    expect(top.password).toBe('[redacted]');
    expect(lines.find((l) => l.msg === 'inside an array')!.accounts).toEqual([
      { id: 'a1', credentials: expect.objectContaining({ apiKey: '[redacted]' }) },
    ]);
    const failed = lines.find((l) => l.msg === 'mail provider failed')!;
    expect(failed.level).toBe('error');
    const err = failed.err as { message: string; stack: string; config: { url: string } };
    expect(err.message).toBe('request to the mail provider failed');
    expect(err.stack).toContain('logging.test.ts');
    expect(err.config.url).toBe('https://mail.example/api');
  });

  it('leaves the logged objects themselves untouched', () => {
    const credentials = { user: 'u', password: 'pw-untouched-1', nested: { token: 'tok-untouched-1' } };
    const logged = { credentials };
    app.log.info(logged, 'logged');
    expect(credentials.password).toBe('pw-untouched-1');
    expect(credentials.nested.token).toBe('tok-untouched-1');
    expect(logged.credentials).toBe(credentials);
    expect(info.text()).not.toContain('pw-untouched-1');
  });
});
