// Threads: one entity map (by threadId) shared by the list, the thread page and live updates, plus the state of the
// list being shown. Invariants:
// - `list.ids` is the server's order of the loaded pages; what is visible is `ids` filtered by `matchesFilters`, so
//   an optimistic change that takes a thread out of the view removes its row at once, and a rollback brings the
//   row back in its place without reloading.
// - A response for a list that is no longer the current one (filters changed meanwhile) is dropped.
// - While a mutation of a thread is in flight, refetches triggered by live events do not overwrite its optimistic
//   state; the mutation's own response (or rollback) settles it.
import { createStore } from 'zustand/vanilla';
import { ApiError, errorMessage, isAbort, newIdempotencyKey } from '../api/http.ts';
import type { ThreadsApi } from '../api/threads-api.ts';
import type { BulkAction, LiveThreadEvent, Thread } from '../api/types.ts';
import {
  compareThreads,
  DEFAULT_FILTERS,
  filtersKey,
  filtersToQuery,
  matchesFilters,
  type ThreadFilters,
} from '../lib/filters.ts';
import { compareEventIds, type LiveStatus } from '../lib/realtime.ts';
import type { Notify } from './notices-store.ts';

export const PAGE_SIZE = 100;
const MAX_PARALLEL_REFRESHES = 6;
/** The server refuses bulk requests over this many ids. */
export const BULK_LIMIT = 100;

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';

export interface ListState {
  key: string | null;
  filters: ThreadFilters;
  ids: string[];
  nextCursor: string | null;
  status: LoadStatus;
  error: string | null;
  loadingMore: boolean;
  loadMoreError: string | null;
  /** Where the list was scrolled to, so coming back from a thread lands in the same place. */
  scrollOffset: number;
}

export interface DetailState {
  status: 'loading' | 'ready' | 'missing' | 'error';
  error: string | null;
}

export interface TimelineState {
  status: LoadStatus;
  items: LiveThreadEvent[];
  error: string | null;
}

export type ThreadAction = 'hide' | 'unhide' | 'archive' | 'unarchive';

export interface ThreadsState {
  byId: Record<string, Thread>;
  list: ListState;
  selected: ReadonlySet<string>;
  details: Record<string, DetailState>;
  timelines: Record<string, TimelineState>;
  /** Mutations in flight per thread. */
  pending: Record<string, number>;
  lastEventId: string | null;
  liveStatus: LiveStatus | 'idle';

  loadList(filters: ThreadFilters, options?: { force?: boolean }): Promise<void>;
  loadMore(): Promise<void>;
  setScrollOffset(offset: number): void;
  loadThread(threadId: string): Promise<void>;
  loadTimeline(threadId: string): Promise<void>;
  runAction(threadId: string, action: ThreadAction): Promise<boolean>;
  bulk(action: BulkAction, threadIds: string[]): Promise<void>;
  scheduleFollowup(threadId: string, scheduledAt: string): Promise<boolean>;
  cancelFollowup(threadId: string): Promise<boolean>;
  applyEvent(event: LiveThreadEvent): void;
  setLiveStatus(status: LiveStatus | 'idle'): void;
  setLastEventId(id: string | null): void;
  toggleSelected(threadId: string): void;
  setSelected(threadIds: string[], selected: boolean): void;
  clearSelection(): void;
}

export interface ThreadsStoreDeps {
  api: ThreadsApi;
  notify?: Notify;
}

const ACTION_EFFECTS: Record<ThreadAction, (t: Thread, now: string) => Partial<Thread>> = {
  hide: (_t, now) => ({ hidden: true, hiddenAt: now }),
  unhide: () => ({ hidden: false, hiddenAt: null }),
  // Archiving takes the scheduled follow-up with it, as the server does.
  archive: (_t, now) => ({
    status: 'archived',
    archivedAt: now,
    followupScheduled: false,
    followupScheduledAt: null,
  }),
  unarchive: () => ({ status: 'active', archivedAt: null }),
};

