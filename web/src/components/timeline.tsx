import { useEffect } from 'react';
import type { LiveThreadEvent } from '../api/types.ts';
import { emailTypeLabel, eventLabel, formatDateTime, formatRelative } from '../lib/format.ts';
import { useStores, useThreads } from '../stores/app-stores.tsx';
import { ErrorState, Spinner } from './states.tsx';
import { useNow } from './use-now.tsx';

function eventDetail(event: LiveThreadEvent): string | null {
  const data = event.data ?? {};
  switch (event.type) {
    case 'followup_scheduled':
      return typeof data.scheduledAt === 'string' ? `For ${formatDateTime(data.scheduledAt)}` : null;
    case 'followup_cancelled':
      return data.reason && data.reason !== 'user'
        ? `Because: ${String(data.reason).replaceAll('_', ' ')}`
        : null;
    case 'followup_count_incremented':
      return typeof data.followupCount === 'number' ? `${data.followupCount} in total` : null;
    case 'marked_system_generated':
      return typeof data.emailType === 'string' ? `As ${emailTypeLabel(data.emailType as never)}` : null;
    case 'updated': {
      const changes = data.changes && typeof data.changes === 'object' ? Object.keys(data.changes) : [];
      return changes.length > 0 ? `Changed ${changes.join(', ')}` : null;
    }
    default:
      return null;
  }
}

export function Timeline({ threadId }: { threadId: string }) {
  const { threads } = useStores();
  const timeline = useThreads((s) => s.timelines[threadId]);
  const now = useNow();
  useEffect(() => {
    void threads.getState().loadTimeline(threadId);
  }, [threadId, threads]);

  return (
    <section className="card" aria-labelledby="timeline-heading">
      <div className="card__header">
        <h2 id="timeline-heading" className="card__title">
          History
        </h2>
        {timeline?.status === 'loading' ? <Spinner label="Loading history" /> : null}
      </div>
      {timeline?.status === 'error' && timeline.items.length === 0 ? (
        <ErrorState
          title="History could not be loaded"
          message={timeline.error ?? ''}
          onRetry={() => void threads.getState().loadTimeline(threadId)}
        />
      ) : null}
      {timeline?.status === 'ready' && timeline.items.length === 0 ? (
        <p className="muted">Nothing has happened to this thread yet.</p>
      ) : null}
      {timeline && timeline.items.length > 0 ? (
        <ol className="timeline">
          {[...timeline.items].reverse().map((event) => {
            const detail = eventDetail(event);
            return (
              <li key={event.id} className={`timeline__item timeline__item--${event.type}`}>
                <span className="timeline__dot" aria-hidden="true" />
                <div className="timeline__content">
                  <p className="timeline__label">{eventLabel(event.type)}</p>
                  {detail ? <p className="timeline__detail">{detail}</p> : null}
                </div>
                <time
                  className="timeline__time"
                  dateTime={event.createdAt}
                  title={formatDateTime(event.createdAt)}
                >
                  {formatRelative(event.createdAt, now)}
                </time>
              </li>
            );
          })}
        </ol>
      ) : null}
    </section>
  );
}
