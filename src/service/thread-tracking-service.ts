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
 */
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
import type { Cache } from '../ports/cache.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventBus } from '../ports/event-bus.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';
import type { NewThread, Store, StoreScope, ThreadChange } from '../ports/store.ts';
import { JsonResult } from './json-result.ts';
import {
  allPattern,
  generationKey,
  listKey,
  readGeneration,
  threadKey,
  userPattern,
  versionOf,
} from './thread-cache.ts';

export interface WriteOptions {
  /** With a key, the write and its response commit together; a retry with the same key replays the response. */
  idempotencyKey?: string;
  /** Hash of the request (method, route, body): the same key with another request is refused. */
  requestHash?: string;
  /** HTTP status stored with the response, for replays. */
  responseStatus?: number;
  /** Called when the response is a replay of an earlier request with the same key. */
  onReplay?: () => void;
}

export interface ServiceConfig {
  /** Seconds a cached thread or list stays valid. */
  cacheTtlSeconds: number;
  /** Largest batch accepted by batchUpsert and bulk actions. */
  batchSize: number;
}

export interface ServiceDeps {
  store: Store;
  cache: Cache;
  clock: Clock;
  events: EventBus;
  config: ServiceConfig;
  logger?: Logger;
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

  constructor(deps: ServiceDeps) {
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
    const cached = await this.#cacheRead(() => this.#cache.getVersioned(key));
    if (cached) return new JsonResult<Thread>(cached.value);
    const thread = await this.#store.threads.get(userId, threadId);
    if (!thread) throw threadNotFound(threadId);
    const result = JsonResult.of(thread);
    await this.#cacheWrite(() =>
      this.#cache.setVersioned(key, result.json, versionOf(thread.updatedAt), this.#config.cacheTtlSeconds),
    );
    return result;
  }

  async getThread(userId: string, threadId: string): Promise<Thread> {
    return (await this.getThreadResult(userId, threadId)).value;
  }

  async listThreadsResult(userId: string, query: ThreadQuery): Promise<JsonResult<ThreadPage>> {
    const after = query.cursor ? decodeCursor(query.cursor, query.sort, query.order) : undefined;
    const generation = await this.#cacheRead(() => readGeneration(this.#cache, userId));
    const key = generation === undefined ? undefined : listKey(userId, generation, 'l', query);
    if (key) {
      const cached = await this.#cacheRead(() => this.#cache.get(key));
      if (cached !== undefined) return new JsonResult<ThreadPage>(cached);
    }
    const { cursor: _cursor, ...filters } = query;
    const { items, hasMore } = await this.#store.threads.list(userId, {
      ...filters,
      ...(after ? { after } : {}),
    });
    const last = items.at(-1);
    const nextCursor =
      hasMore && last
        ? encodeCursor({
            sort: query.sort,
            order: query.order,
            value: query.sort === 'createdAt' ? last.createdAt : last.lastActivity,
            id: last.id,
          })
        : null;
    const result = JsonResult.of<ThreadPage>({ items, nextCursor });
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
    return this.#write(userId, options, async (scope) => {
      await requireOwnLeads(scope, userId, [input.leadId]);
      const fields = planCreate(input, this.#nowIso());
      if (options.upsert) {
        const [change] = await scope.threads.upsertMany(userId, [onlyGiven(input, fields)]);
        if (change) return { changes: [change], result: change.thread };
        const existing = await scope.threads.get(userId, input.threadId);
        if (!existing) throw threadNotFound(input.threadId);
        return { changes: [], result: existing };
      }
      const change = await scope.threads.insert(userId, fields);
      if (!change) {
        throw new AppError('THREAD_EXISTS', `Thread ${JSON.stringify(input.threadId)} is already tracked`);
      }
      return { changes: [change], result: change.thread };
    });
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
    return this.#write(userId, options, async (scope) => {
      const change = await scope.threads.purge(userId, threadId);
      if (!change) throw threadNotFound(threadId);
      return { changes: [change], result: change.thread, purged: true };
    });
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
    return this.#write(userId, options, async (scope) => {
      const now = this.#nowIso();
      const run = async (s: StoreScope) => {
        await requireOwnLeads(
          s,
          userId,
          inputs.map((input) => input.leadId),
        );
        return s.threads.upsertMany(
          userId,
          inputs.map((input) => onlyGiven(input, planCreate(input, now))),
        );
      };
      const changes = scope !== this.#store ? await run(scope) : await this.#store.transaction(run);
      const created = changes.filter((c) => c.event.type === 'created').length;
      return {
        changes,
        result: {
          created,
          updated: changes.length - created,
          unchanged: inputs.length - changes.length,
          threads: changes.map((c) => c.thread),
        },
      };
    });
  }

  /** Applies hide / unhide / archive / unarchive to many threads in one transaction. */
  async bulkAction(
    userId: string,
    action: BulkAction,
    threadIds: string[],
    options: WriteOptions = {},
  ): Promise<BulkResult> {
    this.#checkBatch(threadIds.length);
    const unique = [...new Set(threadIds)];
    return this.#write(userId, options, async (scope) => {
      const run = async (s: StoreScope) => {
        const now = this.#nowIso();
        const changes: ThreadChange[] = [];
        const notFound: string[] = [];
        for (const threadId of unique) {
          const change = await s.threads.update(
            userId,
            threadId,
            planCommand({ type: action, threadId }, now),
          );
          if (change) changes.push(change);
          else notFound.push(threadId);
        }
        return { changes, notFound };
      };
      const { changes, notFound } =
        scope !== this.#store ? await run(scope) : await this.#store.transaction(run);
      return { changes, result: { updated: changes.map((c) => c.thread), notFound } };
    });
  }

  /**
   * Deletes a lead. Its threads stay, unlinked by the foreign key (ON DELETE SET NULL) in the same statement; the
   * database changes them without a thread command, so the user's cached threads and lists are dropped after commit.
   */
  async deleteLead(userId: string, leadId: string, options: WriteOptions = {}): Promise<void> {
    await this.#write(userId, options, async (scope) => {
      if (!(await scope.leads.delete(userId, leadId))) {
        throw new AppError('LEAD_NOT_FOUND', `Lead ${JSON.stringify(leadId)} was not found`);
      }
      return { changes: [], result: null };
    });
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
    const mutation = planCommand(command, this.#nowIso());
    return this.#write(userId, options, async (scope) => {
      if (command.type === 'update') await requireOwnLeads(scope, userId, [command.patch.leadId]);
      const change = await scope.threads.update(userId, command.threadId, mutation);
      if (!change) throw threadNotFound(command.threadId);
      return { changes: [change], result: change.thread };
    });
  }

  /**
   * Runs a write; with an idempotency key, inside one transaction with the key's claim and stored response.
   * After commit: cache update and event fan-out.
   */
  async #write<T>(
    userId: string,
    options: WriteOptions,
    work: (scope: StoreScope) => Promise<{ changes: ThreadChange[]; result: T; purged?: boolean }>,
  ): Promise<T> {
    if (!options.idempotencyKey) {
      const outcome = await work(this.#store);
      await this.#afterCommit(userId, outcome.changes, outcome.purged ?? false);
      return outcome.result;
    }
    const key = options.idempotencyKey;
    const requestHash = options.requestHash ?? '';
    type Outcome = { replay: T } | { done: { changes: ThreadChange[]; result: T; purged?: boolean } };
    const outcome = await this.#store.transaction(async (scope): Promise<Outcome> => {
      const claim = await scope.idempotency.claim(userId, key, requestHash);
      if (claim.state !== 'claimed' && claim.requestHash !== requestHash) {
        throw new AppError(
          'IDEMPOTENCY_KEY_REUSED',
          'This Idempotency-Key was already used with a different request',
        );
      }
      if (claim.state === 'in_progress') {
        throw new AppError(
          'IDEMPOTENCY_KEY_IN_USE',
          'A request with this Idempotency-Key is still in progress',
          {
            retryAfter: 1,
          },
        );
      }
      if (claim.state === 'completed') return { replay: claim.response.body as T };
      const done = await work(scope);
      await scope.idempotency.complete(userId, key, {
        status: options.responseStatus ?? 200,
        body: done.result,
      });
      return { done };
    });
    if ('replay' in outcome) {
      options.onReplay?.();
      return outcome.replay as T;
    }
    await this.#afterCommit(userId, outcome.done.changes, outcome.done.purged ?? false);
    return outcome.done.result;
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
