/**
 * What the automated cleanup needs: the record of its runs, and the few whole-table operations no request makes.
 * `MailThreadExistence` is implemented by mail sync: cleanup asks it which mailbox threads no longer exist.
 */
import type { ThreadEvent } from '../domain/thread.ts';

export type MaintenanceTrigger = 'schedule' | 'manual';
export type MaintenanceStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface MaintenanceRun {
  id: string;
  kind: string;
  trigger: MaintenanceTrigger;
  dryRun: boolean;
  status: MaintenanceStatus;
  startedAt: string;
  finishedAt: string | null;
  result: Record<string, unknown>;
  error: string | null;
}

export interface PurgedThread {
  userId: string;
  threadId: string;
  /** The row's last version (its updated_at), which the cache's tombstone must outrank. */
  updatedAt: string;
  event: ThreadEvent;
}

export interface StartRun {
  kind: string;
  trigger: MaintenanceTrigger;
  dryRun: boolean;
  staleAfterMs: number;
  notStartedSince?: string;
}

export interface MaintenanceStore {
  /**
   * Records a new run as `running`, unless another run of `kind` is running (started within `staleAfterMs`; an
   * older one is taken for abandoned and marked failed) or, when `notStartedSince` is given, one started after it
   * (another instance just did the work). Serialized across instances by an advisory lock.
   */
  startRun(run: StartRun): Promise<MaintenanceRun | undefined>;
  finishRun(
    id: string,
    outcome: { status: MaintenanceStatus; result: object; error?: string },
  ): Promise<void>;
  /** The most recent runs of `kind`, newest first. */
  runs(kind: string, limit: number): Promise<MaintenanceRun[]>;
  /** Threads with status `deleted` whose row last changed before `before`. */
  countDeletedBefore(before: string): Promise<number>;
  /**
   * Removes up to `limit` of those threads (re-checked under lock, so a thread restored meanwhile stays), each with
   * a `purged` event in the same statement.
   */
  purgeDeletedBefore(before: string, limit: number): Promise<PurgedThread[]>;
  countEventsBefore(before: string): Promise<number>;
  /** Removes up to `limit` events created before `before`, oldest first; returns how many. */
  deleteEventsBefore(before: string, limit: number): Promise<number>;
  countIdempotencyKeysBefore(before: string): Promise<number>;
  /** Thread ids of a user's threads that are not deleted, in thread id order, after `afterThreadId`. */
  liveThreadIds(userId: string, afterThreadId: string | undefined, limit: number): Promise<string[]>;
}

/** Implemented by mail sync; absent when no mail account is configured (the orphan step is then skipped). */
export interface MailThreadExistence {
  /** Users with a connected mailbox whose threads can be checked. */
  usersWithMailbox(): Promise<string[]>;
  /**
   * Of these mailbox thread ids of the user, the ones that no longer exist in the mailbox. Ids the mailbox does not
   * know how to check (another account's, entered by hand) are never returned. Throws when the mailbox cannot be
   * asked now; nothing is marked then.
   */
  missingThreads(userId: string, threadIds: string[]): Promise<string[]>;
}
