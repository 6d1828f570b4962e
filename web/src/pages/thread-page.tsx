import { useEffect } from 'react';
import { Link, useParams } from 'react-router';
import type { Thread } from '../api/types.ts';
import { ReplyState, StatusBadge } from '../components/badges.tsx';
import { FollowupScheduler } from '../components/followup-scheduler.tsx';
import { ArrowLeftIcon } from '../components/icons.tsx';
import { EmptyState, ErrorState, LoadingState } from '../components/states.tsx';
import { Timeline } from '../components/timeline.tsx';
import { useDocumentTitle } from '../components/use-document-title.ts';
import { useNow } from '../components/use-now.tsx';
import { DEFAULT_FILTERS, filtersToSearchParams } from '../lib/filters.ts';
import { emailTypeLabel, formatDateTime, formatPercent, formatRelative } from '../lib/format.ts';
import { useLeads, useStores, useThreads } from '../stores/app-stores.tsx';
import { leadName } from '../stores/leads-store.ts';

function BackLink() {
  const filters = useThreads((s) => s.list.filters);
  const search = filtersToSearchParams(filters).toString();
  return (
    <Link className="back-link" to={`/threads${search ? `?${search}` : ''}`}>
      <ArrowLeftIcon size={15} /> Threads
    </Link>
  );
}

function Details({ thread }: { thread: Thread }) {
  const now = useNow();
  const rows: [string, React.ReactNode][] = [
    ['Thread id', <code key="id">{thread.threadId}</code>],
    ['Status', <StatusBadge key="s" status={thread.status} />],
    ['Type', emailTypeLabel(thread.emailType)],
    ['Reply', <ReplyState key="r" thread={thread} />],
    ['Participants', thread.participants.length > 0 ? thread.participants.join(', ') : '—'],
    ['Messages', String(thread.messageCount)],
    [
      'Last activity',
      thread.lastActivity
        ? `${formatDateTime(thread.lastActivity)} (${formatRelative(thread.lastActivity, now)})`
        : '—',
    ],
    ['Started tracking', formatDateTime(thread.createdAt)],
    ['Updated', formatDateTime(thread.updatedAt)],
    ['Tracked', thread.tracked ? 'Yes' : 'No'],
    ['Hidden', thread.hidden ? `Yes, since ${formatDateTime(thread.hiddenAt)}` : 'No'],
    ['Archived', thread.archivedAt ? formatDateTime(thread.archivedAt) : 'No'],
    ['Sent by', thread.systemGenerated ? 'The system' : 'You'],
    ['Machine-drafted', thread.aiGenerated ? 'Yes' : 'No'],
    ['Follow-ups sent', String(thread.followupCount)],
    ['Open rate', formatPercent(thread.openRate)],
    ['Reply rate', formatPercent(thread.replyRate)],
  ];
  return (
    <section className="card" aria-labelledby="details-heading">
      <div className="card__header">
        <h2 id="details-heading" className="card__title">
          Details
        </h2>
      </div>
      <dl className="details">
        {rows.map(([term, value]) => (
          <div key={term} className="details__row">
            <dt>{term}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function LeadCard({ leadId }: { leadId: string }) {
  const { leads } = useStores();
  const lead = useLeads((s) => s.byId[leadId]);
  const missing = useLeads((s) => Boolean(s.missing[leadId]));
  useEffect(() => {
    void leads.getState().ensure(leadId);
  }, [leadId, leads]);
  const link = `/threads?${filtersToSearchParams({ ...DEFAULT_FILTERS, status: 'any', hidden: 'any', leadId })}`;
  return (
    <section className="card" aria-labelledby="lead-heading">
      <div className="card__header">
        <h2 id="lead-heading" className="card__title">
          Lead
        </h2>
      </div>
      {lead ? (
        <div className="lead">
          <p className="lead__name">{leadName(lead)}</p>
          {lead.company && lead.company !== leadName(lead) ? <p className="muted">{lead.company}</p> : null}
          {lead.email ? (
            <p>
              <a href={`mailto:${lead.email}`}>{lead.email}</a>
            </p>
          ) : null}
        </div>
      ) : missing ? (
        <p className="muted">This lead no longer exists.</p>
      ) : (
        <p className="muted">Loading…</p>
      )}
      <Link to={link} className="button button--small">
        All threads with this lead
      </Link>
    </section>
  );
}

export function ThreadPage() {
  const { threadId = '' } = useParams();
  const { threads } = useStores();
  const thread = useThreads((s) => s.byId[threadId]);
  const detail = useThreads((s) => s.details[threadId]);
  const busy = useThreads((s) => Boolean(s.pending[threadId]));
  useDocumentTitle(thread?.subject ?? 'Thread');

  useEffect(() => {
    void threads.getState().loadThread(threadId);
  }, [threadId, threads]);

  if (!thread) {
    return (
      <div className="page">
        <BackLink />
        {detail?.status === 'missing' ? (
          <EmptyState title="This thread does not exist">
            It may have been purged, or the link is wrong.
          </EmptyState>
        ) : detail?.status === 'error' ? (
          <ErrorState
            title="The thread could not be loaded"
            message={detail.error ?? ''}
            onRetry={() => void threads.getState().loadThread(threadId)}
          />
        ) : (
          <LoadingState label="Loading thread…" />
        )}
      </div>
    );
  }

  const run = (action: 'hide' | 'unhide' | 'archive' | 'unarchive') =>
    void threads.getState().runAction(threadId, action);

  return (
    <div className="page">
      <BackLink />
      <header className="thread-header">
        <div className="thread-header__text">
          <h1 className="page__title thread-header__title">{thread.subject?.trim() || '(no subject)'}</h1>
          <div className="thread-header__meta">
            <StatusBadge status={thread.status} />
            {thread.hidden ? <span className="chip">Hidden</span> : null}
            {thread.systemGenerated ? <span className="chip chip--system">Sent by the system</span> : null}
            {thread.emailType ? <span className="chip">{emailTypeLabel(thread.emailType)}</span> : null}
            <span className="muted">{thread.participants.join(', ')}</span>
          </div>
        </div>
        <div className="thread-header__actions" aria-busy={busy}>
          {thread.hidden ? (
            <button type="button" className="button" onClick={() => run('unhide')}>
              Unhide
            </button>
          ) : (
            <button type="button" className="button" onClick={() => run('hide')}>
              Hide
            </button>
          )}
          {thread.status === 'archived' ? (
            <button type="button" className="button" onClick={() => run('unarchive')}>
              Unarchive
            </button>
          ) : thread.status === 'active' ? (
            <button type="button" className="button" onClick={() => run('archive')}>
              Archive
            </button>
          ) : null}
        </div>
      </header>
      <div className="thread-layout">
        <div className="thread-layout__main">
          <FollowupScheduler thread={thread} />
          <Timeline threadId={threadId} />
        </div>
        <div className="thread-layout__side">
          {thread.leadId ? <LeadCard leadId={thread.leadId} /> : null}
          <Details thread={thread} />
        </div>
      </div>
    </div>
  );
}
