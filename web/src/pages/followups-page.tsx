import { useEffect } from 'react';
import { Link } from 'react-router';
import { EmptyState, ErrorState, LoadingState, UnavailableState } from '../components/states.tsx';
import { useDocumentTitle } from '../components/use-document-title.ts';
import { useNow } from '../components/use-now.tsx';
import { formatDateTime, formatParticipants, formatRelative } from '../lib/format.ts';
import { useFollowups, useStores } from '../stores/app-stores.tsx';

export function FollowupsPage() {
  useDocumentTitle('Follow-ups');
  const { followups } = useStores();
  const status = useFollowups((s) => s.status);
  const items = useFollowups((s) => s.items);
  const error = useFollowups((s) => s.error);
  const now = useNow();

  useEffect(() => {
    void followups.getState().load();
  }, [followups]);

  let body: React.ReactNode;
  if (status === 'idle' || (status === 'loading' && items.length === 0)) {
    body = <LoadingState label="Loading the schedule…" />;
  } else if (status === 'unavailable') {
    body = (
      <UnavailableState title="The follow-up schedule isn’t available on this server yet">
        Follow-ups you schedule on a thread are kept and shown on that thread. This page lists them all once
        the server offers its schedule.
      </UnavailableState>
    );
  } else if (status === 'error') {
    body = (
      <ErrorState
        title="The schedule could not be loaded"
        message={error ?? ''}
        onRetry={() => void followups.getState().load()}
      />
    );
  } else if (items.length === 0) {
    body = (
      <EmptyState title="No follow-ups scheduled">
        Open a thread that is waiting for a reply and schedule one; it stops by itself when they answer.
      </EmptyState>
    );
  } else {
    body = (
      <ul className="followup-list">
        {items.map((item) => (
          <li key={item.threadId} className={`followup-item${item.due ? ' followup-item--due' : ''}`}>
            <div className="followup-item__when">
              <time dateTime={item.scheduledAt} className="followup-item__date">
                {formatDateTime(item.scheduledAt)}
              </time>
              <span className={item.due ? 'badge badge--due' : 'muted'}>
                {item.due ? 'Due' : formatRelative(item.scheduledAt, now)}
              </span>
            </div>
            <div className="followup-item__what">
              <Link to={`/threads/${encodeURIComponent(item.threadId)}`} className="followup-item__subject">
                {item.subject?.trim() || '(no subject)'}
              </Link>
              <p className="muted">
                {formatParticipants(item.participants)} · follow-up #{item.followupCount + 1}
              </p>
              {item.reason ? <p className="followup-item__reason">{item.reason}</p> : null}
            </div>
          </li>
        ))}
      </ul>
    );
  }

  return (
    <div className="page">
      <div className="page__header">
        <div className="page__title-row">
          <h1 className="page__title">Follow-ups</h1>
          {status === 'ready' ? <span className="page__meta">{items.length} scheduled</span> : null}
        </div>
        <p className="page__lead">What will be sent, when, and why. A reply cancels its follow-up.</p>
      </div>
      {body}
    </div>
  );
}
