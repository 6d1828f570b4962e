/**
 * ThreadTrackingService: every method of the spec, over ports only (store, cache, clock, event bus).
 *
 * Data flows, kept exactly:
 * - Retrieval: cache check → database query → cache update → response.
 * - Creation and update: database write (+ event, same statement or transaction) → cache update at the row's
 *   version (this both invalidates and refreshes; a plain delete-then-set would let a slow reader put an older row
 *   back) and list generation bump → event fan-out → response.
 * The cache is an accelerator, never a source of truth: a cache failure after a commit is logged and the write
 * still succeeds.
 *
 * Every write is a WriteOp with an operation id (see domain/write-ops.ts). While the database is unavailable,
 * writes are queued in the outage journal (or refused, by policy) and reads are served from the cache marked stale;
 * a user's queued writes show in that user's reads through the overlay until the journal is replayed.
 */

import { randomUUID } from 'node:crypto';
import { computeAnalytics, resolveRange, type ThreadAnalytics } from '../domain/analytics.ts';
import { type BulkAction, planCommand, planCreate, type ThreadCommand } from '../domain/commands.ts';
import { decodeCursor, encodeCursor } from '../domain/cursor.ts';
import { AppError, threadNotFound } from '../domain/errors.ts';
import type {
  AnalyticsQuery,
  EmailType,
  Thread,
  ThreadCreate,
  ThreadEvent,
  ThreadPage,
  ThreadPatch,
  ThreadQuery,
} from '../domain/thread.ts';
import { threadIdsOf, type WriteOp } from '../domain/write-ops.ts';
import type { Cache } from '../ports/cache.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventBus } from '../ports/event-bus.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';
import type { NewThread, Store, StoreScope, ThreadChange, WriteMeta } from '../ports/store.ts';
import type { JournalRecord } from '../store/journal/outage-journal.ts';
import { keyReused, runIdempotent, type WriteOptions } from './idempotent-write.ts';
import { JsonResult } from './json-result.ts';
import type { OutageQueue, QueuedWrite, ReplayOutcome } from './outage-queue.ts';
import {
  allPattern,
  generationKey,
  listKey,
  readGeneration,
  threadKey,
  userPattern,
  versionOf,
} from './thread-cache.ts';

export type { WriteOptions };

export interface ServiceConfig {
  /** Seconds a cached thread or list stays valid. */
  cacheTtlSeconds: number;
  /** Largest batch accepted by batchUpsert and bulk actions. */
  batchSize: number;
}

/** What the service does while the database is unavailable. */
export interface OutagePolicy {
  /** Whether the database can be used now (the store's circuit breaker is closed). */
  databaseAvailable: () => boolean;
  /** Writes: queued in the journal (`queue` set) and answered 202, or refused with 503. */
  queue?: OutageQueue;
  /** Oldest cached data served (marked stale) when the database cannot answer a read. */
  staleReadMaxAgeMs: number;
}

export interface ServiceDeps {
  store: Store;
  cache: Cache;
  clock: Clock;
  events: EventBus;
  config: ServiceConfig;
  logger?: Logger;
  outage?: OutagePolicy;
}

export interface BatchUpsertResult {
  created: number;
  updated: number;
  unchanged: number;
  threads: Thread[];
}

export interface BulkResult {
  updated: Thread[];
  notFound: string[];
}

type ListFilters = Omit<Partial<ThreadQuery>, 'limit' | 'sort' | 'order'> &
  Partial<Pick<ThreadQuery, 'limit' | 'sort' | 'order'>>;

export class ThreadTrackingService {
  readonly #store: Store;
  readonly #cache: Cache;
  readonly #clock: Clock;
  readonly #events: EventBus;
  readonly #config: ServiceConfig;
  readonly #log: Logger;
  readonly #outage: OutagePolicy;

  constructor(deps: ServiceDeps) {
    this.#outage = deps.outage ?? { databaseAvailable: () => true, staleReadMaxAgeMs: 0 };
    this.#store = deps.store;
    this.#cache = deps.cache;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#config = deps.config;
    this.#log = deps.logger ?? silentLogger;
  }

