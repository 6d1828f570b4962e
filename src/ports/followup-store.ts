/**
 * Persistence of the follow-up engine (tables of migration 0005), in small ports: policies and templates, the jobs
 * the worker claims, the engine's plans, and open tracking.
 *
 * A worker holds a job through a Lease (its owner name and the attempt number of its claim). Every write a worker
 * makes to a job is conditional on that lease, so a worker whose lease expired and was taken over can no longer
 * change the job: it finds out (the write returns false) and stops.
 */
import type { FollowupTemplate } from '../domain/followup-draft.ts';
import type { OpenVerdict, PixelLoad } from '../domain/followup-open-tracking.ts';
import type { FollowupMode, FollowupPolicy, FollowupPolicyInput } from '../domain/followup-policy.ts';
import type { ThreadEvent } from '../domain/thread.ts';

export interface StoredPolicy {
  /** The policy in force (the user's settings over the defaults). */
  policy: FollowupPolicy;
  /** What the user set; the rest is defaults. */
  input: FollowupPolicyInput;
  /** Automatic scheduling looks only at activity after this (null: never stored, nothing automatic yet). */
  autoSince: string | null;
  updatedAt: string | null;
}

export interface FollowupPolicyRepository {
  /** The user's policy, or the defaults (autoSince null) when none is stored. */
  get(userId: string): Promise<StoredPolicy>;
  /** Replaces the user's settings; turning automatic scheduling on (again) moves autoSince to `now`. */
  put(userId: string, input: FollowupPolicyInput, now: string): Promise<StoredPolicy>;
  /** Stores the default policy for users who have none (their automatic scheduling starts `now`). */
  ensure(userIds: readonly string[], now: string): Promise<void>;
  /** Users whose policy schedules follow-ups by itself, with their policies. */
  autoScheduling(): Promise<{ userId: string; policy: FollowupPolicy; autoSince: string }[]>;
  getTemplates(userId: string): Promise<FollowupTemplate[]>;
  putTemplates(userId: string, templates: readonly FollowupTemplate[]): Promise<FollowupTemplate[]>;
}

export type JobStatus = 'pending' | 'running' | 'sent' | 'drafted' | 'skipped' | 'cancelled' | 'failed';

export interface FollowupDelivery {
  mode: FollowupMode;
  accountId: string | null;
  messageId: string;
  providerMessageId: string | null;
  providerThreadId: string | null;
  draftId: string | null;
  deliveredAt: string;
  /** Found in the mailbox by its Message-ID after a crash, not delivered by this attempt. */
  recognised?: boolean;
}

