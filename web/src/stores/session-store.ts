// Who is using the app and how they are signed in. Local mode needs no sign-in; jwt mode keeps the access token in
// localStorage (and Supabase's refresh token, to renew it without asking again).
import { createStore } from 'zustand/vanilla';
import { ApiError, errorMessage } from '../api/http.ts';
import { refreshSession, type SupabaseSession, signInWithPassword } from '../api/supabase-auth.ts';
import type { SystemApi } from '../api/system-api.ts';
import type { Me, PublicConfig } from '../api/types.ts';

export const TOKEN_KEY = 'thread-tracker.token';
export const REFRESH_KEY = 'thread-tracker.refresh-token';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function browserStorage(): KeyValueStorage {
  try {
    const storage = globalThis.localStorage;
    storage.getItem(TOKEN_KEY);
    return storage;
  } catch {
    // Storage can be disabled (privacy settings): keep the session for this tab only.
    const memory = new Map<string, string>();
    return {
      getItem: (key) => memory.get(key) ?? null,
      setItem: (key, value) => void memory.set(key, value),
      removeItem: (key) => void memory.delete(key),
    };
  }
}

export interface SessionState {
  phase: 'booting' | 'signed-out' | 'ready' | 'error';
  config: PublicConfig | null;
  me: Me | null;
  token: string | null;
  /** Why the user is looking at the sign-in screen (expired session), or why booting failed. */
  notice: string | null;
  signInError: string | null;
  signingIn: boolean;
  boot(): Promise<void>;
  signInWithToken(token: string): Promise<boolean>;
  signInWithPassword(email: string, password: string): Promise<boolean>;
  signOut(reason?: string): void;
  /** Renews the access token with the stored refresh token; true when a new token is in place. */
  refresh(): Promise<boolean>;
}

export interface SessionDeps {
  system: SystemApi;
  storage?: KeyValueStorage;
  fetch?: typeof fetch;
}

export function createSessionStore({ system, storage = browserStorage(), fetch: fetchImpl }: SessionDeps) {
  let refreshing: Promise<boolean> | null = null;

  return createStore<SessionState>()((set, get) => {
    function supabaseConfig() {
      const config = get().config;
      return config?.supabaseUrl && config.supabaseAnonKey
        ? { supabaseUrl: config.supabaseUrl, supabaseAnonKey: config.supabaseAnonKey }
        : null;
    }

    async function adopt(token: string, refreshToken: string | null): Promise<boolean> {
      const previous = get().token;
      set({ token, signingIn: true, signInError: null });
      try {
        const me = await system.me();
        storage.setItem(TOKEN_KEY, token);
        if (refreshToken) storage.setItem(REFRESH_KEY, refreshToken);
        else storage.removeItem(REFRESH_KEY);
        set({ me, phase: 'ready', signingIn: false, notice: null });
        return true;
      } catch (error) {
        const message =
          error instanceof ApiError && error.status === 401
            ? `That token was not accepted: ${error.message}`
            : errorMessage(error);
        set({ token: previous, signingIn: false, signInError: message, phase: 'signed-out' });
        return false;
      }
    }

    return {
      phase: 'booting',
      config: null,
      me: null,
      token: storage.getItem(TOKEN_KEY),
      notice: null,
      signInError: null,
      signingIn: false,

      async boot() {
        set({ phase: 'booting', notice: null });
        let config: PublicConfig;
        try {
          config = await system.config();
        } catch (error) {
          // A server without /api/config predates jwt sign-in settings: /me below says which mode it runs.
          if (error instanceof ApiError && error.routeMissing) config = { authMode: 'local' };
          else {
            set({ phase: 'error', notice: errorMessage(error) });
            return;
          }
        }
        set({ config });
        if (config.authMode === 'jwt' && !get().token) {
          set({ phase: 'signed-out' });
          return;
        }
        try {
          const me = await system.me();
          set({ me, phase: 'ready', config: { ...config, authMode: me.authMode } });
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) {
            if (await get().refresh()) return get().boot();
            storage.removeItem(TOKEN_KEY);
            set({
              phase: 'signed-out',
              token: null,
              config: { ...config, authMode: 'jwt' },
              notice: get().token ? 'Your session has ended. Sign in again.' : null,
            });
          } else {
            set({ phase: 'error', notice: errorMessage(error) });
          }
        }
      },

      signInWithToken(token) {
        const trimmed = token.trim().replace(/^Bearer\s+/i, '');
        if (!trimmed) {
          set({ signInError: 'Paste an access token first.' });
          return Promise.resolve(false);
        }
        return adopt(trimmed, null);
      },

      async signInWithPassword(email, password) {
        const supabase = supabaseConfig();
        if (!supabase) {
          set({ signInError: 'Email sign-in is not configured on this server.' });
          return false;
        }
        set({ signingIn: true, signInError: null });
        let session: SupabaseSession;
        try {
          session = await signInWithPassword(supabase, email, password, fetchImpl);
        } catch (error) {
          set({ signingIn: false, signInError: errorMessage(error) });
          return false;
        }
        return adopt(session.accessToken, session.refreshToken);
      },

      signOut(reason) {
        storage.removeItem(TOKEN_KEY);
        storage.removeItem(REFRESH_KEY);
        const wasReady = get().phase === 'ready';
        set({
          token: null,
          me: null,
          phase: 'signed-out',
          notice: reason && wasReady ? reason : null,
          signingIn: false,
        });
      },

      refresh() {
        if (refreshing) return refreshing;
        const supabase = supabaseConfig();
        const refreshToken = storage.getItem(REFRESH_KEY);
        if (!supabase || !refreshToken) return Promise.resolve(false);
        refreshing = refreshSession(supabase, refreshToken, fetchImpl)
          .then((session) => {
            storage.setItem(TOKEN_KEY, session.accessToken);
            if (session.refreshToken) storage.setItem(REFRESH_KEY, session.refreshToken);
            set({ token: session.accessToken });
            return true;
          })
          .catch(() => false)
          .finally(() => {
            refreshing = null;
          });
        return refreshing;
      },
    };
  });
}

export type SessionStore = ReturnType<typeof createSessionStore>;