const ACTION_UNDO: Record<ThreadAction, ThreadAction> = {
  hide: 'unhide',
  unhide: 'hide',
  archive: 'unarchive',
  unarchive: 'archive',
};

const ACTION_PAST: Record<ThreadAction, string> = {
  hide: 'Hidden',
  unhide: 'Unhidden',
  archive: 'Archived',
  unarchive: 'Moved back to active',
};

const ACTION_VERB: Record<ThreadAction, string> = {
  hide: 'hide',
  unhide: 'unhide',
  archive: 'archive',
  unarchive: 'unarchive',
};

function emptyList(filters: ThreadFilters = DEFAULT_FILTERS): ListState {
  return {
    key: null,
    filters,
    ids: [],
    nextCursor: null,
    status: 'idle',
    error: null,
    loadingMore: false,
    loadMoreError: null,
    scrollOffset: 0,
  };
}

/** Keeps the newer of two versions of a thread (updatedAt only grows per thread). */
function newer(current: Thread | undefined, incoming: Thread): Thread {
  if (!current) return incoming;
  return incoming.updatedAt >= current.updatedAt ? incoming : current;
}

function label(thread: Thread | undefined, threadId: string): string {
  const subject = thread?.subject?.trim();
  return subject ? `“${subject.length > 60 ? `${subject.slice(0, 57)}…` : subject}”` : `thread ${threadId}`;
}

/** Applies to `current` only the fields the optimistic change set, back to what they were. */
function revert(current: Thread, before: Thread, optimistic: Thread): Thread {
  const restored: Record<string, unknown> = { ...current };
  for (const key of Object.keys(optimistic) as (keyof Thread)[]) {
    if (optimistic[key] !== before[key] && current[key] === optimistic[key]) restored[key] = before[key];
  }
  return restored as unknown as Thread;
}

