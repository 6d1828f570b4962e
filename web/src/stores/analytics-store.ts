import { createStore } from 'zustand/vanilla';
import type { AnalyticsApi } from '../api/analytics-api.ts';
import { errorMessage, isAbort } from '../api/http.ts';
import type { AnalyticsQuery, ThreadAnalytics } from '../api/types.ts';

export interface AnalyticsState {
  query: AnalyticsQuery | null;
  status: 'idle' | 'loading' | 'ready' | 'error';
  data: ThreadAnalytics | null;
  error: string | null;
  load(query: AnalyticsQuery): Promise<void>;
}

export function createAnalyticsStore({ api }: { api: AnalyticsApi }) {
  let seq = 0;
  let abort: AbortController | null = null;
  return createStore<AnalyticsState>()((set) => ({
    query: null,
    status: 'idle',
    data: null,
    error: null,
    async load(query) {
      const mine = ++seq;
      abort?.abort();
      abort = new AbortController();
      // Previous figures stay on screen (dimmed) while the new range loads.
      set({ query, status: 'loading', error: null });
      try {
        const data = await api.get(query, abort.signal);
        if (mine !== seq) return;
        set({ status: 'ready', data });
      } catch (error) {
        if (mine !== seq || isAbort(error)) return;
        set({ status: 'error', error: errorMessage(error) });
      }
    },
  }));
}

export type AnalyticsStore = ReturnType<typeof createAnalyticsStore>;
