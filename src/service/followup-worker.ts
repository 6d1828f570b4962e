/**
 * The follow-up worker: runs inside `serve` and as `thread-tracker worker`, any number of them on one database.
 *
 * Each tick: schedule follow-ups the policy calls for (plan), turn due schedules into jobs (materialize), then claim
 * jobs with a lease (FOR UPDATE SKIP LOCKED) and act on each:
 *   1. re-check the stored thread (still scheduled for this step, tracked, visible, active) and the send window;
 *   2. open the thread's mailbox; after a crash, look the message up by its Message-ID first: a message that went
 *      out is recognised, never sent again;
 *   3. re-check the mailbox (the user's message is the latest; a reply or a bounce since stops it, an auto-reply
 *      does not), draft (kept on the job, so a retry sends the same text), count it against the daily cap;
 *   4. right before acting, re-check the thread and the mailbox again and renew the lease; then create a draft in
 *      the mailbox (mode `draft`) or send in the thread (mode `send`) with In-Reply-To, References and the job's
 *      deterministic Message-ID;
 *   5. record the delivery and its event (one transaction), then through ThreadTrackingService (so cache and live
 *      events stay right, each write with an idempotency key of its own so a repeat applies once): schedule the
 *      next step or end the sequence, mark the thread, count the follow-up; then close the job.
 * A job stays `running` from its claim to its last record: a worker killed at any point leaves it to be taken over
 * when its lease expires, and the next attempt resumes from what was recorded (step 5 after a delivery).
 * While the database is unavailable the worker does nothing.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { systemMessageId } from '../domain/detection.ts';
import { AppError } from '../domain/errors.ts';
import { type DraftContext, detectLanguage } from '../domain/followup-draft.ts';
import {
  checkMailbox,
  checkSendWindow,
  checkThreadState,
  computeDueAt,
  delayForStep,
  type FollowupDecision,
  type FollowupPolicy,
  type JobFacts,
  localDay,
  nextSendSlot,
  startOfNextLocalDay,
} from '../domain/followup-policy.ts';
import type { Thread } from '../domain/thread.ts';
import type { Clock } from '../ports/clock.ts';
import type { Drafter } from '../ports/drafter.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type { FollowupMailboxes, ThreadMailbox, ThreadMessage } from '../ports/followup-mailbox.ts';
import type {
  FollowupDelivery,
  FollowupJob,
  FollowupJobRepository,
  FollowupPlanRepository,
  FollowupPolicyRepository,
  JobEvent,
  Lease,
  OpenTrackingRepository,
} from '../ports/followup-store.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';
import type { OutgoingMessage } from '../ports/mail-provider.ts';
import type { Store } from '../ports/store.ts';
import type { LoopHandle } from './job-loops.ts';
import type { Jobs } from './job-runs.ts';
import { isDatabaseUnavailable, type ThreadTrackingService } from './thread-tracking-service.ts';

export interface FollowupWorkerSettings {
  /** Time between polls when there is nothing to do. */
  intervalMs: number;
  /** How long a claim holds a job without renewal. */
  leaseMs: number;
  /** Jobs acted on at once. */
  concurrency: number;
  /** Failed attempts after which a job fails for good. */
  maxAttempts: number;
  /** Threads per user looked at by one planning pass. */
  planLimit: number;
  /** Base URL of the open-tracking pixel (PUBLIC_BASE_URL); unset = no open tracking. */
  trackingBaseUrl?: string | undefined;
  /** Name of this worker in leases and logs (default: host:pid:random). */
  workerId?: string;
}

export interface FollowupWorkerDeps {
  store: Store;
  service: ThreadTrackingService;
  policies: FollowupPolicyRepository;
  jobs: FollowupJobRepository;
  plans: FollowupPlanRepository;
  tracking: OpenTrackingRepository;
  mailboxes: FollowupMailboxes;
  drafter: Drafter;
  events: EventBus;
  clock: Clock;
  background: Jobs;
  logger?: Logger;
  databaseAvailable: () => boolean;
  settings: FollowupWorkerSettings;
}

