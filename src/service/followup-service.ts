/**
 * The follow-up engine as the API sees it: the schedule with its reasons, previews, policy and templates, and the
 * open-tracking pixel. Thread changes go through ThreadTrackingService (cache and live events stay right).
 */
import type { FollowupTemplate } from '../domain/followup-draft.ts';
import { classifyPixelLoad, openRatePercent } from '../domain/followup-open-tracking.ts';
import {
  delayForStep,
  explainSchedule,
  type FollowupPolicy,
  type FollowupPolicyInput,
  nextSendSlot,
} from '../domain/followup-policy.ts';
import type { Clock } from '../ports/clock.ts';
import type { Drafter, DraftResult } from '../ports/drafter.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type {
  FollowupPlanRepository,
  FollowupPolicyRepository,
  OpenTrackingRepository,
} from '../ports/followup-store.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';
import type { Store } from '../ports/store.ts';
import { draftContextFor } from './followup-worker.ts';
import type { ThreadTrackingService } from './thread-tracking-service.ts';

export interface FollowupServiceDeps {
  store: Store;
  service: ThreadTrackingService;
  policies: FollowupPolicyRepository;
  plans: FollowupPlanRepository;
  tracking: OpenTrackingRepository;
  drafter: Drafter;
  events: EventBus;
  clock: Clock;
  /** Loads of a pixel this soon after sending are not opens (README: open tracking). */
  openGraceSeconds: number;
  logger?: Logger;
}

export interface ScheduledFollowupView {
  threadId: string;
  subject: string | null;
  participants: string[];
  /** When it is scheduled. */
  scheduledAt: string;
  /** When it goes out at the earliest: the next send-window slot at or after scheduledAt (or now). */
  sendsAt: string;
  due: boolean;
  followupCount: number;
  reason: string;
}

export interface PolicyView extends FollowupPolicy {
  /** Automatic scheduling considers thread activity after this moment (null: not started yet). */
  autoScheduleSince: string | null;
  updatedAt: string | null;
}

const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

export class FollowupService {
  readonly #deps: FollowupServiceDeps;
  readonly #log: Logger;

  constructor(deps: FollowupServiceDeps) {
    this.#deps = deps;
    this.#log = deps.logger ?? silentLogger;
  }

  /** What will go out, when and why (the followup_schedule view), soonest first. */
  async list(userId: string, limit = 500): Promise<{ items: ScheduledFollowupView[] }> {
    const { plans, policies, clock } = this.#deps;
    const now = clock.now();
    const [rows, { policy }] = await Promise.all([plans.schedule(userId, limit), policies.get(userId)]);
    const planned = await plans.forSchedules(userId, rows);
    const items = rows.map((row) => {
      const step = row.followupCount + 1;
      const plan = planned.get(row.threadId);
      const scheduledAt = Date.parse(row.scheduledAt);
      return {
        threadId: row.threadId,
        subject: row.subject,
        participants: row.participants,
        scheduledAt: row.scheduledAt,
        sendsAt: nextSendSlot(new Date(Math.max(scheduledAt, now.getTime())), policy).toISOString(),
        due: scheduledAt <= now.getTime(),
        followupCount: row.followupCount,
        reason: explainSchedule(
          {
            plan:
              plan?.anchorAt && plan.anchorKind
                ? {
                    anchorAt: plan.anchorAt,
                    anchorKind: plan.anchorKind,
                    delayBusinessDays: plan.delayBusinessDays ?? delayForStep(policy, step),
                  }
                : null,
            scheduledAt: row.scheduledAt,
            step,
          },
          policy,
          now,
        ),
      };
    });
    return { items };
  }

  /** The follow-up that would be written now for a thread, without sending anything. */
  async preview(
    userId: string,
    threadId: string,
  ): Promise<Pick<DraftResult, 'subject' | 'body' | 'drafter'>> {
    const { service, store, policies, drafter, clock } = this.#deps;
    const thread = await service.getThread(userId, threadId);
    const [{ policy }, templates] = await Promise.all([policies.get(userId), policies.getTemplates(userId)]);
    const context = await draftContextFor(store, thread, null, thread.followupCount + 1, policy, clock.now());
    const draft = await drafter.draft({ context, templates, useModel: policy.drafter === 'auto' });
    return { subject: draft.subject, body: draft.body, drafter: draft.drafter };
  }

  async getPolicy(userId: string): Promise<PolicyView> {
    return toView(await this.#deps.policies.get(userId));
  }

  async putPolicy(userId: string, input: FollowupPolicyInput): Promise<PolicyView> {
    return toView(await this.#deps.policies.put(userId, input, this.#deps.clock.now().toISOString()));
  }

  async getTemplates(userId: string): Promise<{ templates: FollowupTemplate[] }> {
    return { templates: await this.#deps.policies.getTemplates(userId) };
  }

  async putTemplates(
    userId: string,
    templates: FollowupTemplate[],
  ): Promise<{ templates: FollowupTemplate[] }> {
    return { templates: await this.#deps.policies.putTemplates(userId, templates) };
  }

  /**
   * A load of an open-tracking pixel. Recorded with its verdict; a message's first counted open updates its
   * thread's open rate. Never throws: a mail client always gets its image.
   */
  async recordPixelLoad(token: string, load: { ip: string | null; userAgent: string | null }): Promise<void> {
    if (!TOKEN.test(token)) return;
    const { tracking, service, events, clock, openGraceSeconds } = this.#deps;
    try {
      const recorded = await tracking.recordLoad(token, { ...load, at: clock.now() }, (l) =>
        classifyPixelLoad(l, openGraceSeconds),
      );
      if (!recorded?.firstOpen) return;
      if (recorded.event) events.publish([recorded.event]);
      const { userId, threadId } = recorded.pixel;
      const stats = await tracking.threadStats(userId, threadId);
      const openRate = openRatePercent(stats.tracked, stats.opened);
      if (openRate !== null) await service.updateThread(userId, threadId, { openRate });
    } catch (error) {
      this.#log.warn({ err: error }, 'an open-tracking load could not be recorded');
    }
  }
}

function toView(stored: {
  policy: FollowupPolicy;
  autoSince: string | null;
  updatedAt: string | null;
}): PolicyView {
  return { ...stored.policy, autoScheduleSince: stored.autoSince, updatedAt: stored.updatedAt };
}
