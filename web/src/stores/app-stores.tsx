// Every store of the app, built fresh by one factory and handed down through React context: each test and each
// mounted app gets its own state (no module-level singletons).
import { createContext, type ReactNode, useContext } from 'react';
import { useStore } from 'zustand';
import { type Api, createApi } from '../api/index.ts';
import { type AccountsState, type AccountsStore, createAccountsStore } from './accounts-store.ts';
import { type AnalyticsState, type AnalyticsStore, createAnalyticsStore } from './analytics-store.ts';
import { createFollowupsStore, type FollowupsState, type FollowupsStore } from './followups-store.ts';
import { createLeadsStore, type LeadsState, type LeadsStore } from './leads-store.ts';
import { createNoticesStore, type NoticesState, type NoticesStore } from './notices-store.ts';
import {
  createSessionStore,
  type KeyValueStorage,
  type SessionState,
  type SessionStore,
} from './session-store.ts';
import { createThreadsStore, type ThreadsState, type ThreadsStore } from './threads-store.ts';

export interface AppStores {
  api: Api;
  session: SessionStore;
  threads: ThreadsStore;
  leads: LeadsStore;
  followups: FollowupsStore;
  analytics: AnalyticsStore;
  accounts: AccountsStore;
  notices: NoticesStore;
}

export interface AppStoresOptions {
  /** Replace the API (tests pass fakes); by default one is built over fetch with the session's token. */
  api?: Partial<Api>;
  storage?: KeyValueStorage;
  fetch?: typeof fetch;
}

export function createAppStores(options: AppStoresOptions = {}): AppStores {
  // The HTTP client reads the token from the session store, which is built with that client: bind late.
  let session: SessionStore | undefined;
  const real = createApi({
    getToken: () => session?.getState().token ?? null,
    refreshToken: () => session?.getState().refresh() ?? Promise.resolve(false),
    onUnauthorized: () => session?.getState().signOut('Your session has ended. Sign in again.'),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const api: Api = { ...real, ...options.api };
  session = createSessionStore({
    system: api.system,
    ...(options.storage ? { storage: options.storage } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const notices = createNoticesStore();
  const notify = notices.getState().push;
  return {
    api,
    session,
    notices,
    threads: createThreadsStore({ api: api.threads, notify }),
    leads: createLeadsStore({ api: api.leads }),
    followups: createFollowupsStore({ api: api.followups }),
    analytics: createAnalyticsStore({ api: api.analytics }),
    accounts: createAccountsStore({ api: api.accounts, notify }),
  };
}

const StoresContext = createContext<AppStores | null>(null);

export function StoresProvider({ stores, children }: { stores: AppStores; children: ReactNode }) {
  return <StoresContext.Provider value={stores}>{children}</StoresContext.Provider>;
}

export function useStores(): AppStores {
  const stores = useContext(StoresContext);
  if (!stores) throw new Error('useStores() needs a <StoresProvider> above it');
  return stores;
}

export function useSession<T>(selector: (state: SessionState) => T): T {
  return useStore(useStores().session, selector);
}
export function useThreads<T>(selector: (state: ThreadsState) => T): T {
  return useStore(useStores().threads, selector);
}
export function useLeads<T>(selector: (state: LeadsState) => T): T {
  return useStore(useStores().leads, selector);
}
export function useFollowups<T>(selector: (state: FollowupsState) => T): T {
  return useStore(useStores().followups, selector);
}
export function useAnalytics<T>(selector: (state: AnalyticsState) => T): T {
  return useStore(useStores().analytics, selector);
}
export function useAccounts<T>(selector: (state: AccountsState) => T): T {
  return useStore(useStores().accounts, selector);
}
export function useNotices<T>(selector: (state: NoticesState) => T): T {
  return useStore(useStores().notices, selector);
}