  get config(): ServiceConfig {
    return this.#config;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Reads

  async getThreadResult(userId: string, threadId: string): Promise<JsonResult<Thread>> {
    const key = threadKey(userId, threadId);
    const queue = this.#outage.queue;
    const pending = queue && queue.depth > 0 ? queue.pendingCount(userId, threadId) : 0;
    let result: JsonResult<Thread> | undefined;
    const cached = await this.#cacheRead(() => this.#cache.getVersioned(key));
    if (cached) {
      result = new JsonResult<Thread>(cached.value);
      if (!this.#outage.databaseAvailable()) result.staleAgeMs = cached.ageMs ?? 0;
    } else {
      try {
        const thread = await this.#store.threads.get(userId, threadId);
        if (thread) {
          result = JsonResult.of(thread);
          await this.#cacheWrite(() =>
            this.#cache.setVersioned(
              key,
              result!.json,
              versionOf(thread.updatedAt),
              this.#config.cacheTtlSeconds,
            ),
          );
        }
      } catch (error) {
        if (!isDatabaseUnavailable(error)) throw error;
        const stale = await this.#cacheRead(() =>
          this.#cache.getVersioned(key, { maxStaleMs: this.#outage.staleReadMaxAgeMs }),
        );
        if (stale) {
          result = new JsonResult<Thread>(stale.value);
          result.staleAgeMs = stale.ageMs ?? 0;
        } else if (pending === 0) {
          throw error;
        }
      }
    }
    if (pending > 0) {
      // The user's own queued writes, on top of what is stored.
      const projected = this.#outage.queue!.project(userId, threadId, result?.value);
      if (!projected) throw threadNotFound(threadId);
      const overlaid = JsonResult.of(projected);
      overlaid.pendingWrites = pending;
      if (result?.staleAgeMs !== undefined) overlaid.staleAgeMs = result.staleAgeMs;
      return overlaid;
    }
    if (!result) throw threadNotFound(threadId);
    return result;
  }

  async getThread(userId: string, threadId: string): Promise<Thread> {
    return (await this.getThreadResult(userId, threadId)).value;
  }

  async listThreadsResult(userId: string, query: ThreadQuery): Promise<JsonResult<ThreadPage>> {
    const page = await this.#listPage(userId, query);
    const queue = this.#outage.queue;
    if (!queue || queue.depth === 0) return page;
    // Overlay the user's queued writes on the items of the page (their order and filters are the stored ones).
    let pending = 0;
    const items = page.value.items.flatMap((thread) => {
      const count = queue.pendingCount(userId, thread.threadId);
      if (count === 0) return [thread];
      pending += count;
      const projected = queue.project(userId, thread.threadId, thread);
      return projected ? [projected] : [];
    });
    if (pending === 0) return page;
    const overlaid = JsonResult.of<ThreadPage>({ items, nextCursor: page.value.nextCursor });
    overlaid.pendingWrites = pending;
    if (page.staleAgeMs !== undefined) overlaid.staleAgeMs = page.staleAgeMs;
    return overlaid;
  }

  async #listPage(userId: string, query: ThreadQuery): Promise<JsonResult<ThreadPage>> {
    const after = query.cursor ? decodeCursor(query.cursor, query.sort, query.order) : undefined;
    const generation = await this.#cacheRead(() => readGeneration(this.#cache, userId));
    const key = generation === undefined ? undefined : listKey(userId, generation, 'l', query);
    if (key) {
      const cached = await this.#cacheRead(() => this.#cache.get(key));
      if (cached !== undefined) {
        const result = new JsonResult<ThreadPage>(cached);
        if (!this.#outage.databaseAvailable()) result.staleAgeMs = 0;
        return result;
      }
    }
    const { cursor: _cursor, ...filters } = query;
    let listed: Awaited<ReturnType<Store['threads']['listJson']>>;
    try {
      listed = await this.#store.threads.listJson(userId, { ...filters, ...(after ? { after } : {}) });
    } catch (error) {
      if (!isDatabaseUnavailable(error) || !key) throw error;
      const stale = await this.#cacheRead(() =>
        this.#cache.get(key, { maxStaleMs: this.#outage.staleReadMaxAgeMs }),
      );
      if (stale === undefined) throw error;
      const result = new JsonResult<ThreadPage>(stale);
      result.staleAgeMs = 0;
      return result;
    }
    const nextCursor =
      listed.hasMore && listed.last
        ? encodeCursor({ sort: query.sort, order: query.order, value: listed.last.value, id: listed.last.id })
        : null;
    // The page JSON comes from the database as text: forwarded, never parsed here unless someone reads it.
    const result = new JsonResult<ThreadPage>(
      `{"items":${listed.itemsJson},"nextCursor":${JSON.stringify(nextCursor)}}`,
    );
    if (key) await this.#cacheWrite(() => this.#cache.set(key, result.json, this.#config.cacheTtlSeconds));
    return result;
  }

  /** The spec's getThreadsByUser(userId, filters): one keyset page. */
  async getThreadsByUser(userId: string, filters: ListFilters = {}): Promise<ThreadPage> {
    return (await this.listThreadsResult(userId, withListDefaults(filters))).value;
  }

  async getSystemGeneratedThreads(userId: string, filters: ListFilters = {}): Promise<ThreadPage> {
    return this.getThreadsByUser(userId, { ...filters, systemGenerated: true });
  }

  async getHiddenThreads(userId: string, filters: ListFilters = {}): Promise<ThreadPage> {
    return this.getThreadsByUser(userId, { ...filters, hidden: true });
  }

  async getThreadAnalyticsResult(
    userId: string,
    query: AnalyticsQuery,
  ): Promise<JsonResult<ThreadAnalytics>> {
    // A default range ends at the next whole minute, so repeated calls share one cache entry for up to a minute.
    const now = this.#clock.now();
    const roundedNow = query.to ? now : new Date(Math.ceil(now.getTime() / 60_000) * 60_000);
    const range = resolveRange(query, roundedNow);
    const generation = await this.#cacheRead(() => readGeneration(this.#cache, userId));
    const key = generation === undefined ? undefined : listKey(userId, generation, 'a', range);
    if (key) {
      const cached = await this.#cacheRead(() => this.#cache.get(key));
      if (cached !== undefined) return new JsonResult<ThreadAnalytics>(cached);
    }
    const aggregates = await this.#store.threads.aggregate(userId, range);
    const result = JsonResult.of(computeAnalytics(aggregates, range));
    if (key) await this.#cacheWrite(() => this.#cache.set(key, result.json, this.#config.cacheTtlSeconds));
    return result;
  }

  async getThreadAnalytics(
    userId: string,
    timeRange: Partial<AnalyticsQuery> = {},
  ): Promise<ThreadAnalytics> {
    return (await this.getThreadAnalyticsResult(userId, { tz: 'UTC', ...timeRange })).value;
  }

  /** The history of one thread (kept after the thread is purged), oldest first. */
  async getThreadEvents(
    userId: string,
    threadId: string,
    options: { afterId?: string; limit?: number } = {},
  ): Promise<ThreadEvent[]> {
    return this.#store.threads.listEvents(userId, {
      threadId,
      limit: options.limit ?? 100,
      ...afterId(options),
    });
  }

  /** The newest event id of a user, or null. */
  lastEventId(userId: string): Promise<string | null> {
    return this.#store.threads.lastEventId(userId);
  }

  /** Every event of a user after `afterId`, oldest first (what a reconnecting client missed). */
  async listEvents(
    userId: string,
    options: { afterId?: string; limit?: number } = {},
  ): Promise<ThreadEvent[]> {
    return this.#store.threads.listEvents(userId, { limit: options.limit ?? 100, ...afterId(options) });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Writes

  async createThread(
    userId: string,
    input: ThreadCreate,
    options: WriteOptions & { upsert?: boolean } = {},
  ): Promise<Thread> {
    return this.#submit(userId, { kind: 'create', input, upsert: options.upsert ?? false }, options);
  }

  updateThread(
    userId: string,
    threadId: string,
    patch: ThreadPatch,
    options: WriteOptions = {},
  ): Promise<Thread> {
    return this.#command(userId, { type: 'update', threadId, patch }, options);
  }

  /** Soft delete (status `deleted`), or with `purge` removes the row; its history stays. */
  async deleteThread(
    userId: string,
    threadId: string,
    options: WriteOptions & { purge?: boolean } = {},
  ): Promise<Thread> {
    if (!options.purge) return this.#command(userId, { type: 'delete', threadId }, options);
    return this.#submit(userId, { kind: 'purge', threadId }, options);
  }

  hideThread(userId: string, threadId: string, options: WriteOptions = {}): Promise<Thread> {
    return this.#command(userId, { type: 'hide', threadId }, options);
  }

  unhideThread(userId: string, threadId: string, options: WriteOptions = {}): Promise<Thread> {
    return this.#command(userId, { type: 'unhide', threadId }, options);
  }

  archiveThread(userId: string, threadId: string, options: WriteOptions = {}): Promise<Thread> {
    return this.#command(userId, { type: 'archive', threadId }, options);
  }

  unarchiveThread(userId: string, threadId: string, options: WriteOptions = {}): Promise<Thread> {
    return this.#command(userId, { type: 'unarchive', threadId }, options);
  }

  markAsSystemGenerated(
    userId: string,
    threadId: string,
    emailType: EmailType,
    options: WriteOptions & { aiGenerated?: boolean } = {},
  ): Promise<Thread> {
    const command: ThreadCommand = { type: 'markSystemGenerated', threadId, emailType };
    if (options.aiGenerated !== undefined) command.aiGenerated = options.aiGenerated;
    return this.#command(userId, command, options);
  }

  scheduleFollowup(
    userId: string,
    threadId: string,
    scheduledAt: string,
    options: WriteOptions = {},
  ): Promise<Thread> {
    return this.#command(userId, { type: 'scheduleFollowup', threadId, scheduledAt }, options);
  }

  cancelFollowup(
    userId: string,
    threadId: string,
    options: WriteOptions & { reason?: string } = {},
  ): Promise<Thread> {
    const command: ThreadCommand = { type: 'cancelFollowup', threadId };
    if (options.reason !== undefined) command.reason = options.reason;
    return this.#command(userId, command, options);
  }

  incrementFollowupCount(userId: string, threadId: string, options: WriteOptions = {}): Promise<Thread> {
    return this.#command(userId, { type: 'incrementFollowupCount', threadId }, options);
  }

  /** Inserts or updates up to batchSize threads in one transaction; on update only the given fields change. */
  async batchUpsert(
    userId: string,
    inputs: ThreadCreate[],
    options: WriteOptions = {},
  ): Promise<BatchUpsertResult> {
    this.#checkBatch(inputs.length);
    const seen = new Set<string>();
    for (const [index, input] of inputs.entries()) {
      if (seen.has(input.threadId)) {
        throw new AppError('VALIDATION_FAILED', 'Each threadId may appear once per batch', {
          details: [{ path: `threads.${index}.threadId`, message: 'duplicate threadId in this batch' }],
        });
      }
      seen.add(input.threadId);
    }
    return this.#submit(userId, { kind: 'batchUpsert', inputs }, options);
  }

  /** Applies hide / unhide / archive / unarchive to many threads in one transaction. */
  async bulkAction(
    userId: string,
    action: BulkAction,
    threadIds: string[],
    options: WriteOptions = {},
  ): Promise<BulkResult> {
    this.#checkBatch(threadIds.length);
    return this.#submit(userId, { kind: 'bulk', action, threadIds: [...new Set(threadIds)] }, options);
  }

  /**
   * Replays one write from the outage journal, once: an operation whose events are already stored (it committed
   * before the outage was noticed) is not applied again; one that no longer applies (the thread was purged
   * meanwhile, a follow-up time has passed) is recorded as a conflict in the thread's history.
   */
  async replayQueued(record: JournalRecord<QueuedWrite>): Promise<ReplayOutcome> {
    const { userId, opId, op, idempotency } = record.payload;
    const options: WriteOptions = idempotency
      ? { idempotencyKey: idempotency.key, requestHash: idempotency.hash, responseStatus: idempotency.status }
      : {};
    try {
      await this.#run(userId, op, { opId, at: record.at, eventData: { queuedAt: record.at } }, options);
      return 'applied';
    } catch (error) {
      if (isDatabaseUnavailable(error)) return 'retry-later';
      if (error instanceof AppError && error.status < 500) {
        return this.#recordConflict(record, error);
      }
      this.#log.error({ err: error, opId }, 'replaying a queued write failed; will retry');
      return 'retry-later';
    }
  }

  /** A queued write that no longer applies: recorded as a conflict (unless it was applied after all). */
  async #recordConflict(record: JournalRecord<QueuedWrite>, error: AppError): Promise<ReplayOutcome> {
    const { userId, opId, op } = record.payload;
    try {
      if (await this.#store.threads.applied(userId, opId)) return 'applied';
      await this.#store.threads.appendEvents(
        userId,
        threadIdsOf(op).map((threadId) => ({
          threadId,
          type: 'journal_conflict',
          data: { opId, queuedAt: record.at, code: error.code, detail: error.message, op },
        })),
      );
      this.#log.warn(
        { opId, userId, code: error.code },
        'a queued write no longer applies; recorded as a conflict',
      );
      return 'conflict';
    } catch (failure) {
      // The database went away again while the conflict was being recorded: try the write again later.
      this.#log.warn({ err: failure, opId }, 'could not record a conflict now; will retry');
      return 'retry-later';
    }
  }

  /**
   * Deletes a lead. Its threads stay, unlinked by the foreign key (ON DELETE SET NULL) in the same statement; the
   * database changes them without a thread command, so the user's cached threads and lists are dropped after commit.
   */
  async deleteLead(userId: string, leadId: string, options: WriteOptions = {}): Promise<void> {
    const { replayed } = await runIdempotent(this.#store, userId, options, async (scope) => {
      if (!(await scope.leads.delete(userId, leadId))) {
        throw new AppError('LEAD_NOT_FOUND', `Lead ${JSON.stringify(leadId)} was not found`);
      }
      return null;
    });
    if (replayed) options.onReplay?.();
    await this.#cacheWrite(() => this.clearUserCache(userId));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Cache management

  async clearUserCache(userId: string): Promise<number> {
    const cleared = await this.#cache.clearPattern(userPattern(userId));
    await this.#cacheWrite(() => this.#cache.incr(generationKey(userId)));
    return cleared;
  }

  async clearAllCache(): Promise<number> {
    return this.#cache.clearPattern(allPattern);
  }

  // ---------------------------------------------------------------------------------------------------------

  #nowIso(): string {
    return this.#clock.now().toISOString();
  }

  #checkBatch(size: number): void {
    if (size < 1 || size > this.#config.batchSize) {
      throw new AppError('VALIDATION_FAILED', `A batch holds 1 to ${this.#config.batchSize} items`, {
        details: [{ path: 'threads', message: `must contain 1 to ${this.#config.batchSize} items` }],
      });
    }
  }

  async #command(userId: string, command: ThreadCommand, options: WriteOptions): Promise<Thread> {
    // Planned now, so a refused command (a follow-up in the past) is refused before anything is queued.
    planCommand(command, this.#nowIso());
    return this.#submit(userId, { kind: 'command', command }, options);
  }

  /**
   * Applies a write now, or — while the database is unavailable and the policy is to queue — appends it to the
   * outage journal and answers with the user's projected view (the API turns that into a 202).
   */
  async #submit<T>(userId: string, op: WriteOp, options: WriteOptions): Promise<T> {
    const meta = { opId: randomUUID(), at: this.#nowIso() };
    const queue = this.#outage.queue;
    // A write to a thread with queued writes queues behind them: nothing may overtake an earlier write to the same
    // thread. So does a retry of a queued request (same idempotency key).
    if (
      queue &&
      (!this.#outage.databaseAvailable() ||
        (queue.depth > 0 &&
          (queue.hasPending(userId, threadIdsOf(op)) ||
            (options.idempotencyKey !== undefined &&
              queue.findByIdempotencyKey(userId, options.idempotencyKey) !== undefined))))
    ) {
      return this.#enqueue(userId, op, meta, options) as Promise<T>;
    }
    try {
      return (await this.#run(userId, op, meta, options)) as T;
    } catch (error) {
      if (!queue || !isDatabaseUnavailable(error)) throw error;
      // Unknown whether it committed (the server may have been lost after COMMIT): queue it; the operation id
      // makes the replay a no-op if it did.
      return this.#enqueue(userId, op, meta, options) as Promise<T>;
    }
  }

  async #enqueue(
    userId: string,
    op: WriteOp,
    meta: { opId: string; at: string },
    options: WriteOptions,
  ): Promise<unknown> {
    const queue = this.#outage.queue!;
    if (options.idempotencyKey) {
      const earlier = queue.findByIdempotencyKey(userId, options.idempotencyKey);
      if (earlier) {
        if (earlier.payload.idempotency?.hash !== (options.requestHash ?? '')) throw keyReused();
        options.onReplay?.();
        options.onQueued?.(earlier.payload.opId);
        return this.#queuedView(userId, earlier.payload.op, earlier.payload.opId);
      }
    }
    await queue.enqueue({
      opId: meta.opId,
      userId,
      op,
      ...(options.idempotencyKey
        ? {
            idempotency: {
              key: options.idempotencyKey,
              hash: options.requestHash ?? '',
              status: options.responseStatus ?? 200,
            },
          }
        : {}),
    });
    options.onQueued?.(meta.opId);
    return this.#queuedView(userId, op, meta.opId);
  }

  /** What a queued write answers: the projected thread(s), as far as this instance knows them. */
  async #queuedView(userId: string, op: WriteOp, opId: string): Promise<unknown> {
    const queue = this.#outage.queue!;
    const view = async (threadId: string) => {
      const cached = await this.#cacheRead(() =>
        this.#cache.getVersioned(threadKey(userId, threadId), { maxStaleMs: this.#outage.staleReadMaxAgeMs }),
      );
      const base = cached ? (JSON.parse(cached.value) as Thread) : undefined;
      return queue.project(userId, threadId, base) ?? { threadId, queued: true, opId };
    };
    if (op.kind === 'batchUpsert') {
      return { created: 0, updated: 0, unchanged: 0, queued: op.inputs.length, opId, threads: [] };
    }
    if (op.kind === 'bulk') {
      return { updated: await Promise.all(op.threadIds.map(view)), notFound: [], queued: true, opId };
    }
    return view(threadIdsOf(op)[0]!);
  }

  /** Applies a write (with its idempotency key, in one transaction), then updates the cache and fans out events. */
  async #run(
    userId: string,
    op: WriteOp,
    meta: WriteMeta & { at: string },
    options: WriteOptions,
  ): Promise<unknown> {
    let outcome: Applied | undefined;
    try {
      const { value, replayed } = await runIdempotent(this.#store, userId, options, async (scope) => {
        outcome = await this.#apply(scope, userId, op, meta);
        return outcome.result;
      });
      if (replayed) options.onReplay?.();
      else if (outcome) await this.#afterCommit(userId, outcome.changes, outcome.purged ?? false);
      return value;
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'ALREADY_APPLIED')) throw error;
      // A repeat of a write that committed (a retry after a lost reply): answer with the state it left.
      const threads = await Promise.all(threadIdsOf(op).map((id) => this.#store.threads.get(userId, id)));
      if (op.kind === 'batchUpsert') {
        const present = threads.filter((t): t is Thread => t !== undefined);
        return { created: 0, updated: present.length, unchanged: 0, threads: present };
      }
      if (op.kind === 'bulk') return { updated: threads.filter(Boolean), notFound: [] };
      if (threads[0]) return threads[0];
      throw threadNotFound(threadIdsOf(op)[0]!);
    }
  }

  /** The database side of every write operation. */
  async #apply(
    scope: StoreScope,
    userId: string,
    op: WriteOp,
    meta: WriteMeta & { at: string },
  ): Promise<Applied> {
    const writeMeta: WriteMeta = {
      ...(meta.opId ? { opId: meta.opId } : {}),
      ...(meta.eventData ? { eventData: meta.eventData } : {}),
    };
    switch (op.kind) {
      case 'command': {
        const { command } = op;
        if (command.type === 'update') await requireOwnLeads(scope, userId, [command.patch.leadId]);
        const change = await scope.threads.update(
          userId,
          command.threadId,
          planCommand(command, meta.at),
          writeMeta,
        );
        if (!change) throw threadNotFound(command.threadId);
        return { changes: [change], result: change.thread };
      }
      case 'create': {
        const { input } = op;
        await requireOwnLeads(scope, userId, [input.leadId]);
        const fields = planCreate(input, meta.at);
        if (op.upsert) {
          const [change] = await scope.threads.upsertMany(
            userId,
            [onlyGiven(input, fields)],
            'upserted',
            writeMeta,
          );
          if (change) return { changes: [change], result: change.thread };
          const existing = await scope.threads.get(userId, input.threadId);
          if (!existing) throw threadNotFound(input.threadId);
          return { changes: [], result: existing };
        }
        const change = await scope.threads.insert(userId, fields, writeMeta);
        if (!change) {
          throw new AppError('THREAD_EXISTS', `Thread ${JSON.stringify(input.threadId)} is already tracked`);
        }
        return { changes: [change], result: change.thread };
      }
      case 'purge': {
        const change = await scope.threads.purge(userId, op.threadId, writeMeta);
        if (!change) throw threadNotFound(op.threadId);
        return { changes: [change], result: change.thread, purged: true };
      }
      case 'batchUpsert': {
        const run = async (s: StoreScope) => {
          await requireOwnLeads(
            s,
            userId,
            op.inputs.map((input) => input.leadId),
          );
          return s.threads.upsertMany(
            userId,
            op.inputs.map((input) => onlyGiven(input, planCreate(input, meta.at))),
            'upserted',
            writeMeta,
          );
        };
        const changes = scope !== this.#store ? await run(scope) : await this.#store.transaction(run);
        const created = changes.filter((c) => c.event.type === 'created').length;
        return {
          changes,
          result: {
            created,
            updated: changes.length - created,
            unchanged: op.inputs.length - changes.length,
            threads: changes.map((c) => c.thread),
          },
        };
      }
      case 'bulk': {
        const run = async (s: StoreScope) => {
          const changes: ThreadChange[] = [];
          const notFound: string[] = [];
          for (const threadId of op.threadIds) {
            const change = await s.threads.update(
              userId,
              threadId,
              planCommand({ type: op.action, threadId }, meta.at),
              writeMeta,
            );
            if (change) changes.push(change);
            else notFound.push(threadId);
          }
          return { changes, notFound };
        };
        const { changes, notFound } =
          scope !== this.#store ? await run(scope) : await this.#store.transaction(run);
        return { changes, result: { updated: changes.map((c) => c.thread), notFound } };
      }
    }
  }

  async #afterCommit(userId: string, changes: ThreadChange[], purged: boolean): Promise<void> {
    if (changes.length === 0) return;
    for (const { thread } of changes) {
      const version = versionOf(thread.updatedAt);
      // A purge leaves a tombstone one microsecond newer than the last row, so no reader can resurrect the row.
      const value = purged ? null : JSON.stringify(thread);
      await this.#cacheWrite(() =>
        this.#cache.setVersioned(
          threadKey(userId, thread.threadId),
          value,
          purged ? version + 1 : version,
          this.#config.cacheTtlSeconds,
          { invalidate: true },
        ),
      );
    }
    await this.#cacheWrite(() => this.#cache.incr(generationKey(userId)));
    this.#events.publish(changes.map((c) => c.event));
  }

  async #cacheRead<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      this.#log.warn({ err: error }, 'cache read failed; using the database');
      return undefined;
    }
  }

  async #cacheWrite(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.#log.warn({ err: error }, 'cache update failed after commit');
    }
  }
}

