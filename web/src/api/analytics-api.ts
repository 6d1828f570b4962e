import type { HttpClient } from './http.ts';
import type { AnalyticsQuery, ThreadAnalytics } from './types.ts';

export function createAnalyticsApi(http: HttpClient) {
  return {
    get: (query: AnalyticsQuery, signal?: AbortSignal) =>
      http.get<ThreadAnalytics>('/analytics', { query: { ...query }, signal }),
  };
}

export type AnalyticsApi = ReturnType<typeof createAnalyticsApi>;
