// Leads, for the lead column, the lead filter and the thread page. Loaded once per session (a person has
// hundreds, not millions); a lead not in the first pages is fetched on its own when a thread points to it.
import { createStore } from 'zustand/vanilla';
import { ApiError, errorMessage } from '../api/http.ts';
import type { LeadsApi } from '../api/leads-api.ts';
import type { Lead } from '../api/types.ts';

const PAGE = 500;
const MAX_PAGES = 10;

export interface LeadsState {
  byId: Record<string, Lead>;
  /** Leads asked for by id that do not exist (deleted). */
  missing: Record<string, true>;
  status: 'idle' | 'loading' | 'ready' | 'error';
  error: string | null;
  loadAll(): Promise<void>;
  ensure(leadId: string): Promise<void>;
}

export function createLeadsStore({ api }: { api: LeadsApi }) {
  const inFlight = new Set<string>();
  return createStore<LeadsState>()((set, get) => ({
    byId: {},
    missing: {},
    status: 'idle',
    error: null,

    async loadAll() {
      if (get().status === 'loading' || get().status === 'ready') return;
      set({ status: 'loading', error: null });
      try {
        const found: Record<string, Lead> = {};
        let afterId: string | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const { items } = await api.list({ limit: PAGE, ...(afterId ? { afterId } : {}) });
          for (const lead of items) found[lead.id] = lead;
          if (items.length < PAGE) break;
          afterId = items.at(-1)?.id;
        }
        set((s) => ({ byId: { ...s.byId, ...found }, status: 'ready' }));
      } catch (error) {
        set({ status: 'error', error: errorMessage(error) });
      }
    },

    async ensure(leadId) {
      const state = get();
      if (state.byId[leadId] || state.missing[leadId] || inFlight.has(leadId)) return;
      inFlight.add(leadId);
      try {
        const lead = await api.get(leadId);
        set((s) => ({ byId: { ...s.byId, [lead.id]: lead } }));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          set((s) => ({ missing: { ...s.missing, [leadId]: true } }));
        }
      } finally {
        inFlight.delete(leadId);
      }
    },
  }));
}

export type LeadsStore = ReturnType<typeof createLeadsStore>;

export function leadName(lead: Lead | undefined): string {
  if (!lead) return '';
  return lead.name || lead.company || lead.email || 'Unnamed lead';
}