export interface TickResult {
  planned: number;
  claimed: number;
  outcomes: Record<string, number>;
}

/** A follow-up in the mailbox, and what recording it needs. */
interface Delivered {
  job: FollowupJob;
  lease: Lease;
  delivery: FollowupDelivery;
  policy: FollowupPolicy;
  thread: Thread | undefined;
  drafter: string;
  log: Logger;
}

/** A job's processing ended early with this outcome (thrown inside, caught by #process). */
class Stop extends Error {
  constructor(readonly outcome: string) {
    super(outcome);
  }
}

const RETRY_BASE_MS = 30_000;
const MATERIALIZE_LIMIT = 1000;
const MATERIALIZE_EVERY = 50;
/** The shortest wait between passes, and the margin after a due time. */
const MIN_WAKE_MS = 10;
const RETRY_MAX_MS = 3_600_000;
const SERVICE_HASH = 'followup-worker';

export class FollowupWorker {
  readonly #deps: FollowupWorkerDeps;
  readonly #log: Logger;
  readonly #owner: string;
  #timer: NodeJS.Timeout | undefined;
  #loop: LoopHandle | undefined;
  #running: Promise<unknown> | undefined;
  #stopping = false;
  #paused = false;

  constructor(deps: FollowupWorkerDeps) {
    this.#deps = deps;
    this.#log = deps.logger ?? silentLogger;
    this.#owner = deps.settings.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  }

  get owner(): string {
    return this.#owner;
  }

  /** Starts polling (serve, worker). */
  start(): void {
    if (this.#timer || this.#loop) return;
    this.#stopping = false;
    this.#loop = this.#deps.background.loops.register('followups', {
      intervalMs: this.#deps.settings.intervalMs,
    });
    const poll = async () => {
      this.#timer = undefined;
      if (this.#stopping) return;
      this.#running = this.tick().catch((error: unknown) => {
        this.#loop?.tick({ error });
        this.#log.error({ err: error }, 'follow-up worker: the tick failed');
      });
      await this.#running;
      this.#running = undefined;
      if (!this.#stopping) {
        const delay = await this.#untilNextDue();
        if (this.#stopping) return;
        this.#timer = setTimeout(() => void poll(), delay);
        this.#timer.unref();
      }
    };
    this.#timer = setTimeout(() => void poll(), 0);
    this.#timer.unref();
  }

  /**
   * How long to wait before the next pass: the poll interval, or less when a follow-up falls due (or a waiting job
   * may be claimed) sooner, so that it is not late by up to a whole interval.
   */
  async #untilNextDue(): Promise<number> {
    const { intervalMs } = this.#deps.settings;
    try {
      if (!this.#deps.databaseAvailable()) return intervalMs;
      const now = this.#deps.clock.now();
      const next = await this.#deps.jobs.nextDueAfter(now.toISOString());
      if (next === null) return intervalMs;
      return Math.min(intervalMs, Math.max(MIN_WAKE_MS, Date.parse(next) - now.getTime() + MIN_WAKE_MS));
    } catch {
      return intervalMs;
    }
  }

