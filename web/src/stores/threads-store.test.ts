// @vitest-environment happy-dom
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/http.ts';
import type { Thread } from '../api/types.ts';
import { DEFAULT_FILTERS, type ThreadFilters } from '../lib/filters.ts';
import { deferred, fakeApi, makeEvent, makeThread, makeThreads } from '../testing/fixtures.ts';
import { createNoticesStore } from './notices-store.ts';
import { createThreadsStore, selectVisibleIds } from './threads-store.ts';

function setup() {
  const api = fakeApi();
  const notices = createNoticesStore();
  const store = createThreadsStore({ api: api.threads, notify: notices.getState().push });
  const visible = () => {
    const { byId, list } = store.getState();
    return selectVisibleIds(byId, list.ids, list.filters);
  };
  return { api, store, notices, visible };
}

const serverError = (detail: string) => new ApiError({ status: 500, code: 'INTERNAL', message: detail });

async function loaded(
  threads: Thread[],
  filters: ThreadFilters = DEFAULT_FILTERS,
  nextCursor: string | null = null,
) {
  const context = setup();
  context.api.threads.list.mockResolvedValueOnce({ items: threads, nextCursor });
  await context.store.getState().loadList(filters);
  return context;
}

describe('threads store: optimistic updates', () => {
  it('hides at once, then keeps the server’s version', async () => {
    const threads = makeThreads(3);
    const { api, store, visible } = await loaded(threads);
    const target = threads[1]!;
    const answer = deferred<Thread>();
    api.threads.hide.mockReturnValueOnce(answer.promise);

    const done = store.getState().runAction(target.threadId, 'hide');
    expect(store.getState().byId[target.threadId]!.hidden).toBe(true);
    expect(visible()).toEqual([threads[0]!.threadId, threads[2]!.threadId]);
    expect(store.getState().pending[target.threadId]).toBe(1);

    const fromServer = {
      ...target,
      hidden: true,
      hiddenAt: '2026-12-01T12:00:00.123456Z',
      updatedAt: '2026-12-01T12:00:00.123456Z',
    };
    answer.resolve(fromServer);
    expect(await done).toBe(true);
    expect(store.getState().byId[target.threadId]).toEqual(fromServer);
    expect(store.getState().pending[target.threadId]).toBeUndefined();
    expect(api.threads.hide).toHaveBeenCalledWith(target.threadId, { idempotencyKey: expect.any(String) });
  });

  it('rolls back and says why when the server refuses', async () => {
    const threads = makeThreads(3);
    const { api, store, notices, visible } = await loaded(threads);
    const target = threads[0]!;
    api.threads.archive.mockRejectedValueOnce(serverError('The database is down'));

    expect(await store.getState().runAction(target.threadId, 'archive')).toBe(false);
    expect(store.getState().byId[target.threadId]).toEqual(target);
    expect(visible()).toEqual(threads.map((t) => t.threadId));
    const [notice] = notices.getState().notices;
    expect(notice?.kind).toBe('error');
    expect(notice?.message).toContain('Could not archive');
    expect(notice?.message).toContain('The database is down');
  });

  it('rolls back only the fields it changed, keeping what arrived meanwhile', async () => {
    const target = makeThread({ subject: 'Before' });
    const { api, store } = await loaded([target]);
    const answer = deferred<Thread>();
    api.threads.hide.mockReturnValueOnce(answer.promise);
    api.threads.get.mockResolvedValueOnce({
      ...target,
      subject: 'Renamed elsewhere',
      updatedAt: '2026-12-02T00:00:00.000000Z',
    });

    const done = store.getState().runAction(target.threadId, 'hide');
    // A live event lands while the hide is in flight; its refetch must not undo the optimistic hide...
    store.getState().applyEvent(makeEvent({ threadId: target.threadId, type: 'updated' }));
    await vi.waitFor(() => expect(api.threads.get).toHaveBeenCalled());
    expect(store.getState().byId[target.threadId]!.hidden).toBe(true);
    // ...and the rollback restores `hidden` only.
    store.setState((s) => ({
      byId: { ...s.byId, [target.threadId]: { ...s.byId[target.threadId]!, subject: 'Renamed elsewhere' } },
    }));
    answer.reject(serverError('nope'));
    await done;
    expect(store.getState().byId[target.threadId]).toMatchObject({
      hidden: false,
      hiddenAt: null,
      subject: 'Renamed elsewhere',
    });
  });

  it('schedules a follow-up optimistically and restores the previous schedule on refusal', async () => {
    const target = makeThread({ followupScheduled: true, followupScheduledAt: '2026-12-10T09:00:00.000Z' });
    const { api, store, notices } = await loaded([target]);
    const answer = deferred<Thread>();
    api.threads.scheduleFollowup.mockReturnValueOnce(answer.promise);
    const done = store.getState().scheduleFollowup(target.threadId, '2026-12-20T09:00:00.000Z');
    expect(store.getState().byId[target.threadId]!.followupScheduledAt).toBe('2026-12-20T09:00:00.000Z');
    answer.reject(
      new ApiError({ status: 422, code: 'FOLLOWUP_IN_PAST', message: 'scheduledAt must be in the future' }),
    );
    expect(await done).toBe(false);
    expect(store.getState().byId[target.threadId]!.followupScheduledAt).toBe('2026-12-10T09:00:00.000Z');
    expect(notices.getState().notices[0]?.message).toBe(
      'Could not schedule the follow-up: scheduledAt must be in the future',
    );
  });

  it('bulk-archives in chunks of 100 and reports what failed', async () => {
    const threads = makeThreads(150);
    const { api, store, notices, visible } = await loaded(threads);
    const ids = threads.map((t) => t.threadId);
    api.threads.bulk
      .mockImplementationOnce((_action: string, chunk: string[]) =>
        Promise.resolve({
          updated: chunk.map((id) => ({ ...store.getState().byId[id]!, status: 'archived' })),
          notFound: [],
        }),
      )
      .mockRejectedValueOnce(serverError('Too busy'));
    store.getState().setSelected(ids, true);
    await store.getState().bulk('archive', ids);

    expect(api.threads.bulk).toHaveBeenCalledTimes(2);
    expect(api.threads.bulk.mock.calls[0]![1]).toHaveLength(100);
    expect(api.threads.bulk.mock.calls[1]![1]).toHaveLength(50);
    expect(store.getState().selected.size).toBe(0);
    // The refused chunk is back in the active list, the accepted one is gone from it.
    expect(visible()).toEqual(ids.slice(100));
    const messages = notices.getState().notices.map((n) => n.message);
    expect(messages).toContain('Could not archive 50 threads: Too busy');
    expect(messages).toContain('Archived 100 threads');
  });
});

