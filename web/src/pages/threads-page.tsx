import { useCallback, useEffect, useMemo } from 'react';
import { Link, useSearchParams } from 'react-router';
import { BulkBar } from '../components/bulk-bar.tsx';
import { FilterIcon } from '../components/icons.tsx';
import { EmptyState, ErrorState, SkeletonRows } from '../components/states.tsx';
import { SearchBox, SortSelect, ThreadFiltersBar } from '../components/thread-filters.tsx';
import { ThreadTable, useVisibleThreadIds } from '../components/thread-table.tsx';
import { useDocumentTitle } from '../components/use-document-title.ts';
import { PHONE_QUERY, useMediaQuery } from '../components/use-media-query.ts';
import {
  DEFAULT_FILTERS,
  filtersFromSearchParams,
  filtersKey,
  filtersToSearchParams,
  isDefaultFilters,
  type ThreadFilters,
} from '../lib/filters.ts';
import { formatCount } from '../lib/format.ts';
import { useLeads, useStores, useThreads } from '../stores/app-stores.tsx';

function activeFilterCount(filters: ThreadFilters): number {
  let count = 0;
  for (const key of ['status', 'emailType', 'hidden', 'systemGenerated', 'leadId'] as const) {
    if (filters[key] !== DEFAULT_FILTERS[key]) count++;
  }
  return count;
}

export function ThreadsPage() {
  useDocumentTitle('Threads');
  const [params, setParams] = useSearchParams();
  const key = filtersKey(filtersFromSearchParams(params));
  // biome-ignore lint/correctness/useExhaustiveDependencies: the key identifies the filters; a new object per render must not reload
  const filters = useMemo(() => filtersFromSearchParams(params), [key]);
  const { threads, leads } = useStores();
  const status = useThreads((s) => s.list.status);
  const error = useThreads((s) => s.list.error);
  const loadedKey = useThreads((s) => s.list.key);
  const nextCursor = useThreads((s) => s.list.nextCursor);
  const selected = useThreads((s) => s.selected);
  const leadList = useLeads((s) => s.byId);
  const ids = useVisibleThreadIds();
  const phone = useMediaQuery(PHONE_QUERY);

  useEffect(() => {
    void threads.getState().loadList(filters);
  }, [filters, threads]);

  useEffect(() => {
    void leads.getState().loadAll();
  }, [leads]);

  const update = useCallback(
    (patch: Partial<ThreadFilters>, options: { replace?: boolean } = {}) => {
      setParams(filtersToSearchParams({ ...filters, ...patch }), { replace: options.replace ?? false });
    },
    [filters, setParams],
  );
  const onSearch = useCallback((q: string, replace: boolean) => update({ q }, { replace }), [update]);

  const selectedIds = useMemo(() => ids.filter((id) => selected.has(id)), [ids, selected]);
  const leadsArray = useMemo(() => Object.values(leadList), [leadList]);
  const showingStale = loadedKey !== key;
  const loading = status === 'loading' || showingStale;
  const filterCount = activeFilterCount(filters);

  const filtersBar = <ThreadFiltersBar filters={filters} leads={leadsArray} onChange={update} />;

  let body: React.ReactNode;
  if (ids.length > 0) {
    // Row heights differ between phone and desktop layouts: a fresh virtualizer measures them anew.
    body = <ThreadTable key={phone ? 'phone' : 'desktop'} ids={ids} />;
  } else if (loading) {
    body = <SkeletonRows count={10} />;
  } else if (status === 'error') {
    body = (
      <ErrorState
        title="Threads could not be loaded"
        message={error ?? 'Unknown error'}
        onRetry={() => void threads.getState().loadList(filters, { force: true })}
      />
    );
  } else if (isDefaultFilters({ ...filters, sort: DEFAULT_FILTERS.sort, order: DEFAULT_FILTERS.order })) {
    body = (
      <EmptyState
        title="No threads yet"
        action={
          <Link className="button button--primary" to="/accounts">
            Connect a mail account
          </Link>
        }
      >
        Threads appear here as soon as your sent mail is synced or a thread is added through the API.
      </EmptyState>
    );
  } else {
    body = (
      <EmptyState
        title="No threads match these filters"
        action={
          <button
            type="button"
            className="button"
            onClick={() => update({ ...DEFAULT_FILTERS, sort: filters.sort, order: filters.order })}
          >
            Clear filters
          </button>
        }
      >
        Try another status or type, or a shorter search.
      </EmptyState>
    );
  }

  return (
    <div className="page page--fill">
      <div className="page__header">
        <div className="page__title-row page__title-row--split">
          <h1 className="page__title">Threads</h1>
          <span className="page__meta" aria-live="polite">
            {status === 'ready' && !showingStale
              ? `${formatCount(ids.length)}${nextCursor ? '+' : ''} thread${ids.length === 1 && !nextCursor ? '' : 's'}`
              : ''}
          </span>
          <SearchBox value={filters.q} onSearch={onSearch} />
          {phone ? null : <SortSelect filters={filters} onChange={update} />}
        </div>
        {phone ? (
          <details className="filters-disclosure">
            <summary className="button button--small">
              <FilterIcon size={15} /> Filters{filterCount > 0 ? ` (${filterCount})` : ''}
            </summary>
            {filtersBar}
            <SortSelect filters={filters} onChange={update} />
          </details>
        ) : (
          filtersBar
        )}
      </div>
      {status === 'error' && ids.length > 0 ? (
        <div className="banner banner--error" role="alert">
          Could not refresh the list: {error}{' '}
          <button
            type="button"
            className="link-button"
            onClick={() => void threads.getState().loadList(filters, { force: true })}
          >
            Try again
          </button>
        </div>
      ) : null}
      <div
        className={`list-area${loading && ids.length > 0 ? ' list-area--loading' : ''}`}
        aria-busy={loading}
      >
        {loading && ids.length > 0 ? <div className="progress-line" aria-hidden="true" /> : null}
        <BulkBar selectedIds={selectedIds} />
        {body}
      </div>
    </div>
  );
}
