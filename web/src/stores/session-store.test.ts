// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/http.ts';
import { fakeApi } from '../testing/fixtures.ts';
import { createSessionStore, type KeyValueStorage, REFRESH_KEY, TOKEN_KEY } from './session-store.ts';

function memoryStorage(
  initial: Record<string, string> = {},
): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

const unauthorized = () =>
  new ApiError({ status: 401, code: 'UNAUTHENTICATED', message: 'invalid signature' });

describe('session store', () => {
  it('needs no sign-in in local mode', async () => {
    const api = fakeApi();
    const session = createSessionStore({ system: api.system, storage: memoryStorage() });
    await session.getState().boot();
    expect(session.getState()).toMatchObject({ phase: 'ready', me: { userId: 'me' } });
  });

  it('asks for a sign-in in jwt mode without a token, and keeps an accepted token', async () => {
    const api = fakeApi();
    api.system.config.mockResolvedValue({ authMode: 'jwt' });
    const storage = memoryStorage();
    const session = createSessionStore({ system: api.system, storage });
    await session.getState().boot();
    expect(session.getState().phase).toBe('signed-out');
    expect(api.system.me).not.toHaveBeenCalled();

    api.system.me.mockRejectedValueOnce(unauthorized());
    expect(await session.getState().signInWithToken('bad')).toBe(false);
    expect(session.getState().signInError).toBe('That token was not accepted: invalid signature');
    expect(storage.data.has(TOKEN_KEY)).toBe(false);

    api.system.me.mockResolvedValueOnce({ userId: 'alice', admin: false, authMode: 'jwt' });
    expect(await session.getState().signInWithToken('Bearer good.token')).toBe(true);
    expect(session.getState()).toMatchObject({
      phase: 'ready',
      token: 'good.token',
      me: { userId: 'alice' },
    });
    expect(storage.data.get(TOKEN_KEY)).toBe('good.token');
  });

  it('signs in through Supabase Auth with email and password', async () => {
    const api = fakeApi();
    api.system.config.mockResolvedValue({
      authMode: 'jwt',
      supabaseUrl: 'https://x.supabase.co',
      supabaseAnonKey: 'anon',
    });
    api.system.me.mockResolvedValue({ userId: 'u1', admin: false, authMode: 'jwt' });
    const fetch = vi.fn(
      async () =>
        new Response(JSON.stringify({ access_token: 'jwt-1', refresh_token: 'r-1', expires_in: 3600 }), {
          status: 200,
        }),
    );
    const storage = memoryStorage();
    const session = createSessionStore({ system: api.system, storage, fetch });
    await session.getState().boot();
    expect(await session.getState().signInWithPassword('a@b.c', 'pw')).toBe(true);
    const [url, init] = fetch.mock.calls[0] as unknown as [
      string,
      RequestInit & { headers: Record<string, string> },
    ];
    expect(url).toBe('https://x.supabase.co/auth/v1/token?grant_type=password');
    expect(init.headers.apikey).toBe('anon');
    expect(JSON.parse(String(init.body))).toEqual({ email: 'a@b.c', password: 'pw' });
    expect(storage.data.get(TOKEN_KEY)).toBe('jwt-1');
    expect(storage.data.get(REFRESH_KEY)).toBe('r-1');
  });

  it('shows Supabase’s reason when the password is wrong', async () => {
    const api = fakeApi();
    api.system.config.mockResolvedValue({
      authMode: 'jwt',
      supabaseUrl: 'https://x.supabase.co',
      supabaseAnonKey: 'anon',
    });
    const fetch = vi.fn(
      async () =>
        new Response(
          JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid login credentials' }),
          {
            status: 400,
          },
        ),
    );
    const session = createSessionStore({ system: api.system, storage: memoryStorage(), fetch });
    await session.getState().boot();
    expect(await session.getState().signInWithPassword('a@b.c', 'nope')).toBe(false);
    expect(session.getState().signInError).toBe('Sign-in failed: Invalid login credentials');
  });

  it('drops a stored token the server no longer accepts', async () => {
    const api = fakeApi();
    api.system.config.mockResolvedValue({ authMode: 'jwt' });
    api.system.me.mockRejectedValue(unauthorized());
    const storage = memoryStorage({ [TOKEN_KEY]: 'expired' });
    const session = createSessionStore({ system: api.system, storage });
    await session.getState().boot();
    expect(session.getState()).toMatchObject({ phase: 'signed-out', token: null });
    expect(session.getState().notice).toContain('Sign in again');
    expect(storage.data.has(TOKEN_KEY)).toBe(false);
  });

  it('treats a server without /api/config as local and asks /me', async () => {
    const api = fakeApi();
    api.system.config.mockRejectedValue(
      new ApiError({ status: 404, code: 'NOT_FOUND', message: 'No route' }),
    );
    const session = createSessionStore({ system: api.system, storage: memoryStorage() });
    await session.getState().boot();
    expect(session.getState().phase).toBe('ready');
  });
});
