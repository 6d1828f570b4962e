import { describe, expect, it, vi } from 'vitest';
import { ApiError, createHttpClient, errorMessage } from './http.ts';

const problem = (status: number, body: object) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json' } });

describe('http client', () => {
  it('turns problem+json into an ApiError carrying code, detail and field errors', async () => {
    const fetch = vi.fn(async () =>
      problem(400, {
        title: 'Bad Request',
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'The body is not valid',
        errors: [{ path: 'body.scheduledAt', message: 'must be a date-time' }],
      }),
    );
    const http = createHttpClient({ fetch });
    const error = await http.put('/threads/a/followup', { scheduledAt: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', message: 'The body is not valid' });
    expect(errorMessage(error)).toBe('The body is not valid (scheduledAt must be a date-time)');
  });

  it('tells a missing route from a missing row', async () => {
    const http = createHttpClient({
      fetch: vi
        .fn()
        .mockResolvedValueOnce(
          problem(404, { code: 'NOT_FOUND', detail: 'No route for GET /api/v1/followups' }),
        )
        .mockResolvedValueOnce(problem(404, { code: 'THREAD_NOT_FOUND', detail: 'No thread x' })),
    });
    expect(((await http.get('/followups').catch((e) => e)) as ApiError).routeMissing).toBe(true);
    expect(((await http.get('/threads/x').catch((e) => e)) as ApiError).routeMissing).toBe(false);
  });

  it('gives a sentence for errors without a body', async () => {
    const http = createHttpClient({ fetch: vi.fn(async () => new Response('oops', { status: 502 })) });
    expect(errorMessage(await http.get('/threads').catch((e) => e))).toBe(
      'The server failed to answer (HTTP 502). Try again.',
    );
  });

  it('retries a mutation after a network failure with the same idempotency key', async () => {
    const fetch = vi
      .fn()
      .mockRejectedValueOnce(new TypeError('Failed to fetch'))
      .mockResolvedValueOnce(new Response(JSON.stringify({ ok: true }), { status: 200 }));
    const http = createHttpClient({ fetch, retryDelayMs: 1 });
    expect(await http.post('/threads/a/hide')).toEqual({ ok: true });
    const keys = fetch.mock.calls.map(
      ([, init]) => (init as RequestInit & { headers: Record<string, string> }).headers['idempotency-key'],
    );
    expect(keys).toHaveLength(2);
    expect(keys[0]).toBeTruthy();
    expect(keys[1]).toBe(keys[0]);
    const init = fetch.mock.calls[0]![1] as RequestInit;
    expect(init.body).toBe('{}');
  });

  it('sends the token, refreshes it once on 401 and replays the request', async () => {
    let token = 'old';
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(problem(401, { code: 'UNAUTHENTICATED', detail: 'Token expired' }))
      .mockResolvedValueOnce(new Response('{"userId":"me"}', { status: 200 }));
    const onUnauthorized = vi.fn();
    const http = createHttpClient({
      fetch,
      getToken: () => token,
      refreshToken: async () => {
        token = 'new';
        return true;
      },
      onUnauthorized,
    });
    expect(await http.get('/me')).toEqual({ userId: 'me' });
    const auth = fetch.mock.calls.map(
      ([, init]) => (init as { headers: Record<string, string> }).headers.authorization,
    );
    expect(auth).toEqual(['Bearer old', 'Bearer new']);
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it('signs out when the token is refused and cannot be refreshed', async () => {
    const onUnauthorized = vi.fn();
    const http = createHttpClient({
      fetch: vi.fn(async () => problem(401, { code: 'UNAUTHENTICATED', detail: 'Bad token' })),
      getToken: () => 't',
      onUnauthorized,
    });
    await expect(http.get('/threads')).rejects.toThrow('Bad token');
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('encodes the query, leaving out empty values', async () => {
    const fetch = vi.fn(
      async (_url: string) => new Response('{"items":[],"nextCursor":null}', { status: 200 }),
    );
    const http = createHttpClient({
      fetch: fetch as unknown as typeof globalThis.fetch,
      baseUrl: 'http://api.test',
    });
    await http.get('/threads', { query: { q: 'a b', hidden: false, cursor: undefined, leadId: '' } });
    expect(fetch.mock.calls[0]![0]).toBe('http://api.test/api/v1/threads?q=a+b&hidden=false');
  });
});