  /** Stops polling and waits for the jobs in hand (no lane claims another). */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    this.#loop?.stop();
    this.#loop = undefined;
  }

  /**
   * One pass: plan, materialize due schedules, then claim and act until nothing is claimable (or the worker is
   * stopping). Tests call it directly.
   */
  async tick(): Promise<TickResult> {
    const result: TickResult = { planned: 0, claimed: 0, outcomes: {} };
    const { settings, jobs, clock, databaseAvailable } = this.#deps;
    if (!databaseAvailable()) {
      if (!this.#paused) this.#log.warn('follow-up worker paused: the database is unavailable');
      this.#paused = true;
      this.#loop?.tick();
      return result;
    }
    if (this.#paused) this.#log.info('follow-up worker resumed: the database answers again');
    this.#paused = false;
    result.planned = await this.#plan();
    const now = () => clock.now().toISOString();
    await jobs.materializeDue(now(), MATERIALIZE_LIMIT);
    this.#deps.background.metrics.followupQueueDepth(await jobs.depth(now()));
    // Each lane claims one job at a time and acts on it at once: nothing claimed waits in a queue while its lease
    // runs, and a job left by a dead worker is taken over at the next claim of any lane once its lease ends.
    let claimsSinceMaterialize = 0;
    const lane = async () => {
      while (!this.#stopping && databaseAvailable()) {
        const [job] = await jobs.claim(this.#owner, now(), settings.leaseMs, 1);
        if (!job) return;
        result.claimed++;
        this.#deps.background.metrics.items('followups', 'claimed', 1);
        const outcome = await this.#run(job);
        result.outcomes[outcome] = (result.outcomes[outcome] ?? 0) + 1;
        // Schedules that fell due meanwhile (or whose job just closed) get their jobs on the way.
        if (++claimsSinceMaterialize >= MATERIALIZE_EVERY) {
          claimsSinceMaterialize = 0;
          await jobs.materializeDue(now(), MATERIALIZE_LIMIT);
        }
      }
    };
    await Promise.all(Array.from({ length: settings.concurrency }, lane));
    this.#loop?.tick();
    return result;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Planning: the first follow-up of a thread nobody answered

  async #plan(): Promise<number> {
    const { policies, plans, mailboxes, clock, settings } = this.#deps;
    const now = clock.now();
    await policies.ensure(await mailboxes.users(), now.toISOString());
    let planned = 0;
    for (const { userId, policy, autoSince } of await policies.autoScheduling()) {
      const candidates = await plans.candidates(userId, autoSince, policy.maxFollowups, settings.planLimit);
      for (const candidate of candidates) {
        if (this.#stopping) return planned;
        try {
          if (
            await this.#planThread(
              userId,
              candidate.threadId,
              candidate.lastActivity,
              candidate.followupCount,
              policy,
            )
          )
            planned++;
        } catch (error) {
          if (isDatabaseUnavailable(error)) throw error;
          this.#log.warn({ err: error, userId, threadId: candidate.threadId }, 'could not plan a follow-up');
        }
      }
    }
    return planned;
  }

  async #planThread(
    userId: string,
    threadId: string,
    activityAt: string,
    followupCount: number,
    policy: FollowupPolicy,
  ): Promise<boolean> {
    const { plans, mailboxes, service, clock } = this.#deps;
    const now = clock.now();
    const step = followupCount + 1;
    const mailbox = await mailboxes.open(userId, threadId);
    if (!mailbox) return false;
    const messages = await mailbox.messages();
    const facts: JobFacts = { step, origin: 'policy', anchorAt: null, previousDraftAt: null };
    const decision = checkMailbox(messages, facts, policy, now);
    // A follow-up cancelled after the user's latest message stays cancelled: new activity that is not the user's
    // (an auto-reply, a bounce) does not bring it back; a new message of the user does.
    const cancelledAt = await plans.lastCancelledAt(userId, threadId);
    const cancelled =
      decision.action === 'proceed' &&
      decision.parent !== undefined &&
      cancelledAt !== null &&
      Date.parse(cancelledAt) >= Date.parse(decision.parent.at);
    if (decision.action !== 'proceed' || !decision.parent || cancelled) {
      const reason = cancelled ? 'cancelled' : 'reason' in decision ? decision.reason : 'not_applicable';
      await plans.record({
        userId,
        threadId,
        activityAt,
        step,
        outcome: 'skipped',
        scheduledAt: null,
        anchorAt: null,
        anchorKind: null,
        delayBusinessDays: null,
        reason,
      });
      return false;
    }
    const anchor = decision.parent.at;
    const due = computeDueAt(new Date(anchor), step, policy, now);
    // Scheduled first, recorded second: a crash in between leaves a schedule without its reason, never a reason
    // without its schedule.
    await service.scheduleFollowup(userId, threadId, due.toISOString(), {
      idempotencyKey: `followup-plan:${threadId}:${activityAt}`,
      requestHash: SERVICE_HASH,
    });
    await plans.record({
      userId,
      threadId,
      activityAt,
      step,
      outcome: 'scheduled',
      scheduledAt: due.toISOString(),
      anchorAt: anchor,
      anchorKind: followupCount > 0 ? 'followup' : 'message',
      delayBusinessDays: delayForStep(policy, step),
      reason: null,
    });
    return true;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Acting on one job

  async #run(job: FollowupJob): Promise<string> {
    const { background } = this.#deps;
    try {
      return await background.run(
        'followup',
        { threadId: job.threadId, step: job.step, jobId: job.id, attempt: job.attempts },
        ({ log }) => this.#process(job, log),
      );
    } catch {
      return 'error';
    }
  }

  async #process(job: FollowupJob, log: Logger): Promise<string> {
    const lease = leaseOf(job);
    const { store, policies, clock } = this.#deps;
    try {
      const { policy } = await policies.get(job.userId);
      if (job.delivery) {
        // A previous attempt delivered and stopped before recording everything: finish the records.
        const thread = await store.threads.get(job.userId, job.threadId);
        const drafter = job.draft?.drafter ?? 'template';
        return await this.#record({ job, lease, delivery: job.delivery, policy, thread, drafter, log });
      }
      const now = clock.now();
      const facts = factsOf(job);
      const thread = await store.threads.get(job.userId, job.threadId);
      await this.#decide(job, lease, checkThreadState(thread, facts, policy, now), policy, log);
      await this.#decide(job, lease, checkSendWindow(policy, now), policy, log);

      const mailbox = await this.#deps.mailboxes.open(job.userId, job.threadId);
      if (!mailbox) throw new AppError('MAIL_NOT_FOUND', 'No connected mailbox holds this thread');
      const messageId = systemMessageId(job.opId, mailDomain(mailbox.address));
      if (job.attempts > 1) {
        // This job was claimed before: its message may be out already. Recognise it instead of sending again.
        const found = await mailbox.findByMessageId(messageId);
        if (found) {
          const delivery: FollowupDelivery = {
            mode: policy.mode,
            accountId: mailbox.accountId,
            messageId,
            providerMessageId: found.key,
            providerThreadId: found.providerThreadId,
            draftId: policy.mode === 'draft' ? found.key : null,
            deliveredAt: clock.now().toISOString(),
            recognised: true,
          };
          log.info(
            { messageId },
            'follow-up found in the mailbox after an interrupted attempt: not sent again',
          );
          if (policy.openTracking && policy.mode === 'send')
            await this.#markPixelSent(job, messageId, delivery.deliveredAt);
          const drafter = job.draft?.drafter ?? 'template';
          return await this.#delivered({ job, lease, delivery, policy, thread, drafter, log });
        }
      }
      const messages = await mailbox.messages();
      const first = checkMailbox(messages, facts, policy, now);
      await this.#decide(job, lease, first, policy, log);

      const draft = job.draft ?? (await this.#draft(job, thread!, first.parent!, policy, log));
      if (!job.draft) await this.#deps.jobs.note(job.id, lease, { draft });

      const day = localDay(now, policy.timeZone);
      if (!(await this.#deps.jobs.reserveDailySlot(job.id, lease, job.userId, day, policy.dailyCap))) {
        const until = nextSendSlot(startOfNextLocalDay(now, policy.timeZone), policy);
        await this.#decide(
          job,
          lease,
          { action: 'wait', until: until.toISOString(), reason: 'daily_cap' },
          policy,
          log,
        );
      }

      // Right before acting: the thread and the mailbox once more.
      const later = clock.now();
      await this.#decide(job, lease, checkSendWindow(policy, later), policy, log);
      const fresh = await store.threads.get(job.userId, job.threadId);
      await this.#decide(job, lease, checkThreadState(fresh, facts, policy, later), policy, log);
      const latest = checkMailbox(await mailbox.messages(), facts, policy, later);
      await this.#decide(job, lease, latest, policy, log);
      if (!(await this.#deps.jobs.renew(job.id, lease, this.#deps.settings.leaseMs)))
        throw new Stop('lease_lost');

      const outgoing = await this.#compose(job, mailbox, latest.parent!, draft, messageId, policy);
      const delivery = await this.#deliver(mailbox, outgoing, policy);
      if (outgoing.trackingToken) {
        await this.#deps.tracking.markSent(outgoing.trackingToken, messageId, delivery.deliveredAt);
      }
      return await this.#delivered({
        job,
        lease,
        delivery,
        policy,
        thread: fresh,
        drafter: draft.drafter,
        log,
      });
    } catch (error) {
      if (error instanceof Stop) return error.outcome;
      return this.#failed(job, lease, error, log);
    }
  }

  /** The pixel of a message recognised after a crash may not have been marked sent yet. */
  async #markPixelSent(job: FollowupJob, messageId: string, sentAt: string): Promise<void> {
    const pixel = await this.#deps.tracking.pixelForJob(
      job.id,
      job.userId,
      job.threadId,
      randomBytes(18).toString('base64url'),
    );
    await this.#deps.tracking.markSent(pixel.token, messageId, sentAt);
  }

  /** Acts on a decision other than proceed, then stops processing the job. */
  async #decide(
    job: FollowupJob,
    lease: Lease,
    decision: FollowupDecision,
    policy: FollowupPolicy,
    log: Logger,
  ): Promise<void> {
    if (decision.action === 'proceed') return;
    const { jobs, service, plans, events, clock } = this.#deps;
    const key = (what: string) => writeKey(job, what);
    switch (decision.action) {
      case 'wait': {
        await jobs.release(job.id, lease, decision.until, 'waiting', {
          reason: decision.reason,
          until: decision.until,
        });
        log.info({ reason: decision.reason, until: decision.until }, 'follow-up waits');
        throw new Stop(`waiting:${decision.reason}`);
      }
      case 'drop': {
        await jobs.finish(job.id, lease, 'cancelled', 'cancelled', { reason: decision.reason });
        log.info({ reason: decision.reason }, 'follow-up no longer asked for');
        throw new Stop(`dropped:${decision.reason}`);
      }
      case 'reschedule': {
        await ignoreGone(() =>
          service.scheduleFollowup(job.userId, job.threadId, decision.at, key('reschedule')),
        );
        await plans.record({
          userId: job.userId,
          threadId: job.threadId,
          activityAt: clock.now().toISOString(),
          step: job.step,
          outcome: 'scheduled',
          scheduledAt: decision.at,
          anchorAt: null,
          anchorKind: 'message',
          delayBusinessDays: delayForStep(policy, job.step),
          reason: decision.reason,
        });
        await jobs.finish(job.id, lease, 'cancelled', 'cancelled', {
          reason: decision.reason,
          at: decision.at,
        });
        log.info({ reason: decision.reason, at: decision.at }, 'follow-up rescheduled');
        throw new Stop(`rescheduled:${decision.reason}`);
      }
      case 'skip': {
        // The thread's schedule goes first: a job closed while the thread still asks would be created again.
        await ignoreGone(() =>
          service.cancelFollowup(job.userId, job.threadId, { reason: decision.reason, ...key('skip') }),
        );
        const { event } = await jobs.finish(
          job.id,
          lease,
          'skipped',
          'skipped',
          { reason: decision.reason },
          { type: 'followup_skipped', data: { reason: decision.reason, step: job.step, jobId: job.id } },
        );
        if (event) events.publish([event]);
        this.#deps.background.metrics.followupSent('skipped');
        log.info({ reason: decision.reason }, 'follow-up skipped');
        throw new Stop(`skipped:${decision.reason}`);
      }
    }
  }

  async #draft(
    job: FollowupJob,
    thread: Thread,
    parent: ThreadMessage,
    policy: FollowupPolicy,
    log: Logger,
  ): Promise<NonNullable<FollowupJob['draft']>> {
    const context = await draftContextFor(
      this.#deps.store,
      thread,
      parent,
      job.step,
      policy,
      this.#deps.clock.now(),
    );
    const templates = await this.#deps.policies.getTemplates(job.userId);
    const result = await this.#deps.drafter.draft({
      context,
      templates,
      useModel: policy.drafter === 'auto',
    });
    if (result.fallbackReason)
      log.info({ reason: result.fallbackReason }, 'follow-up drafted from a template');
    return { subject: result.subject, body: result.body, drafter: result.drafter };
  }

  async #compose(
    job: FollowupJob,
    mailbox: ThreadMailbox,
    parent: ThreadMessage,
    draft: NonNullable<FollowupJob['draft']>,
    messageId: string,
    policy: FollowupPolicy,
  ): Promise<OutgoingMessage & { trackingToken?: string }> {
    const own = mailbox.address.toLowerCase();
    const to = parent.to.filter((a) => a.toLowerCase() !== own);
    const cc = parent.cc.filter((a) => a.toLowerCase() !== own);
    if (to.length === 0 && cc.length === 0)
      throw new AppError('MAIL_PERMANENT', 'The thread has no recipient');
    const parentId = parent.messageId ? `<${parent.messageId}>` : undefined;
    const references = [...parent.references, ...(parent.messageId ? [parent.messageId] : [])]
      .slice(-20)
      .map((id) => `<${id}>`);
    const message: OutgoingMessage & { trackingToken?: string } = {
      messageId,
      from: policy.senderName ? `${JSON.stringify(policy.senderName)} <${mailbox.address}>` : mailbox.address,
      to: to.length > 0 ? to : cc,
      ...(to.length > 0 && cc.length > 0 ? { cc } : {}),
      subject: draft.subject,
      text: draft.body,
      ...(parentId ? { inReplyTo: parentId, references } : {}),
      ...(mailbox.providerThreadId ? { providerThreadId: mailbox.providerThreadId } : {}),
    };
    const base = this.#deps.settings.trackingBaseUrl;
    if (policy.openTracking && policy.mode === 'send' && base) {
      const pixel = await this.#deps.tracking.pixelForJob(
        job.id,
        job.userId,
        job.threadId,
        randomBytes(18).toString('base64url'),
      );
      message.html = htmlWithPixel(draft.body, `${base.replace(/\/$/, '')}/api/v1/t/o/${pixel.token}.gif`);
      message.trackingToken = pixel.token;
    }
    return message;
  }

  async #deliver(
    mailbox: ThreadMailbox,
    outgoing: OutgoingMessage & { trackingToken?: string },
    policy: FollowupPolicy,
  ) {
    const { trackingToken: _token, ...message } = outgoing;
    const deliveredAt = () => this.#deps.clock.now().toISOString();
    if (policy.mode === 'draft') {
      const { draftId } = await mailbox.createDraft(message);
      return {
        mode: 'draft',
        accountId: mailbox.accountId,
        messageId: message.messageId,
        providerMessageId: null,
        providerThreadId: mailbox.providerThreadId,
        draftId,
        deliveredAt: deliveredAt(),
      } satisfies FollowupDelivery;
    }
    const sent = await mailbox.send(message);
    return {
      mode: 'send',
      accountId: mailbox.accountId,
      messageId: message.messageId,
      providerMessageId: sent.providerMessageId,
      providerThreadId: sent.providerThreadId ?? mailbox.providerThreadId,
      draftId: null,
      deliveredAt: deliveredAt(),
    } satisfies FollowupDelivery;
  }

  /** The message is in the mailbox: record it with its event, then everything that follows from it. */
  async #delivered(done: Delivered): Promise<string> {
    const { job, lease, delivery, drafter, log } = done;
    const event: JobEvent = {
      type: delivery.mode === 'draft' ? 'followup_drafted' : 'followup_sent',
      data: {
        step: job.step,
        messageId: delivery.messageId,
        drafter,
        jobId: job.id,
        ...(delivery.draftId ? { draftId: delivery.draftId } : {}),
        ...(delivery.recognised ? { recognised: true } : {}),
      },
    };
    const stored = await this.#deps.jobs.deliver(job.id, lease, delivery, event);
    // Lost lease: whoever holds the job now finds the message by its Message-ID.
    if (!stored) throw new Stop('lease_lost');
    this.#deps.events.publish([stored]);
    this.#deps.background.metrics.followupSent(delivery.mode === 'draft' ? 'drafted' : 'sent');
    log.info(
      { messageId: delivery.messageId, mode: delivery.mode, recognised: delivery.recognised === true },
      delivery.mode === 'draft' ? 'follow-up drafted' : 'follow-up sent',
    );
    return this.#record(done);
  }

  /**
   * What follows a delivery, through ThreadTrackingService, each write once (idempotency keys per job): the next
   * step scheduled (first, so that the thread is never due again for this step once counted) or the sequence
   * ended; the thread marked as carrying an automatic follow-up; the follow-up counted; then the job closed.
   */
  async #record({ job, lease, delivery, policy, thread, drafter, log }: Delivered): Promise<string> {
    const { service, plans, jobs, clock } = this.#deps;
    const key = (what: string) => writeKey(job, what);
    const { userId, threadId } = job;
    const next = job.step + 1;
    const continues = policy.autoSchedule && next <= policy.maxFollowups;
    if (continues) {
      const at = computeDueAt(new Date(delivery.deliveredAt), next, policy, clock.now());
      await ignoreGone(() => service.scheduleFollowup(userId, threadId, at.toISOString(), key('next')));
      await plans.record({
        userId,
        threadId,
        activityAt: delivery.deliveredAt,
        step: next,
        outcome: 'scheduled',
        scheduledAt: at.toISOString(),
        anchorAt: delivery.deliveredAt,
        anchorKind: 'followup',
        delayBusinessDays: delayForStep(policy, next),
        reason: null,
      });
    } else {
      await ignoreGone(() =>
        service.cancelFollowup(userId, threadId, { reason: 'sequence_complete', ...key('end') }),
      );
    }
    if (delivery.mode === 'send' && thread) {
      const patch = {
        ...(thread.emailType !== 'auto_followup' ? { emailType: 'auto_followup' as const } : {}),
        ...(drafter === 'openai' && !thread.aiGenerated ? { aiGenerated: true } : {}),
      };
      if (Object.keys(patch).length > 0)
        await ignoreGone(() => service.updateThread(userId, threadId, patch, key('mark')));
    }
    await ignoreGone(() => service.incrementFollowupCount(userId, threadId, key('count')));
    const status = delivery.mode === 'draft' ? 'drafted' : 'sent';
    const { finished } = await jobs.finish(
      job.id,
      lease,
      status,
      delivery.recognised ? 'recognised' : status,
      {
        messageId: delivery.messageId,
        next: continues ? next : null,
      },
    );
    if (!finished) throw new Stop('lease_lost');
    log.debug({ next: continues ? next : null }, 'follow-up recorded');
    return delivery.recognised ? 'recognised' : status;
  }

  /** A failure: wait and try again (temporary), or end the job (permanent, or too many attempts). */
  async #failed(job: FollowupJob, lease: Lease, error: unknown, log: Logger): Promise<string> {
    const { jobs, clock, settings } = this.#deps;
    const appError = error instanceof AppError ? error : undefined;
    const code = appError?.code ?? 'INTERNAL';
    const message = (error as Error)?.message ?? String(error);
    if (isDatabaseUnavailable(error)) {
      // Nothing can be recorded now; the lease expires and the job is taken up again.
      log.warn({ err: error }, 'follow-up interrupted: the database is unavailable');
      return 'interrupted';
    }
    try {
      if (code === 'DRAFT_REJECTED') {
        const policy = (await this.#deps.policies.get(job.userId)).policy;
        await this.#decide(job, lease, { action: 'skip', reason: 'draft_rejected' }, policy, log);
      }
      const permanent =
        code === 'MAIL_PERMANENT' || code === 'MAIL_NOT_FOUND' || code === 'VALIDATION_FAILED';
      // This failure and the earlier ones; attempts that only waited (send window, daily cap) do not count.
      const failures = (await jobs.failures(job.id)) + 1;
      if (permanent || failures >= settings.maxAttempts) {
        log.error({ err: error, attempts: job.attempts, failures }, 'follow-up failed');
        await ignoreGone(() =>
          this.#deps.service.cancelFollowup(job.userId, job.threadId, {
            reason: 'failed',
            ...writeKey(job, 'failed'),
          }),
        );
        const { event } = await jobs.finish(
          job.id,
          lease,
          'failed',
          'failed',
          { reason: code, error: message.slice(0, 500) },
          {
            type: 'followup_failed',
            data: { step: job.step, code, error: message.slice(0, 500), jobId: job.id },
          },
        );
        if (event) this.#deps.events.publish([event]);
        this.#deps.background.metrics.followupSent('failed');
        return 'failed';
      }
      const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (failures - 1));
      const wait = appError?.retryAfter !== undefined ? Math.max(appError.retryAfter * 1000, 1000) : backoff;
      const until = new Date(clock.now().getTime() + wait).toISOString();
      await jobs.note(job.id, lease, { lastError: `${code}: ${message}`.slice(0, 1000) });
      await jobs.release(job.id, lease, until, 'retry', {
        reason: code,
        error: message.slice(0, 500),
        until,
      });
      log.warn({ err: error, until }, 'follow-up attempt failed; will retry');
      return `retry:${code}`;
    } catch (inner) {
      if (inner instanceof Stop) return inner.outcome;
      log.error({ err: inner }, 'follow-up: recording a failure failed');
      return 'error';
    }
  }
}