interface Applied {
  changes: ThreadChange[];
  result: unknown;
  purged?: boolean;
}

/** The database cannot answer now (down, frozen, or the breaker keeps callers off it). */
export function isDatabaseUnavailable(error: unknown): boolean {
  return error instanceof AppError && (error.code === 'DB_UNAVAILABLE' || error.code === 'DB_TIMEOUT');
}

function withListDefaults(filters: ListFilters): ThreadQuery {
  return { sort: 'lastActivity', order: 'desc', limit: 50, ...filters } as ThreadQuery;
}

/**
 * A thread may link only to a lead of its own user: the foreign key alone would accept another user's lead, and an
 * unknown id would surface as a constraint violation instead of LEAD_NOT_FOUND.
 */
async function requireOwnLeads(
  scope: StoreScope,
  userId: string,
  leadIds: (string | null | undefined)[],
): Promise<void> {
  for (const leadId of new Set(leadIds)) {
    if (typeof leadId !== 'string') continue;
    if (!(await scope.leads.get(userId, leadId))) {
      throw new AppError('LEAD_NOT_FOUND', `Lead ${JSON.stringify(leadId)} was not found`, {
        details: [{ path: 'leadId', message: 'no lead with this id belongs to the caller' }],
      });
    }
  }
}

function afterId(options: { afterId?: string }): { afterId?: string } {
  return options.afterId === undefined ? {} : { afterId: options.afterId };
}

/**
 * For upserts: the planned row restricted to the fields the caller gave (plus the columns that must move with
 * them), so that updating an existing thread leaves everything else as it was.
 */
function onlyGiven(input: ThreadCreate, planned: NewThread): NewThread {
  const out: NewThread = { threadId: planned.threadId };
  const copy = (key: keyof NewThread) => {
    (out as Record<string, unknown>)[key] = planned[key];
  };
  for (const key of Object.keys(input) as (keyof ThreadCreate)[]) {
    if (input[key] === undefined || key === 'threadId') continue;
    copy(key);
    if (key === 'hidden') copy('hiddenAt');
    if (key === 'status') copy('archivedAt');
    if (key === 'followupScheduledAt') copy('followupScheduled');
  }
  return out;
}