export interface FollowupJob {
  id: string;
  userId: string;
  threadId: string;
  step: number;
  origin: 'policy' | 'manual';
  /** Operation id of the message: its Message-ID is systemMessageId(opId, domain) on every attempt. */
  opId: string;
  dueAt: string;
  notBefore: string;
  status: JobStatus;
  /** Claims so far (this one included, for a claimed job). */
  attempts: number;
  leaseOwner: string | null;
  leaseUntil: string | null;
  anchorAt: string | null;
  previousDraftAt: string | null;
  capDay: string | null;
  draft: { subject: string; body: string; drafter: string } | null;
  delivery: FollowupDelivery | null;
  reason: string | null;
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface Lease {
  owner: string;
  attempt: number;
}

export type AttemptOutcome =
  | 'sent'
  | 'drafted'
  | 'recognised'
  | 'skipped'
  | 'cancelled'
  | 'waiting'
  | 'failed'
  | 'retry';

export interface JobEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface FollowupJobRepository {
  /**
   * Creates a pending job for every active thread whose follow-up is due at `now`, unless its thread already has a
   * job that is pending or running, or this follow-up number was delivered. Returns how many were created.
   */
  materializeDue(now: string, limit: number): Promise<number>;
  /**
   * Claims up to `limit` jobs (pending and not before `now`, or running with an expired lease) with FOR UPDATE SKIP
   * LOCKED, leases them to `owner` for `leaseMs` (by the database clock) and records an attempt for each.
   */
  claim(owner: string, now: string, leaseMs: number, limit: number): Promise<FollowupJob[]>;
  /** Extends the lease to `leaseMs` from now (database clock); false when it is no longer this worker's. */
  renew(jobId: string, lease: Lease, leaseMs: number): Promise<boolean>;
  /** Keeps what this attempt learned (the draft, the mode, the counted day) on the job. */
  note(
    jobId: string,
    lease: Lease,
    patch: { draft?: FollowupJob['draft']; capDay?: string | null; lastError?: string | null },
  ): Promise<boolean>;
  /** Back to pending until `notBefore` (send window, daily cap, a temporary failure). */
  release(
    jobId: string,
    lease: Lease,
    notBefore: string,
    outcome: AttemptOutcome,
    detail: Record<string, unknown>,
  ): Promise<boolean>;
  /**
   * The message is in the mailbox: records the delivery and its thread event (with the job's operation id, once) in
   * one transaction. Returns the event, or null when the lease was lost.
   */
  deliver(
    jobId: string,
    lease: Lease,
    delivery: FollowupDelivery,
    event: JobEvent,
  ): Promise<ThreadEvent | null>;
  /** Ends the job (and its attempt) with a status and reason, and its thread event when given. */
  finish(
    jobId: string,
    lease: Lease,
    status: Exclude<JobStatus, 'pending' | 'running'>,
    outcome: AttemptOutcome,
    detail: Record<string, unknown>,
    event?: JobEvent,
  ): Promise<{ finished: boolean; event: ThreadEvent | null }>;
  /**
   * Counts the job against the user's daily cap for `day` (at most `cap` jobs per day), serialized per user.
   * A job already counted for that day stays counted. False when the day is full.
   */
  reserveDailySlot(jobId: string, lease: Lease, userId: string, day: string, cap: number): Promise<boolean>;
  /**
   * Earlier attempts of the job that failed: ended for a retry, or abandoned by a worker that died. Waiting for the
   * send window or the daily cap is not a failure.
   */
  failures(jobId: string): Promise<number>;
  /** Follow-ups due now and not yet delivered (the queue depth metric). */
  depth(now: string): Promise<number>;
  /** The soonest moment after `now` at which a follow-up falls due or a waiting job may be claimed, if any. */
  nextDueAfter(now: string): Promise<string | null>;
  /** The latest job of each thread (for GET /followups and previews). */
  latestForThreads(userId: string, threadIds: readonly string[]): Promise<Map<string, FollowupJob>>;
}

export interface FollowupPlan {
  userId: string;
  threadId: string;
  /** The thread activity this plan is for (each activity is planned once). */
  activityAt: string;
  step: number;
  outcome: 'scheduled' | 'skipped';
  scheduledAt: string | null;
  anchorAt: string | null;
  anchorKind: 'message' | 'followup' | null;
  delayBusinessDays: number | null;
  reason: string | null;
}

export interface PlanCandidate {
  threadId: string;
  lastActivity: string;
  followupCount: number;
}

export interface ScheduledFollowupRow {
  threadId: string;
  subject: string | null;
  participants: string[];
  scheduledAt: string;
  due: boolean;
  followupCount: number;
}

export interface FollowupPlanRepository {
  /**
   * Threads of the user the engine should look at: active, tracked, visible, nothing scheduled, under the cap,
   * activity after `since`, and nothing planned or decided about follow-ups since their latest activity.
   */
  candidates(userId: string, since: string, maxFollowups: number, limit: number): Promise<PlanCandidate[]>;
  record(plan: FollowupPlan): Promise<void>;
  /** When the thread's follow-up was last cancelled (by the user or the engine), or null. */
  lastCancelledAt(userId: string, threadId: string): Promise<string | null>;
  /** The engine's plan behind each thread's current schedule, when the engine scheduled it. */
  forSchedules(
    userId: string,
    schedules: readonly { threadId: string; scheduledAt: string }[],
  ): Promise<Map<string, FollowupPlan>>;
  /** The user's scheduled follow-ups (the followup_schedule view), soonest first. */
  schedule(userId: string, limit: number): Promise<ScheduledFollowupRow[]>;
}

export interface TrackingPixel {
  token: string;
  userId: string;
  threadId: string;
  sentAt: string | null;
}

export interface OpenTrackingRepository {
  /** The pixel of a job's message, created once (the same token on every attempt). */
  pixelForJob(jobId: string, userId: string, threadId: string, token: string): Promise<TrackingPixel>;
  /** The message went out: loads are recorded from now on. */
  markSent(token: string, messageId: string, sentAt: string): Promise<void>;
  /**
   * Records a load of a pixel with its verdict; a first counted open also records a `followup_opened` event in the
   * same transaction. Undefined for an unknown token or a message not sent.
   */
  recordLoad(
    token: string,
    load: Omit<PixelLoad, 'sentAt'>,
    classify: (load: PixelLoad) => OpenVerdict,
  ): Promise<
    { pixel: TrackingPixel; firstOpen: boolean; verdict: OpenVerdict; event: ThreadEvent | null } | undefined
  >;
  /** Sent pixels of a thread and how many of them were opened. */
  threadStats(userId: string, threadId: string): Promise<{ tracked: number; opened: number }>;
}
