/**
 * The persistence ports the service owns. Adapters (PGlite, PostgreSQL) implement them with one set of SQL.
 * Every change returns the row after the change and the event written with it in the same transaction.
 */
import type { AnalyticsAggregates, AnalyticsRange } from '../domain/analytics.ts';
import type { ThreadFields, ThreadMutation } from '../domain/commands.ts';
import type { CursorPosition } from '../domain/cursor.ts';
import type {
  Lead,
  LeadCreate,
  LeadPatch,
  Thread,
  ThreadEvent,
  ThreadEventType,
  ThreadQuery,
} from '../domain/thread.ts';

export interface ThreadChange {
  thread: Thread;
  event: ThreadEvent;
}

export interface ListThreadsQuery extends Omit<ThreadQuery, 'cursor'> {
  after?: CursorPosition;
}

export type NewThread = ThreadFields & { threadId: string };

/** The write's operation id, stored with its events: the same operation can never be applied twice. */
export interface WriteMeta {
  opId?: string;
  /** Merged into the data of every event the write records (e.g. when a queued write was accepted). */
  eventData?: Record<string, unknown>;
}

export interface ThreadRepository {
  get(userId: string, threadId: string): Promise<Thread | undefined>;
  /** One page, in the query's order; `hasMore` says whether a row follows the last one returned. */
  list(userId: string, query: ListThreadsQuery): Promise<{ items: Thread[]; hasMore: boolean }>;
  /** The same page as JSON text built by the database, and the position of its last item (for the cursor). */
  listJson(
    userId: string,
    query: ListThreadsQuery,
  ): Promise<{ itemsJson: string; hasMore: boolean; last: { value: string | null; id: string } | null }>;
  /** Inserts; `undefined` when (user_id, thread_id) already exists. */
  insert(userId: string, thread: NewThread, meta?: WriteMeta): Promise<ThreadChange | undefined>;
  /** Inserts or replaces the given fields of each thread (the sync and import path), in one transaction. */
  upsertMany(
    userId: string,
    threads: NewThread[],
    eventType?: ThreadEventType,
    meta?: WriteMeta,
  ): Promise<ThreadChange[]>;
  /** `undefined` when the thread does not exist; THREAD_STATE_CONFLICT when `requireStatus` does not hold. */
  update(
    userId: string,
    threadId: string,
    mutation: ThreadMutation,
    meta?: WriteMeta,
  ): Promise<ThreadChange | undefined>;
  /** Removes the row; the event stays in the history. */
  purge(userId: string, threadId: string, meta?: WriteMeta): Promise<ThreadChange | undefined>;
  /** Appends events that record something other than a change (a queued write that no longer applied). */
  appendEvents(
    userId: string,
    events: { threadId: string; type: string; data: Record<string, unknown> }[],
  ): Promise<void>;
  /** Whether an operation with this id has written anything for the user. */
  applied(userId: string, opId: string): Promise<boolean>;
  /** The newest event id of a user (a resume point for a client that starts fresh). */
  lastEventId(userId: string): Promise<string | null>;
  listEvents(
    userId: string,
    query: { threadId?: string; afterId?: string; limit: number },
  ): Promise<ThreadEvent[]>;
  /** The most recently active threads of all users (cache warming). */
  recent(limit: number): Promise<Thread[]>;
  /** Aggregates of threads created in the range (see the README for each figure's definition). */
  aggregate(userId: string, range: AnalyticsRange): Promise<AnalyticsAggregates>;
}

export interface LeadRepository {
  get(userId: string, id: string): Promise<Lead | undefined>;
  list(userId: string, query: { q?: string; limit: number; afterId?: string }): Promise<Lead[]>;
  insert(userId: string, lead: LeadCreate): Promise<Lead>;
  update(userId: string, id: string, patch: LeadPatch): Promise<Lead | undefined>;
  delete(userId: string, id: string): Promise<boolean>;
  findByEmails(userId: string, emails: string[]): Promise<Lead[]>;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

export type IdempotencyClaim =
  | { state: 'claimed' }
  | { state: 'completed'; requestHash: string; response: StoredResponse }
  | { state: 'in_progress'; requestHash: string };

export interface IdempotencyRepository {
  /**
   * Claims a key inside the current transaction. A concurrent claim of the same key waits for this transaction
   * (unique index), then sees it completed, so a retried request can never be applied twice.
   */
  claim(userId: string, key: string, requestHash: string): Promise<IdempotencyClaim>;
  complete(userId: string, key: string, response: StoredResponse): Promise<void>;
  purgeExpired(olderThan: string): Promise<number>;
}

export interface PoolStats {
  engine: 'pglite' | 'postgres';
  size: number;
  inUse: number;
  idle: number;
  waiting: number;
}

export interface StoreScope {
  threads: ThreadRepository;
  leads: LeadRepository;
  idempotency: IdempotencyRepository;
}

export interface Store extends StoreScope {
  /** Runs `fn` in one transaction; everything done through the given scope commits or rolls back together. */
  transaction<T>(fn: (scope: StoreScope) => Promise<T>): Promise<T>;
  ping(): Promise<number>;
  poolStats(): PoolStats;
  close(): Promise<void>;
}