export function createThreadsStore({ api, notify }: ThreadsStoreDeps) {
  let listSeq = 0;
  let listAbort: AbortController | null = null;
  const refreshing = new Map<string, { running: boolean; again: boolean }>();
  const refreshQueue: string[] = [];
  let activeRefreshes = 0;

  return createStore<ThreadsState>()((set, get) => {
    const say: Notify = notify ?? (() => 0);

    function bumpPending(threadIds: string[], delta: number) {
      set((s) => {
        const pending = { ...s.pending };
        for (const id of threadIds) {
          const next = (pending[id] ?? 0) + delta;
          if (next > 0) pending[id] = next;
          else delete pending[id];
        }
        return { pending };
      });
    }

    /** Puts a thread at its sorted place in the loaded list, when it belongs there. */
    function placeInList(
      ids: string[],
      thread: Thread,
      byId: Record<string, Thread>,
      list: ListState,
    ): string[] {
      const { sort, order } = list.filters;
      const without = ids.includes(thread.threadId) ? ids.filter((id) => id !== thread.threadId) : ids;
      const index = without.findIndex((id) => {
        const other = byId[id];
        return other !== undefined && compareThreads(thread, other, sort, order) < 0;
      });
      // Past the last loaded row it belongs to a page not loaded yet, unless every page is loaded.
      if (index === -1) return list.nextCursor === null ? [...without, thread.threadId] : without;
      return [...without.slice(0, index), thread.threadId, ...without.slice(index)];
    }

    /** Takes the server's version of a thread into the store (from a refetch or a live event). */
    function acceptFromServer(thread: Thread) {
      set((s) => {
        const previous = s.byId[thread.threadId];
        const merged = newer(previous, thread);
        const byId = { ...s.byId, [thread.threadId]: merged };
        const list = s.list;
        let ids = list.ids;
        if (list.status === 'ready' || list.status === 'loading') {
          const listed = ids.includes(thread.threadId);
          const sortChanged =
            previous !== undefined && previous[list.filters.sort] !== merged[list.filters.sort];
          if ((!listed && matchesFilters(merged, list.filters)) || (listed && sortChanged)) {
            ids = placeInList(ids, merged, byId, list);
          }
        }
        return {
          byId,
          list: ids === list.ids ? list : { ...list, ids },
          details: { ...s.details, [thread.threadId]: { status: 'ready', error: null } },
        };
      });
    }

    function forget(threadId: string) {
      set((s) => {
        const { [threadId]: _gone, ...byId } = s.byId;
        const selected = new Set(s.selected);
        selected.delete(threadId);
        return {
          byId,
          selected,
          list: { ...s.list, ids: s.list.ids.filter((id) => id !== threadId) },
          details: { ...s.details, [threadId]: { status: 'missing', error: null } },
        };
      });
    }

    /**
     * Refetches threads named by live events. One request per thread at a time (events arriving meanwhile cause
     * one more fetch, not one each), and a few threads at once, so a burst of thousands of events (a first sync)
     * does not flood the server.
     */
    function refresh(threadId: string): void {
      const known = refreshing.get(threadId);
      if (known) {
        // Still waiting in the queue: its fetch will see this change too.
        if (known.running) known.again = true;
        return;
      }
      refreshing.set(threadId, { running: false, again: false });
      refreshQueue.push(threadId);
      pumpRefreshes();
    }

    function pumpRefreshes(): void {
      while (activeRefreshes < MAX_PARALLEL_REFRESHES && refreshQueue.length > 0) {
        const threadId = refreshQueue.shift()!;
        activeRefreshes += 1;
        const started = refreshing.get(threadId);
        if (started) started.running = true;
        void refetch(threadId).finally(() => {
          activeRefreshes -= 1;
          const state = refreshing.get(threadId);
          if (state?.again) {
            state.again = false;
            state.running = false;
            refreshQueue.push(threadId);
          } else {
            refreshing.delete(threadId);
          }
          pumpRefreshes();
        });
      }
    }

    async function refetch(threadId: string): Promise<void> {
      try {
        const thread = await api.get(threadId);
        if (!get().pending[threadId]) acceptFromServer(thread);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404 && !error.routeMissing) forget(threadId);
        // Other failures leave the current state; the next event or reload corrects it.
      }
    }

    /** Appends to a loaded timeline the events after its last one (our own change, when no live feed told us). */
    async function catchUpTimeline(threadId: string): Promise<void> {
      const timeline = get().timelines[threadId];
      if (timeline?.status !== 'ready') return;
      try {
        const { items } = await api.events(threadId, timeline.items.at(-1)?.id);
        if (items.length === 0) return;
        set((s) => {
          const current = s.timelines[threadId];
          if (!current) return {};
          const known = new Set(current.items.map((e) => e.id));
          const fresh = items.filter((e) => !known.has(e.id));
          if (fresh.length === 0) return {};
          const merged = [...current.items, ...fresh].sort((a, b) => compareEventIds(a.id, b.id));
          return { timelines: { ...s.timelines, [threadId]: { ...current, items: merged } } };
        });
      } catch {
        // The history is a convenience here; the next visit reloads it.
      }
    }

    async function optimistic(
      threadIds: string[],
      change: (t: Thread) => Partial<Thread>,
      call: () => Promise<Thread[] | { updated: Thread[]; notFound: string[] }>,
    ): Promise<{ ok: boolean; error?: unknown; notFound?: string[] }> {
      const before: Record<string, Thread> = {};
      const after: Record<string, Thread> = {};
      set((s) => {
        const byId = { ...s.byId };
        for (const id of threadIds) {
          const current = byId[id];
          if (!current) continue;
          before[id] = current;
          after[id] = { ...current, ...change(current) };
          byId[id] = after[id];
        }
        return { byId };
      });
      bumpPending(threadIds, 1);
      try {
        const result = await call();
        const updated = Array.isArray(result) ? result : result.updated;
        const notFound = Array.isArray(result) ? [] : result.notFound;
        set((s) => {
          const byId = { ...s.byId };
          for (const thread of updated) byId[thread.threadId] = thread;
          return { byId };
        });
        for (const id of notFound) forget(id);
        for (const thread of updated) void catchUpTimeline(thread.threadId);
        return { ok: true, notFound };
      } catch (error) {
        set((s) => {
          const byId = { ...s.byId };
          for (const id of Object.keys(before)) {
            const current = byId[id];
            if (current) byId[id] = revert(current, before[id]!, after[id]!);
          }
          return { byId };
        });
        if (error instanceof ApiError && error.code === 'THREAD_NOT_FOUND' && threadIds.length === 1) {
          forget(threadIds[0]!);
        }
        return { ok: false, error };
      } finally {
        bumpPending(threadIds, -1);
      }
    }

    return {
      byId: {},
      list: emptyList(),
      selected: new Set(),
      details: {},
      timelines: {},
      pending: {},
      lastEventId: null,
      liveStatus: 'idle',

      async loadList(filters, options = {}) {
        const key = filtersKey(filters);
        const current = get().list;
        if (
          !options.force &&
          current.key === key &&
          (current.status === 'ready' || current.status === 'loading')
        ) {
          return;
        }
        const seq = ++listSeq;
        listAbort?.abort();
        const abort = new AbortController();
        listAbort = abort;
        const sameList = current.key === key;
        set((s) => ({
          list: {
            ...s.list,
            key,
            filters,
            status: 'loading',
            error: null,
            loadMoreError: null,
            loadingMore: false,
            scrollOffset: sameList ? s.list.scrollOffset : 0,
          },
          selected: sameList ? s.selected : new Set(),
        }));
        try {
          const page = await api.list(filtersToQuery(filters, null, PAGE_SIZE), abort.signal);
          if (seq !== listSeq) return;
          set((s) => {
            const byId = { ...s.byId };
            for (const thread of page.items) {
              byId[thread.threadId] = s.pending[thread.threadId]
                ? byId[thread.threadId]!
                : newer(byId[thread.threadId], thread);
            }
            return {
              byId,
              list: {
                ...s.list,
                ids: page.items.map((t) => t.threadId),
                nextCursor: page.nextCursor,
                status: 'ready',
                error: null,
              },
            };
          });
        } catch (error) {
          if (seq !== listSeq || isAbort(error)) return;
          set((s) => ({ list: { ...s.list, status: 'error', error: errorMessage(error) } }));
        }
      },

      async loadMore() {
        const { list } = get();
        if (list.status !== 'ready' || list.loadingMore || !list.nextCursor) return;
        const seq = listSeq;
        set((s) => ({ list: { ...s.list, loadingMore: true, loadMoreError: null } }));
        try {
          const page = await api.list(
            filtersToQuery(list.filters, list.nextCursor, PAGE_SIZE),
            listAbort?.signal,
          );
          if (seq !== listSeq) return;
          set((s) => {
            const byId = { ...s.byId };
            const known = new Set(s.list.ids);
            const added: string[] = [];
            for (const thread of page.items) {
              if (!s.pending[thread.threadId]) byId[thread.threadId] = newer(byId[thread.threadId], thread);
              // A live event may already have placed this thread; keep one row per thread.
              if (!known.has(thread.threadId)) added.push(thread.threadId);
            }
            return {
              byId,
              list: {
                ...s.list,
                ids: added.length > 0 ? [...s.list.ids, ...added] : s.list.ids,
                nextCursor: page.nextCursor,
                loadingMore: false,
              },
            };
          });
        } catch (error) {
          if (seq !== listSeq || isAbort(error)) return;
          set((s) => ({ list: { ...s.list, loadingMore: false, loadMoreError: errorMessage(error) } }));
        }
      },

      setScrollOffset(offset) {
        if (get().list.scrollOffset === offset) return;
        set((s) => ({ list: { ...s.list, scrollOffset: offset } }));
      },

      async loadThread(threadId) {
        const known = get().byId[threadId];
        set((s) => ({
          details: {
            ...s.details,
            [threadId]: { status: known ? 'ready' : 'loading', error: null },
          },
        }));
        try {
          const thread = await api.get(threadId);
          if (!get().pending[threadId]) acceptFromServer(thread);
          else set((s) => ({ details: { ...s.details, [threadId]: { status: 'ready', error: null } } }));
        } catch (error) {
          if (error instanceof ApiError && error.status === 404 && !error.routeMissing) {
            forget(threadId);
            return;
          }
          set((s) => ({
            details: {
              ...s.details,
              [threadId]: { status: known ? 'ready' : 'error', error: errorMessage(error) },
            },
          }));
        }
      },

      async loadTimeline(threadId) {
        set((s) => ({
          timelines: {
            ...s.timelines,
            [threadId]: { status: 'loading', items: s.timelines[threadId]?.items ?? [], error: null },
          },
        }));
        try {
          const items: LiveThreadEvent[] = [];
          let afterId: string | undefined;
          // A long history comes in pages of 500; stop at a sane bound.
          for (let page = 0; page < 20; page++) {
            const result = await api.events(threadId, afterId);
            items.push(...result.items);
            if (result.items.length < 500) break;
            afterId = result.items.at(-1)?.id;
          }
          set((s) => {
            // Live events that arrived while loading are kept.
            const live = (s.timelines[threadId]?.items ?? []).filter(
              (e) => !items.some((i) => i.id === e.id),
            );
            const merged = [...items, ...live].sort((a, b) => compareEventIds(a.id, b.id));
            return {
              timelines: { ...s.timelines, [threadId]: { status: 'ready', items: merged, error: null } },
            };
          });
        } catch (error) {
          set((s) => ({
            timelines: {
              ...s.timelines,
              [threadId]: {
                status: 'error',
                items: s.timelines[threadId]?.items ?? [],
                error: errorMessage(error),
              },
            },
          }));
        }
      },

      async runAction(threadId, action) {
        const thread = get().byId[threadId];
        const key = newIdempotencyKey();
        const result = await optimistic(
          [threadId],
          (t) => ACTION_EFFECTS[action](t, new Date().toISOString()),
          async () => [await api[action](threadId, { idempotencyKey: key })],
        );
        if (!result.ok) {
          say({
            kind: 'error',
            message: `Could not ${ACTION_VERB[action]} ${label(thread, threadId)}: ${errorMessage(result.error)}`,
          });
          return false;
        }
        if (action === 'hide' || action === 'archive') {
          say({
            kind: 'success',
            message: `${ACTION_PAST[action]} ${label(thread, threadId)}`,
            action: { label: 'Undo', run: () => void get().runAction(threadId, ACTION_UNDO[action]) },
          });
        }
        return true;
      },

      async bulk(action, threadIds) {
        if (threadIds.length === 0) return;
        get().setSelected(threadIds, false);
        const chunks: string[][] = [];
        for (let i = 0; i < threadIds.length; i += BULK_LIMIT)
          chunks.push(threadIds.slice(i, i + BULK_LIMIT));
        const outcomes = await Promise.all(
          chunks.map((chunk) => {
            const key = newIdempotencyKey();
            return optimistic(
              chunk,
              (t) => ACTION_EFFECTS[action](t, new Date().toISOString()),
              () => api.bulk(action, chunk, { idempotencyKey: key }),
            ).then((outcome) => ({ chunk, outcome }));
          }),
        );
        const failed = outcomes.filter((o) => !o.outcome.ok);
        const done = outcomes.filter((o) => o.outcome.ok).flatMap((o) => o.chunk);
        const notFound = outcomes.flatMap((o) => o.outcome.notFound ?? []);
        if (failed.length > 0) {
          const count = failed.reduce((n, f) => n + f.chunk.length, 0);
          say({
            kind: 'error',
            message: `Could not ${ACTION_VERB[action]} ${count} thread${count === 1 ? '' : 's'}: ${errorMessage(failed[0]!.outcome.error)}`,
          });
        }
        const succeeded = done.filter((id) => !notFound.includes(id));
        if (succeeded.length > 0) {
          say({
            kind: 'success',
            message: `${ACTION_PAST[action]} ${succeeded.length} thread${succeeded.length === 1 ? '' : 's'}${
              notFound.length > 0 ? ` (${notFound.length} no longer exist)` : ''
            }`,
            action: { label: 'Undo', run: () => void get().bulk(ACTION_UNDO[action], succeeded) },
          });
        }
      },

      async scheduleFollowup(threadId, scheduledAt) {
        const thread = get().byId[threadId];
        const key = newIdempotencyKey();
        const result = await optimistic(
          [threadId],
          () => ({ followupScheduled: true, followupScheduledAt: scheduledAt }),
          async () => [await api.scheduleFollowup(threadId, scheduledAt, { idempotencyKey: key })],
        );
        if (!result.ok) {
          say({ kind: 'error', message: `Could not schedule the follow-up: ${errorMessage(result.error)}` });
          return false;
        }
        say({ kind: 'success', message: `Follow-up scheduled for ${label(thread, threadId)}` });
        return true;
      },

      async cancelFollowup(threadId) {
        const key = newIdempotencyKey();
        const result = await optimistic(
          [threadId],
          () => ({ followupScheduled: false, followupScheduledAt: null }),
          async () => [await api.cancelFollowup(threadId, { idempotencyKey: key })],
        );
        if (!result.ok) {
          say({ kind: 'error', message: `Could not cancel the follow-up: ${errorMessage(result.error)}` });
          return false;
        }
        say({ kind: 'success', message: 'Follow-up cancelled' });
        return true;
      },

      applyEvent(event) {
        const last = get().lastEventId;
        if (!last || compareEventIds(event.id, last) > 0) set({ lastEventId: event.id });
        const timeline = get().timelines[event.threadId];
        if (timeline && !timeline.items.some((e) => e.id === event.id)) {
          set((s) => ({
            timelines: {
              ...s.timelines,
              [event.threadId]: { ...timeline, items: [...timeline.items, event] },
            },
          }));
        }
        if (event.type === 'purged') {
          forget(event.threadId);
          return;
        }
        refresh(event.threadId);
      },

      setLiveStatus(liveStatus) {
        if (get().liveStatus !== liveStatus) set({ liveStatus });
      },

      setLastEventId(id) {
        const last = get().lastEventId;
        if (id && (!last || compareEventIds(id, last) > 0)) set({ lastEventId: id });
      },

      toggleSelected(threadId) {
        set((s) => {
          const selected = new Set(s.selected);
          if (selected.has(threadId)) selected.delete(threadId);
          else selected.add(threadId);
          return { selected };
        });
      },

      setSelected(threadIds, value) {
        set((s) => {
          const selected = new Set(s.selected);
          for (const id of threadIds) {
            if (value) selected.add(id);
            else selected.delete(id);
          }
          return { selected };
        });
      },

      clearSelection() {
        if (get().selected.size > 0) set({ selected: new Set() });
      },
    };
  });
}

export type ThreadsStore = ReturnType<typeof createThreadsStore>;

/** The rows to show: loaded threads that still match the list's filters, in the server's order. */
export function selectVisibleIds(
  byId: Record<string, Thread>,
  ids: string[],
  filters: ThreadFilters,
): string[] {
  return ids.filter((id) => {
    const thread = byId[id];
    return thread !== undefined && matchesFilters(thread, filters);
  });
}
