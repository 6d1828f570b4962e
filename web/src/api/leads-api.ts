import type { HttpClient } from './http.ts';
import type { Lead } from './types.ts';

export function createLeadsApi(http: HttpClient) {
  return {
    list: (query: { q?: string; limit?: number; afterId?: string } = {}, signal?: AbortSignal) =>
      http.get<{ items: Lead[] }>('/leads', { query, signal }),
    get: (leadId: string, signal?: AbortSignal) =>
      http.get<Lead>(`/leads/${encodeURIComponent(leadId)}`, { signal }),
  };
}

export type LeadsApi = ReturnType<typeof createLeadsApi>;
