/**
 * The follow-up policy of a user and the pure rules the follow-up engine applies (README: Follow-ups).
 *
 * - Due time: the anchor (the user's message, or the previous follow-up) plus N business days at the same local
 *   time of day in the user's time zone, then moved into the send window (a business day, between `start` and
 *   `end` local time). Business days are the policy's weekdays minus its holidays. Step k uses the k-th delay; the
 *   last delay repeats for later steps.
 * - Re-checks before acting, in two parts: the stored thread (checkThreadState) and the mailbox as it is now
 *   (checkMailbox). Auto-replies never stop a follow-up; a real reply or a bounce after the user's last message
 *   does. Every outcome is a decision with a reason, so the history says why nothing went out.
 * Nothing here reads a clock: `now` is always passed in.
 */
import { z } from 'zod';
import {
  addCalendarDays,
  isoDate,
  isoWeekday,
  type LocalDateTime,
  zonedParts,
  zonedToInstant,
} from './followup-time.ts';
import { isValidTimeZone, safeText, type ThreadStatus } from './thread.ts';

export const FOLLOWUP_MODES = ['draft', 'send'] as const;
export type FollowupMode = (typeof FOLLOWUP_MODES)[number];
export const DRAFTER_CHOICES = ['auto', 'template'] as const;

const clock = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM (24-hour)')
  .describe('HH:MM, 24-hour, in the policy time zone');
const calendarDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((d) => {
    const t = Date.parse(`${d}T00:00:00Z`);
    return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === d;
  }, 'must be a real date');

const policyShape = {
  autoSchedule: z
    .boolean()
    .describe('Schedule follow-ups by itself for threads with activity after auto-scheduling was turned on'),
  mode: z
    .enum(FOLLOWUP_MODES)
    .describe('draft: a draft in your mailbox for you to send; send: sent in the thread'),
  delaysBusinessDays: z
    .array(z.number().int().min(1).max(90))
    .min(1)
    .max(10)
    .describe('Business days before each follow-up (the last value repeats)'),
  maxFollowups: z.number().int().min(0).max(10).describe('Most follow-ups the engine schedules per thread'),
  timeZone: safeText(64).refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Paris'),
  businessDays: z
    .array(z.number().int().min(1).max(7))
    .min(1)
    .max(7)
    .describe('ISO weekdays (1 = Monday … 7 = Sunday) that count as business days and may send'),
  sendWindow: z.strictObject({ start: clock, end: clock }),
  holidays: z.array(calendarDate).max(366).describe('Local dates that are not business days'),
  dailyCap: z.number().int().min(1).max(2000).describe('Most follow-ups sent or drafted per local day'),
  openTracking: z.boolean().describe('Add an open-tracking pixel to follow-ups the engine sends'),
  drafter: z
    .enum(DRAFTER_CHOICES)
    .describe('auto: the language model when configured; template: templates only'),
  senderName: safeText(200).trim().nullable().describe('Your name, for {{my_name}} in templates'),
};

function windowOrdered(p: { sendWindow?: { start: string; end: string } }): boolean {
  return !p.sendWindow || p.sendWindow.start < p.sendWindow.end;
}
const windowMessage = { message: 'sendWindow.start must be before sendWindow.end', path: ['sendWindow'] };

export const followupPolicySchema = z.strictObject(policyShape).refine(windowOrdered, windowMessage);
export type FollowupPolicy = z.infer<typeof followupPolicySchema>;

/** What PUT accepts: any subset; what is left out takes its default. */
export const followupPolicyInputSchema = z
  .strictObject(policyShape)
  .partial()
  .refine(windowOrdered, windowMessage);
export type FollowupPolicyInput = z.infer<typeof followupPolicyInputSchema>;

