// Display formatting. Everything takes `now` explicitly so that renders are deterministic in tests.
import type { EmailType, LiveEventType, ThreadStatus } from '../api/types.ts';

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'long' });

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['week', 7 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "3 hr. ago", "in 2 days", "just now". */
export function formatRelative(iso: string | null, now: number): string {
  if (!iso) return '—';
  const diff = Date.parse(iso) - now;
  if (Number.isNaN(diff)) return '—';
  if (Math.abs(diff) < 45_000) return 'just now';
  for (const [unit, ms] of UNITS) {
    if (Math.abs(diff) >= ms || unit === 'minute') return relative.format(Math.round(diff / ms), unit);
  }
  return '—';
}

// Building an Intl formatter costs far more than using one, and rows format dates on every scroll frame.
const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();
function dateTimeFormat(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? '';
  let format = dateTimeFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat('en', {
      dateStyle: 'medium',
      timeStyle: 'short',
      ...(timeZone ? { timeZone } : {}),
    });
    dateTimeFormats.set(key, format);
  }
  return format;
}

export function formatDateTime(iso: string | null, timeZone?: string): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  return dateTimeFormat(timeZone).format(date);
}

const calendarDate = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', timeZone: 'UTC' });

export function formatDate(isoDate: string): string {
  // A calendar date (YYYY-MM-DD) is not an instant: format it in UTC so no zone shifts it a day.
  return calendarDate.format(new Date(`${isoDate}T00:00:00Z`));
}

/** A fraction 0..1 as a percentage. */
export function formatFraction(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return `${Math.round(value * 1000) / 10}%`;
}

/** A percentage 0..100. */
export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return `${Math.round(value * 10) / 10}%`;
}

export function formatHours(hours: number | null | undefined): string {
  if (hours === null || hours === undefined) return '—';
  if (hours < 1) return '< 1 h';
  if (hours < 48) return `${Math.round(hours * 10) / 10} h`;
  return `${Math.round((hours / 24) * 10) / 10} d`;
}

export function formatCount(value: number): string {
  return new Intl.NumberFormat('en').format(value);
}

export const STATUS_LABELS: Record<ThreadStatus, string> = {
  active: 'Active',
  archived: 'Archived',
  deleted: 'Deleted',
  spam: 'Spam',
};

export const EMAIL_TYPE_LABELS: Record<EmailType | 'unclassified', string> = {
  application: 'Application',
  followup: 'Follow-up',
  manual: 'Manual',
  auto_followup: 'Auto follow-up',
  unclassified: 'Unclassified',
};

export function emailTypeLabel(type: EmailType | null): string {
  return type ? EMAIL_TYPE_LABELS[type] : '—';
}

const EVENT_LABELS: Record<LiveEventType, string> = {
  created: 'Started tracking',
  upserted: 'Updated from mail',
  updated: 'Updated',
  hidden: 'Hidden',
  unhidden: 'Unhidden',
  archived: 'Archived',
  unarchived: 'Moved back to active',
  marked_system_generated: 'Marked as sent by the system',
  followup_scheduled: 'Follow-up scheduled',
  followup_cancelled: 'Follow-up cancelled',
  followup_count_incremented: 'Follow-up counted',
  deleted: 'Deleted',
  purged: 'Purged',
  journal_conflict: 'A change made during an outage no longer applied',
  imported: 'Imported from a file',
  reply_detected: 'Reply received',
  auto_reply_received: 'Automatic reply received (not counted as a reply)',
  bounce_received: 'Delivery failed (bounce)',
  followup_sent: 'Follow-up sent',
  followup_drafted: 'Follow-up drafted in your mailbox',
  followup_skipped: 'Follow-up not sent',
  followup_failed: 'Follow-up could not be sent',
  followup_opened: 'Follow-up opened',
};

export function eventLabel(type: string): string {
  return (EVENT_LABELS as Record<string, string>)[type] ?? type.replaceAll('_', ' ');
}

/** Participants as a short line: the first address and how many more. */
export function formatParticipants(participants: string[]): string {
  if (participants.length === 0) return '—';
  const [first, ...rest] = participants;
  return rest.length > 0 ? `${first} +${rest.length}` : (first as string);
}
