import type { HttpClient } from './http.ts';
import type {
  BulkAction,
  BulkResult,
  FollowupPreview,
  LiveThreadEvent,
  Thread,
  ThreadListQuery,
  ThreadPage,
} from './types.ts';

const path = (threadId: string) => `/threads/${encodeURIComponent(threadId)}`;

export interface MutationOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export function createThreadsApi(http: HttpClient) {
  return {
    list: (query: ThreadListQuery, signal?: AbortSignal) =>
      http.get<ThreadPage>('/threads', { query: { ...query }, signal }),
    get: (threadId: string, signal?: AbortSignal) => http.get<Thread>(path(threadId), { signal }),
    hide: (threadId: string, opts?: MutationOptions) => http.post<Thread>(`${path(threadId)}/hide`, {}, opts),
    unhide: (threadId: string, opts?: MutationOptions) =>
      http.post<Thread>(`${path(threadId)}/unhide`, {}, opts),
    archive: (threadId: string, opts?: MutationOptions) =>
      http.post<Thread>(`${path(threadId)}/archive`, {}, opts),
    unarchive: (threadId: string, opts?: MutationOptions) =>
      http.post<Thread>(`${path(threadId)}/unarchive`, {}, opts),
    bulk: (action: BulkAction, threadIds: string[], opts?: MutationOptions) =>
      http.post<BulkResult>('/threads/bulk', { action, threadIds }, opts),
    scheduleFollowup: (threadId: string, scheduledAt: string, opts?: MutationOptions) =>
      http.put<Thread>(`${path(threadId)}/followup`, { scheduledAt }, opts),
    cancelFollowup: (threadId: string, opts?: MutationOptions) =>
      http.delete<Thread>(`${path(threadId)}/followup`, opts),
    previewFollowup: (threadId: string, opts?: MutationOptions) =>
      http.post<FollowupPreview>(`${path(threadId)}/followup/preview`, {}, opts),
    events: (threadId: string, afterId?: string, signal?: AbortSignal) =>
      http.get<{ items: LiveThreadEvent[] }>(`${path(threadId)}/events`, {
        query: { afterId, limit: 500 },
        signal,
      }),
  };
}

export type ThreadsApi = ReturnType<typeof createThreadsApi>;
