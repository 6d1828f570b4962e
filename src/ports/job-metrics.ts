/**
 * What background work reports for monitoring (the sync runner, the follow-up worker, cleanup). The metrics module
 * implements it over prom-client; without metrics the no-op below stands in, so a worker never checks whether
 * metrics are on. Every method is O(1) and never throws.
 */
export type FollowupSendOutcome = 'sent' | 'drafted' | 'failed' | 'skipped';

export interface JobMetrics {
  /** One run of a job ended (counted by outcome, timed, and on success its time kept as the last success). */
  runFinished(job: string, outcome: 'success' | 'failure', durationSeconds: number): void;
  /** Items a run handled (threads synced, rows purged…), added to a per-job counter. */
  items(job: string, item: string, count: number): void;
  /**
   * The mailbox of an account is synced up to `at`; the lag is computed when scraped (now − at), so a sync that
   * stops shows a growing lag. `null` forgets the account (disconnected).
   */
  syncedUpTo(accountId: string, at: Date | null): void;
  /** Follow-ups due and not yet sent, as the worker last counted them. */
  followupQueueDepth(depth: number): void;
  followupSent(outcome: FollowupSendOutcome): void;
}

export const noopJobMetrics: JobMetrics = {
  runFinished: () => {},
  items: () => {},
  syncedUpTo: () => {},
  followupQueueDepth: () => {},
  followupSent: () => {},
};