describe('threads store: pagination', () => {
  it('appends the next page, dedupes, and stops at the last page', async () => {
    const threads = makeThreads(5);
    const { api, store } = await loaded(threads.slice(0, 3), DEFAULT_FILTERS, 'cursor-1');
    // A live event already placed thread 4 (index 3) in the list.
    store.setState((s) => ({
      byId: { ...s.byId, [threads[3]!.threadId]: threads[3]! },
      list: { ...s.list, ids: [...s.list.ids, threads[3]!.threadId] },
    }));
    api.threads.list.mockResolvedValueOnce({ items: threads.slice(3), nextCursor: null });
    await store.getState().loadMore();

    expect(api.threads.list).toHaveBeenLastCalledWith(
      expect.objectContaining({
        cursor: 'cursor-1',
        sort: 'lastActivity',
        order: 'desc',
        status: 'active',
        hidden: false,
      }),
      expect.anything(),
    );
    expect(store.getState().list.ids).toEqual(threads.map((t) => t.threadId));
    expect(store.getState().list.nextCursor).toBeNull();
    await store.getState().loadMore();
    expect(api.threads.list).toHaveBeenCalledTimes(2);
  });

  it('drops a page that arrives after the filters changed', async () => {
    const { api, store } = setup();
    const slow = deferred<{ items: Thread[]; nextCursor: string | null }>();
    const manual = makeThreads(2, { emailType: 'manual' });
    api.threads.list
      .mockReturnValueOnce(slow.promise)
      .mockResolvedValueOnce({ items: manual, nextCursor: null });

    const first = store.getState().loadList(DEFAULT_FILTERS);
    const second = store.getState().loadList({ ...DEFAULT_FILTERS, emailType: 'manual' });
    slow.resolve({ items: makeThreads(3), nextCursor: 'x' });
    await Promise.all([first, second]);

    expect(store.getState().list.filters.emailType).toBe('manual');
    expect(store.getState().list.ids).toEqual(manual.map((t) => t.threadId));
    expect(store.getState().list.nextCursor).toBeNull();
  });

  it('keeps a loaded list when the same filters are asked for again, and reloads on force', async () => {
    const { api, store } = await loaded(makeThreads(2));
    await store.getState().loadList({ ...DEFAULT_FILTERS });
    expect(api.threads.list).toHaveBeenCalledTimes(1);
    api.threads.list.mockResolvedValueOnce({ items: [], nextCursor: null });
    await store.getState().loadList(DEFAULT_FILTERS, { force: true });
    expect(api.threads.list).toHaveBeenCalledTimes(2);
  });

  it('records a load error for the page to show', async () => {
    const { api, store } = setup();
    api.threads.list.mockRejectedValueOnce(serverError('Boom'));
    await store.getState().loadList(DEFAULT_FILTERS);
    expect(store.getState().list).toMatchObject({ status: 'error', error: 'Boom' });
  });
});

