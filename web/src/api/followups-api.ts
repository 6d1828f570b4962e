import type { HttpClient } from './http.ts';
import type { ScheduledFollowup } from './types.ts';

export function createFollowupsApi(http: HttpClient) {
  return {
    list: (signal?: AbortSignal) => http.get<{ items: ScheduledFollowup[] }>('/followups', { signal }),
  };
}

export type FollowupsApi = ReturnType<typeof createFollowupsApi>;