export const DEFAULT_FOLLOWUP_POLICY: Readonly<FollowupPolicy> = Object.freeze({
  autoSchedule: true,
  mode: 'draft',
  delaysBusinessDays: [3, 7],
  maxFollowups: 3,
  timeZone: 'UTC',
  businessDays: [1, 2, 3, 4, 5],
  sendWindow: { start: '09:00', end: '17:00' },
  holidays: [],
  dailyCap: 50,
  openTracking: false,
  drafter: 'auto',
  senderName: null,
});

/** A full policy from what a user gave (defaults for the rest), normalized (sorted, de-duplicated days). */
export function resolvePolicy(input: FollowupPolicyInput = {}): FollowupPolicy {
  const merged = { ...DEFAULT_FOLLOWUP_POLICY, ...input };
  return {
    ...merged,
    businessDays: [...new Set(merged.businessDays)].sort((a, b) => a - b),
    holidays: [...new Set(merged.holidays)].sort(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Due times

type CalendarDate = { year: number; month: number; day: number };

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The delay (business days) before follow-up number `step` (1-based); the last delay repeats. */
export function delayForStep(policy: FollowupPolicy, step: number): number {
  const delays = policy.delaysBusinessDays;
  return delays[Math.min(Math.max(step, 1), delays.length) - 1]!;
}

export function isBusinessDay(date: CalendarDate, policy: FollowupPolicy): boolean {
  return (
    policy.businessDays.includes(isoWeekday(date.year, date.month, date.day)) &&
    !policy.holidays.includes(isoDate(date))
  );
}

/** `date` plus `count` business days (the date itself does not count). */
export function addBusinessDays(date: CalendarDate, count: number, policy: FollowupPolicy): CalendarDate {
  let current = date;
  let left = count;
  // A year and a half of calendar days covers any sane policy; a policy whose every day is a holiday stops there.
  for (let guard = 0; left > 0 && guard < 550; guard++) {
    current = addCalendarDays(current, 1);
    if (isBusinessDay(current, policy)) left--;
  }
  return current;
}

function at(date: CalendarDate, minutes: number): LocalDateTime {
  return { ...date, hour: Math.floor(minutes / 60), minute: minutes % 60 };
}

/** The earliest instant at or after `from` inside the send window (a business day, start ≤ time < end). */
export function nextSendSlot(from: Date, policy: FollowupPolicy): Date {
  const local = zonedParts(from, policy.timeZone);
  const start = minutesOf(policy.sendWindow.start);
  const end = minutesOf(policy.sendWindow.end);
  for (let i = 0; i < 400; i++) {
    const date = addCalendarDays(local, i);
    if (!isBusinessDay(date, policy)) continue;
    const opens = zonedToInstant(at(date, start), policy.timeZone);
    if (i > 0 || from < opens) return opens;
    if (from < zonedToInstant(at(date, end), policy.timeZone)) return from;
  }
  // No business day in 400 days (every day a holiday): the window cannot be honoured; do not block forever.
  return from;
}

/** Whether `instant` is inside the send window. */
export function inSendWindow(instant: Date, policy: FollowupPolicy): boolean {
  return nextSendSlot(instant, policy).getTime() === instant.getTime();
}

/**
 * When follow-up number `step` of a thread is due: `anchor` plus the step's delay in business days, at the
 * anchor's local time of day, moved into the send window; never before `now` (then the next slot from `now`).
 */
export function computeDueAt(anchor: Date, step: number, policy: FollowupPolicy, now: Date): Date {
  const local = zonedParts(anchor, policy.timeZone);
  const day = addBusinessDays(local, delayForStep(policy, step), policy);
  const target = zonedToInstant({ ...day, hour: local.hour, minute: local.minute }, policy.timeZone);
  const due = nextSendSlot(target, policy);
  return due > now ? due : nextSendSlot(now, policy);
}

/** The user's local calendar day of an instant (`YYYY-MM-DD`), for the daily cap. */
export function localDay(instant: Date, timeZone: string): string {
  return isoDate(zonedParts(instant, timeZone));
}

/** The instant the local day after `instant` starts (when a spent daily cap is available again). */
export function startOfNextLocalDay(instant: Date, timeZone: string): Date {
  const next = addCalendarDays(zonedParts(instant, timeZone), 1);
  return zonedToInstant({ ...next, hour: 0, minute: 0 }, timeZone);
}

// ---------------------------------------------------------------------------------------------------------------
// Re-checks before acting

/** Why a follow-up will not go out: its thread's schedule is cancelled with this reason. */
export const SKIP_REASONS = [
  'not_tracked',
  'hidden',
  'cap_reached',
  'no_user_message',
  'reply',
  'bounce',
  'previous_draft_unsent',
  'draft_rejected',
  'failed',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** Why a job was closed without touching its thread (the thread no longer asks for this follow-up). */
export type DropReason = 'thread_missing' | 'not_active' | 'not_scheduled' | 'already_sent' | 'rescheduled';

export type WaitReason = 'send_window' | 'daily_cap' | 'mailbox_unavailable' | 'retry';

export type FollowupDecision =
  | { action: 'proceed' }
  | { action: 'skip'; reason: SkipReason }
  | { action: 'drop'; reason: DropReason }
  | { action: 'reschedule'; at: string; reason: 'user_wrote_again' }
  | { action: 'wait'; until: string; reason: WaitReason };

export interface ThreadState {
  tracked: boolean;
  hidden: boolean;
  status: ThreadStatus;
  followupScheduled: boolean;
  followupScheduledAt: string | null;
  followupCount: number;
}

export interface JobFacts {
  /** The follow-up number this job sends (the thread's followupCount + 1 when it was created). */
  step: number;
  /** `policy`: scheduled by the engine; `manual`: a time the user set (the cap does not apply to it). */
  origin: 'policy' | 'manual';
  /** The message the delay was counted from, when the engine scheduled it. */
  anchorAt: string | null;
  /** Draft mode: when the previous step's draft was created (it must have been sent since). */
  previousDraftAt: string | null;
}

/** The stored thread still asks for this follow-up, now. */
export function checkThreadState(
  thread: ThreadState | undefined,
  job: JobFacts,
  policy: FollowupPolicy,
  now: Date,
): FollowupDecision {
  if (!thread) return { action: 'drop', reason: 'thread_missing' };
  if (thread.status !== 'active') return { action: 'drop', reason: 'not_active' };
  if (!thread.followupScheduled || thread.followupScheduledAt === null) {
    return { action: 'drop', reason: 'not_scheduled' };
  }
  if (thread.followupCount + 1 > job.step) return { action: 'drop', reason: 'already_sent' };
  if (thread.followupCount + 1 < job.step) return { action: 'drop', reason: 'not_scheduled' };
  if (Date.parse(thread.followupScheduledAt) > now.getTime())
    return { action: 'drop', reason: 'rescheduled' };
  if (!thread.tracked) return { action: 'skip', reason: 'not_tracked' };
  if (thread.hidden) return { action: 'skip', reason: 'hidden' };
  if (job.origin === 'policy' && thread.followupCount >= policy.maxFollowups) {
    return { action: 'skip', reason: 'cap_reached' };
  }
  return { action: 'proceed' };
}

/** A message of the thread as the mailbox has it now (see domain/detection.ts for the kinds). */
export interface MailboxMessage {
  kind: 'sent' | 'inbound' | 'reply' | 'auto_reply' | 'bounce';
  at: string;
  messageId: string | null;
}

/** Slack for clocks and Date headers when comparing the user's last message with the anchor. */
const ANCHOR_SLACK_MS = 60_000;

/**
 * The mailbox still calls for this follow-up: the user's message is the latest one that counts (no real reply or
 * bounce after it; auto-replies do not count). Returns the message to reply to when it proceeds.
 */
export function checkMailbox<M extends MailboxMessage>(
  messages: readonly M[],
  job: JobFacts,
  policy: FollowupPolicy,
  now: Date,
): FollowupDecision & { parent?: M } {
  const ordered = [...messages].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const lastSentIndex = ordered.findLastIndex((m) => m.kind === 'sent');
  if (lastSentIndex < 0) return { action: 'skip', reason: 'no_user_message' };
  const after = ordered.slice(lastSentIndex + 1);
  if (after.some((m) => m.kind === 'reply' || m.kind === 'inbound'))
    return { action: 'skip', reason: 'reply' };
  if (after.some((m) => m.kind === 'bounce')) return { action: 'skip', reason: 'bounce' };
  const parent = ordered[lastSentIndex]!;
  const parentAt = Date.parse(parent.at);
  if (job.previousDraftAt !== null && parentAt < Date.parse(job.previousDraftAt) - ANCHOR_SLACK_MS) {
    return { action: 'skip', reason: 'previous_draft_unsent' };
  }
  if (job.anchorAt !== null && parentAt > Date.parse(job.anchorAt) + ANCHOR_SLACK_MS) {
    // The user wrote again since the delay was counted: count it from the new message.
    const due = computeDueAt(new Date(parentAt), job.step, policy, now);
    if (due.getTime() > now.getTime() + ANCHOR_SLACK_MS) {
      return { action: 'reschedule', at: due.toISOString(), reason: 'user_wrote_again' };
    }
  }
  return { action: 'proceed', parent };
}

/** Whether now is a moment to act for this policy; if not, when. */
export function checkSendWindow(policy: FollowupPolicy, now: Date): FollowupDecision {
  const slot = nextSendSlot(now, policy);
  return slot.getTime() === now.getTime()
    ? { action: 'proceed' }
    : { action: 'wait', until: slot.toISOString(), reason: 'send_window' };
}

// ---------------------------------------------------------------------------------------------------------------
// Why a follow-up is scheduled (GET /followups)

export interface ScheduleExplanation {
  /** The engine's plan for this schedule, when the engine scheduled it (same scheduledAt). */
  plan: { anchorAt: string; anchorKind: 'message' | 'followup'; delayBusinessDays: number } | null;
  scheduledAt: string;
  step: number;
}

const describeFormatters = new Map<string, Intl.DateTimeFormat>();

/** "Fri 27 Mar 2026, 10:00" in the policy's time zone. */
export function formatLocal(instant: string | Date, timeZone: string): string {
  let f = describeFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    describeFormatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(instant)).map((x) => [x.type, x.value]));
  return `${p.weekday} ${p.day} ${p.month} ${p.year}, ${p.hour}:${p.minute}`;
}

/** One sentence on why and when a follow-up goes out. */
export function explainSchedule(e: ScheduleExplanation, policy: FollowupPolicy, now: Date): string {
  const of = `of ${policy.maxFollowups > 0 ? Math.max(policy.maxFollowups, e.step) : e.step}`;
  let text: string;
  if (e.plan) {
    const days = e.plan.delayBusinessDays;
    const what = e.plan.anchorKind === 'followup' ? 'your previous follow-up' : 'your message';
    text = `No reply ${days} business day${days === 1 ? '' : 's'} after ${what} of ${formatLocal(e.plan.anchorAt, policy.timeZone)} (${policy.timeZone}); follow-up ${e.step} ${of}`;
  } else {
    text = `Scheduled by you; follow-up ${e.step}`;
  }
  const sendsAt = nextSendSlot(new Date(Math.max(Date.parse(e.scheduledAt), now.getTime())), policy);
  if (sendsAt.getTime() > Math.max(Date.parse(e.scheduledAt), now.getTime())) {
    text += `; goes out when the send window opens, ${formatLocal(sendsAt, policy.timeZone)}`;
  }
  const verb = policy.mode === 'draft' ? 'drafted in your mailbox' : 'sent in the thread';
  return `${text}. It will be ${verb} unless they reply first.`;
}