describe('threads store: live events', () => {
  it('refetches the thread an event names and applies it', async () => {
    const threads = makeThreads(3);
    const { api, store, visible } = await loaded(threads);
    const target = threads[2]!;
    api.threads.get.mockResolvedValueOnce({
      ...target,
      hidden: true,
      updatedAt: '2026-12-05T00:00:00.000000Z',
    });
    store.getState().applyEvent(makeEvent({ id: '41', threadId: target.threadId, type: 'hidden' }));
    await vi.waitFor(() => expect(store.getState().byId[target.threadId]!.hidden).toBe(true));
    expect(visible()).toEqual([threads[0]!.threadId, threads[1]!.threadId]);
    expect(store.getState().lastEventId).toBe('41');
  });

  it('removes a thread that no longer exists (404, or purged)', async () => {
    const threads = makeThreads(3);
    const { api, store } = await loaded(threads);
    api.threads.get.mockRejectedValueOnce(
      new ApiError({ status: 404, code: 'THREAD_NOT_FOUND', message: 'gone' }),
    );
    store.getState().applyEvent(makeEvent({ threadId: threads[0]!.threadId, type: 'deleted' }));
    await vi.waitFor(() => expect(store.getState().list.ids).not.toContain(threads[0]!.threadId));
    store.getState().applyEvent(makeEvent({ threadId: threads[1]!.threadId, type: 'purged' }));
    expect(store.getState().list.ids).toEqual([threads[2]!.threadId]);
    expect(store.getState().details[threads[1]!.threadId]?.status).toBe('missing');
    expect(api.threads.get).toHaveBeenCalledTimes(1);
  });

  it('inserts a new thread at its sorted place', async () => {
    const threads = makeThreads(3);
    const { api, store } = await loaded(threads);
    const created = makeThread({
      lastActivity: new Date(Date.parse(threads[1]!.lastActivity!) + 60_000).toISOString(),
    });
    api.threads.get.mockResolvedValueOnce(created);
    store.getState().applyEvent(makeEvent({ threadId: created.threadId, type: 'created' }));
    await vi.waitFor(() => expect(store.getState().list.ids).toHaveLength(4));
    expect(store.getState().list.ids).toEqual([
      threads[0]!.threadId,
      created.threadId,
      threads[1]!.threadId,
      threads[2]!.threadId,
    ]);
  });

  it('leaves a thread that sorts after the loaded pages to the next page', async () => {
    const threads = makeThreads(3);
    const { api, store } = await loaded(threads, DEFAULT_FILTERS, 'more');
    const old = makeThread({ lastActivity: '2020-01-01T00:00:00.000000Z' });
    api.threads.get.mockResolvedValueOnce(old);
    store.getState().applyEvent(makeEvent({ threadId: old.threadId, type: 'created' }));
    await vi.waitFor(() => expect(store.getState().byId[old.threadId]).toBeDefined());
    expect(store.getState().list.ids).toEqual(threads.map((t) => t.threadId));
  });

  it('appends events to an open timeline once', async () => {
    const target = makeThread();
    const { api, store } = await loaded([target]);
    const first = makeEvent({ id: '1', threadId: target.threadId, type: 'created' });
    api.threads.events.mockResolvedValueOnce({ items: [first] });
    await store.getState().loadTimeline(target.threadId);
    api.threads.get.mockResolvedValue(target);
    const next = makeEvent({ id: '2', threadId: target.threadId, type: 'followup_scheduled' });
    store.getState().applyEvent(next);
    store.getState().applyEvent(next);
    expect(store.getState().timelines[target.threadId]?.items.map((e) => e.id)).toEqual(['1', '2']);
  });
});

describe('threads store: event bursts', () => {
  it('refetches a few threads at a time and once per thread however many events name it', async () => {
    const { api, store } = setup();
    const answers = new Map<string, ReturnType<typeof deferred<Thread>>>();
    api.threads.get.mockImplementation((threadId: string) => {
      const answer = deferred<Thread>();
      answers.set(threadId, answer);
      return answer.promise;
    });
    for (let i = 0; i < 20; i++) {
      store.getState().applyEvent(makeEvent({ threadId: `burst-${i}`, type: 'created' }));
      store.getState().applyEvent(makeEvent({ threadId: `burst-${i}`, type: 'updated' }));
    }
    expect(api.threads.get).toHaveBeenCalledTimes(6);
    for (let round = 0; round < 10 && answers.size > 0; round++) {
      for (const [threadId, answer] of [...answers]) {
        answers.delete(threadId);
        answer.resolve(makeThread({ threadId }));
      }
      await vi.waitFor(() => expect(api.threads.get.mock.calls.length).toBeGreaterThan(0));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    // One fetch per thread, plus one more for the six whose second event arrived while they were being fetched.
    expect(api.threads.get).toHaveBeenCalledTimes(26);
    expect(Object.keys(store.getState().byId)).toHaveLength(20);
  });
});
