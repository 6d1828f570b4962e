import type { Thread } from '../api/types.ts';
import { emailTypeLabel, formatDateTime, formatHours, formatRelative, STATUS_LABELS } from '../lib/format.ts';

export function StatusBadge({ status }: { status: Thread['status'] }) {
  return <span className={`badge badge--${status}`}>{STATUS_LABELS[status]}</span>;
}

export function TypeLabel({ type }: { type: Thread['emailType'] }) {
  return <span className={type ? 'type-label' : 'muted'}>{emailTypeLabel(type)}</span>;
}

export function ReplyState({ thread }: { thread: Pick<Thread, 'responseTimeHours'> }) {
  if (thread.responseTimeHours !== null) {
    return (
      <span className="reply reply--replied">
        <span className="dot dot--success" aria-hidden="true" />
        Replied after {formatHours(thread.responseTimeHours)}
      </span>
    );
  }
  return (
    <span className="reply reply--waiting">
      <span className="dot dot--muted" aria-hidden="true" />
      Awaiting reply
    </span>
  );
}

export function FollowupDue({
  thread,
  now,
}: {
  thread: Pick<Thread, 'followupScheduled' | 'followupScheduledAt'>;
  now: number;
}) {
  if (!thread.followupScheduled || !thread.followupScheduledAt) return <span className="muted">—</span>;
  const overdue = Date.parse(thread.followupScheduledAt) <= now;
  return (
    <time
      dateTime={thread.followupScheduledAt}
      className={overdue ? 'due due--now' : 'due'}
      title={formatDateTime(thread.followupScheduledAt)}
    >
      {overdue ? 'Due now' : formatRelative(thread.followupScheduledAt, now)}
    </time>
  );
}
