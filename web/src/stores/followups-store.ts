// The follow-up schedule (the followup_schedule view): what will be sent, when, and why.
import { createStore } from 'zustand/vanilla';
import type { FollowupsApi } from '../api/followups-api.ts';
import { ApiError, errorMessage } from '../api/http.ts';
import type { ScheduledFollowup } from '../api/types.ts';

export interface FollowupsState {
  /** 'unavailable' = this server has no follow-up schedule route yet. */
  status: 'idle' | 'loading' | 'ready' | 'error' | 'unavailable';
  items: ScheduledFollowup[];
  error: string | null;
  load(): Promise<void>;
}

export function createFollowupsStore({ api }: { api: FollowupsApi }) {
  let seq = 0;
  return createStore<FollowupsState>()((set) => ({
    status: 'idle',
    items: [],
    error: null,
    async load() {
      const mine = ++seq;
      set((s) => ({ status: s.status === 'ready' ? 'ready' : 'loading', error: null }));
      try {
        const { items } = await api.list();
        if (mine !== seq) return;
        const sorted = [...items].sort((a, b) => Date.parse(a.scheduledAt) - Date.parse(b.scheduledAt));
        set({ status: 'ready', items: sorted, error: null });
      } catch (error) {
        if (mine !== seq) return;
        if (error instanceof ApiError && error.routeMissing) set({ status: 'unavailable', items: [] });
        else set({ status: 'error', error: errorMessage(error) });
      }
    },
  }));
}

export type FollowupsStore = ReturnType<typeof createFollowupsStore>;
