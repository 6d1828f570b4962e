// Connected mail accounts and their sync state. Sync and removal are optimistic and roll back when refused.
import { createStore } from 'zustand/vanilla';
import type { AccountsApi } from '../api/accounts-api.ts';
import { ApiError, errorMessage, type FieldError } from '../api/http.ts';
import type { Account, ImapAccountInput } from '../api/types.ts';
import type { Notify } from './notices-store.ts';

export interface AccountsState {
  /** 'unavailable' = this server has no account routes yet. */
  status: 'idle' | 'loading' | 'ready' | 'error' | 'unavailable';
  items: Account[];
  error: string | null;
  load(options?: { quiet?: boolean }): Promise<void>;
  /** The URL to send the browser to for Google's consent screen, or null when refused. */
  connectGmail(): Promise<string | null>;
  addImap(
    input: ImapAccountInput,
  ): Promise<{ ok: true } | { ok: false; message: string; fields: FieldError[] }>;
  sync(accountId: string): Promise<void>;
  remove(accountId: string): Promise<void>;
}

export function createAccountsStore({ api, notify }: { api: AccountsApi; notify?: Notify }) {
  const say: Notify = notify ?? (() => 0);
  return createStore<AccountsState>()((set, get) => ({
    status: 'idle',
    items: [],
    error: null,

    async load(options = {}) {
      if (!options.quiet) set((s) => ({ status: s.status === 'ready' ? 'ready' : 'loading', error: null }));
      try {
        const { items } = await api.list();
        set({ status: 'ready', items, error: null });
      } catch (error) {
        if (error instanceof ApiError && error.routeMissing) set({ status: 'unavailable', items: [] });
        else if (!options.quiet) set({ status: 'error', error: errorMessage(error) });
      }
    },

    async connectGmail() {
      try {
        const { url } = await api.connectGmail();
        return url;
      } catch (error) {
        say({ kind: 'error', message: `Could not start connecting Gmail: ${errorMessage(error)}` });
        return null;
      }
    },

    async addImap(input) {
      try {
        const account = await api.addImap(input);
        set((s) => ({ items: [...s.items.filter((a) => a.id !== account.id), account] }));
        say({ kind: 'success', message: `Added ${account.email}` });
        return { ok: true };
      } catch (error) {
        const fields = error instanceof ApiError ? error.fieldErrors : [];
        return { ok: false, message: errorMessage(error), fields };
      }
    },

    async sync(accountId) {
      const before = get().items.find((a) => a.id === accountId);
      if (!before) return;
      set((s) => ({ items: s.items.map((a) => (a.id === accountId ? { ...a, status: 'syncing' } : a)) }));
      try {
        await api.sync(accountId);
      } catch (error) {
        set((s) => ({
          items: s.items.map((a) =>
            a.id === accountId && a.status === 'syncing' ? { ...a, status: before.status } : a,
          ),
        }));
        say({ kind: 'error', message: `Could not sync ${before.email}: ${errorMessage(error)}` });
      }
    },

    async remove(accountId) {
      const index = get().items.findIndex((a) => a.id === accountId);
      const before = get().items[index];
      if (!before) return;
      set((s) => ({ items: s.items.filter((a) => a.id !== accountId) }));
      try {
        await api.remove(accountId);
        say({ kind: 'success', message: `Removed ${before.email}` });
      } catch (error) {
        set((s) => {
          const items = [...s.items];
          items.splice(Math.min(index, items.length), 0, before);
          return { items };
        });
        say({ kind: 'error', message: `Could not remove ${before.email}: ${errorMessage(error)}` });
      }
    },
  }));
}

export type AccountsStore = ReturnType<typeof createAccountsStore>;