/** Each thread write of a job is applied once, whoever repeats it (idempotency key per job and purpose). */
function writeKey(job: FollowupJob, what: string) {
  return { idempotencyKey: `followup:${job.id}:${what}`, requestHash: SERVICE_HASH };
}

function leaseOf(job: FollowupJob): Lease {
  return { owner: job.leaseOwner ?? '', attempt: job.attempts };
}

function factsOf(job: FollowupJob): JobFacts {
  return { step: job.step, origin: job.origin, anchorAt: job.anchorAt, previousDraftAt: job.previousDraftAt };
}

/** The domain of the mailbox address, for Message-IDs (a host name; a safe default otherwise). */
export function mailDomain(address: string): string {
  const domain = address.split('@')[1]?.toLowerCase() ?? '';
  return /^[a-z0-9.-]+$/.test(domain) && domain.includes('.') ? domain : 'thread-tracker.invalid';
}

/** Thread writes whose thread went away or left the active state meanwhile change nothing; that is fine. */
async function ignoreGone(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (
      error instanceof AppError &&
      (error.code === 'THREAD_NOT_FOUND' || error.code === 'THREAD_STATE_CONFLICT')
    ) {
      return;
    }
    throw error;
  }
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** The text as simple HTML with the tracking pixel at the end. */
export function htmlWithPixel(text: string, pixelUrl: string): string {
  const paragraphs = text
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('\n');
  return `<!doctype html><html><body>${paragraphs}\n<img src="${escapeHtml(pixelUrl)}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px"></body></html>`;
}

/** What the drafter is told about a thread (the worker's and the preview's). */
export async function draftContextFor(
  store: Store,
  thread: Thread,
  parent: { at: string; subject: string | null } | null,
  step: number,
  policy: FollowupPolicy,
  now: Date,
): Promise<DraftContext> {
  const lead = thread.leadId ? await store.leads.get(thread.userId, thread.leadId) : undefined;
  const subject = thread.subject ?? parent?.subject ?? null;
  const lastMessageAt = parent?.at ?? thread.lastActivity ?? thread.createdAt;
  return {
    subject,
    participants: thread.participants,
    lead: lead ? { name: lead.name, company: lead.company, email: lead.email } : null,
    step,
    lastMessageAt,
    daysSince: Math.max(0, Math.floor((now.getTime() - Date.parse(lastMessageAt)) / 86_400_000)),
    senderName: policy.senderName,
    language: detectLanguage(subject ?? ''),
  };
}
