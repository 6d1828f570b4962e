// biome-ignore-all lint/a11y/useSemanticElements: rows of a virtualized list are positioned absolutely, which table layout cannot do; ARIA grid roles give the table semantics instead
// biome-ignore-all lint/a11y/useFocusableInteractive: cells are reached through their row's roving tabindex, one tab stop for the whole grid
// The thread list: a virtualized ARIA grid, so 10,000 loaded threads cost the DOM only the rows on screen.
// Keyboard: arrows (or j/k) move between rows, Enter opens a thread, Space selects, Shift+click selects a range.
// The next page loads before the end of the loaded rows comes into view.
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import type { Lead, Thread } from '../api/types.ts';
import { formatDateTime, formatParticipants, formatRelative } from '../lib/format.ts';
import { useLeads, useStores, useThreads } from '../stores/app-stores.tsx';
import { leadName } from '../stores/leads-store.ts';
import { selectVisibleIds } from '../stores/threads-store.ts';
import { FollowupDue, ReplyState, StatusBadge, TypeLabel } from './badges.tsx';
import { PHONE_QUERY, useMediaQuery } from './use-media-query.ts';
import { useNow } from './use-now.tsx';

const ROW_HEIGHT = 44;
const PHONE_ROW_HEIGHT = 72;
/** Rows before the end of what is loaded at which the next page is requested. */
const PREFETCH_ROWS = 40;

export function useVisibleThreadIds(): string[] {
  const ids = useThreads((s) => s.list.ids);
  const byId = useThreads((s) => s.byId);
  const filters = useThreads((s) => s.list.filters);
  return useMemo(() => selectVisibleIds(byId, ids, filters), [ids, byId, filters]);
}

interface RowProps {
  thread: Thread;
  index: number;
  start: number;
  height: number;
  selected: boolean;
  focusable: boolean;
  busy: boolean;
  lead: Lead | undefined;
  now: number;
  onToggle: (index: number, threadId: string, shiftKey: boolean) => void;
  onFocusRow: (index: number) => void;
  onOpen: (threadId: string) => void;
  onRowKeyDown: (e: React.KeyboardEvent<HTMLDivElement>, index: number, threadId: string) => void;
}

const ThreadRow = memo(function ThreadRow({
  thread,
  index,
  start,
  height,
  selected,
  focusable,
  busy,
  lead,
  now,
  onToggle,
  onFocusRow,
  onOpen,
  onRowKeyDown,
}: RowProps) {
  const subject = thread.subject?.trim() || '(no subject)';
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      aria-selected={selected}
      aria-busy={busy || undefined}
      data-index={index}
      data-thread-id={thread.threadId}
      tabIndex={focusable ? 0 : -1}
      className={`trow${selected ? ' trow--selected' : ''}${busy ? ' trow--busy' : ''}`}
      style={{ transform: `translateY(${start}px)`, height }}
      onFocus={() => onFocusRow(index)}
      onKeyDown={(e) => onRowKeyDown(e, index, thread.threadId)}
      onClick={(e) => {
        const target = e.target as HTMLElement;
        if (target.closest('a, button, input, label')) return;
        onOpen(thread.threadId);
      }}
    >
      <div role="gridcell" className="tcell tcell--check">
        <input
          type="checkbox"
          className="checkbox"
          tabIndex={-1}
          checked={selected}
          aria-label={`Select ${subject}`}
          onClick={(e) => {
            e.stopPropagation();
            onToggle(index, thread.threadId, e.shiftKey);
          }}
          onChange={() => {}}
        />
      </div>
      <div role="gridcell" className="tcell tcell--subject">
        <Link to={`/threads/${encodeURIComponent(thread.threadId)}`} tabIndex={-1} className="trow__subject">
          {subject}
        </Link>
        {thread.hidden ? <span className="chip">Hidden</span> : null}
        {thread.systemGenerated ? <span className="chip chip--system">Auto</span> : null}
      </div>
      <div role="gridcell" className="tcell tcell--people" title={thread.participants.join(', ')}>
        {formatParticipants(thread.participants)}
      </div>
      <div role="gridcell" className="tcell tcell--lead">
        {thread.leadId ? (
          lead ? (
            leadName(lead)
          ) : (
            <span className="muted">…</span>
          )
        ) : (
          <span className="muted">—</span>
        )}
      </div>
      <div role="gridcell" className="tcell tcell--type">
        <TypeLabel type={thread.emailType} />
      </div>
      <div role="gridcell" className="tcell tcell--status">
        <StatusBadge status={thread.status} />
      </div>
      <div role="gridcell" className="tcell tcell--activity">
        {thread.lastActivity ? (
          <time dateTime={thread.lastActivity} title={formatDateTime(thread.lastActivity)}>
            {formatRelative(thread.lastActivity, now)}
          </time>
        ) : (
          <span className="muted">—</span>
        )}
      </div>
      <div role="gridcell" className="tcell tcell--due">
        <FollowupDue thread={thread} now={now} />
      </div>
      <div role="gridcell" className="tcell tcell--reply">
        <ReplyState thread={thread} />
      </div>
    </div>
  );
});

export function ThreadTable({ ids }: { ids: string[] }) {
  const { threads, leads } = useStores();
  const byId = useThreads((s) => s.byId);
  const selected = useThreads((s) => s.selected);
  const pending = useThreads((s) => s.pending);
  const nextCursor = useThreads((s) => s.list.nextCursor);
  const loadingMore = useThreads((s) => s.list.loadingMore);
  const loadMoreError = useThreads((s) => s.list.loadMoreError);
  const initialOffset = useThreads((s) => s.list.scrollOffset);
  const leadsById = useLeads((s) => s.byId);
  const now = useNow();
  const navigate = useNavigate();
  const phone = useMediaQuery(PHONE_QUERY);
  const rowHeight = phone ? PHONE_ROW_HEIGHT : ROW_HEIGHT;
  const scrollRef = useRef<HTMLDivElement>(null);
  const scrollOffset = useRef(initialOffset);
  const [focusIndex, setFocusIndex] = useState(0);
  const anchor = useRef<number | null>(null);

  const virtualizer = useVirtualizer({
    count: ids.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 8,
    initialOffset,
    getItemKey: (index) => ids[index] ?? index,
  });

  useEffect(() => {
    return () => threads.getState().setScrollOffset(scrollOffset.current);
  }, [threads]);

  const items = virtualizer.getVirtualItems();
  const lastIndex = items.at(-1)?.index ?? -1;
  useEffect(() => {
    if (nextCursor && !loadingMore && !loadMoreError && lastIndex >= ids.length - PREFETCH_ROWS) {
      void threads.getState().loadMore();
    }
  }, [lastIndex, ids.length, nextCursor, loadingMore, loadMoreError, threads]);

  // Leads referenced by visible rows but not loaded (e.g. beyond the first pages of leads).
  useEffect(() => {
    const state = leads.getState();
    if (state.status !== 'ready') return;
    for (const item of items) {
      const leadId = byId[ids[item.index] ?? '']?.leadId;
      if (leadId && !state.byId[leadId]) void state.ensure(leadId);
    }
  });

  const focusRow = useCallback(
    (index: number) => {
      const clamped = Math.max(0, Math.min(ids.length - 1, index));
      setFocusIndex(clamped);
      virtualizer.scrollToIndex(clamped, { align: 'auto' });
      requestAnimationFrame(() => {
        scrollRef.current
          ?.querySelector<HTMLElement>(`[data-index="${clamped}"]`)
          ?.focus({ preventScroll: true });
      });
    },
    [ids.length, virtualizer],
  );

  const onToggle = useCallback(
    (index: number, threadId: string, shiftKey: boolean) => {
      const state = threads.getState();
      if (shiftKey && anchor.current !== null) {
        const [from, to] = anchor.current < index ? [anchor.current, index] : [index, anchor.current];
        state.setSelected(ids.slice(from, to + 1), !state.selected.has(threadId));
      } else {
        state.toggleSelected(threadId);
      }
      anchor.current = index;
      setFocusIndex(index);
    },
    [ids, threads],
  );

  const onOpen = useCallback(
    (threadId: string) => navigate(`/threads/${encodeURIComponent(threadId)}`),
    [navigate],
  );

  const onRowKeyDown = (e: React.KeyboardEvent<HTMLDivElement>, index: number, threadId: string) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 400) / rowHeight) - 1);
    const moves: Record<string, number> = {
      ArrowDown: index + 1,
      j: index + 1,
      ArrowUp: index - 1,
      k: index - 1,
      PageDown: index + page,
      PageUp: index - page,
      Home: 0,
      End: ids.length - 1,
    };
    const target = moves[e.key];
    if (target !== undefined) {
      e.preventDefault();
      if (e.shiftKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
        threads.getState().setSelected([threadId, ids[Math.max(0, Math.min(ids.length - 1, target))]!], true);
      }
      focusRow(target);
    } else if (e.key === 'Enter' || e.key === 'o') {
      e.preventDefault();
      onOpen(threadId);
    } else if (e.key === ' ' || e.key === 'x') {
      e.preventDefault();
      onToggle(index, threadId, e.shiftKey);
    }
  };

  const focusable = Math.min(focusIndex, Math.max(0, ids.length - 1));
  const visibleSelected = useMemo(() => ids.filter((id) => selected.has(id)), [ids, selected]);
  const allSelected = ids.length > 0 && visibleSelected.length === ids.length;
  const someSelected = visibleSelected.length > 0 && !allSelected;

  return (
    <div
      className="tgrid"
      role="grid"
      aria-label="Threads"
      aria-rowcount={ids.length + 1 + (nextCursor ? 1 : 0)}
      aria-multiselectable="true"
    >
      <div role="rowgroup" className="thead">
        <div role="row" aria-rowindex={1} className="trow trow--head">
          <div role="columnheader" className="tcell tcell--check">
            <input
              type="checkbox"
              className="checkbox"
              aria-label={allSelected ? 'Deselect all loaded threads' : 'Select all loaded threads'}
              checked={allSelected}
              ref={(el) => {
                if (el) el.indeterminate = someSelected;
              }}
              onChange={() => threads.getState().setSelected(ids, !allSelected)}
            />
          </div>
          <div role="columnheader" className="tcell tcell--subject">
            Subject
          </div>
          <div role="columnheader" className="tcell tcell--people">
            Participants
          </div>
          <div role="columnheader" className="tcell tcell--lead">
            Lead
          </div>
          <div role="columnheader" className="tcell tcell--type">
            Type
          </div>
          <div role="columnheader" className="tcell tcell--status">
            Status
          </div>
          <div role="columnheader" className="tcell tcell--activity">
            Last activity
          </div>
          <div role="columnheader" className="tcell tcell--due">
            Follow-up
          </div>
          <div role="columnheader" className="tcell tcell--reply">
            Reply
          </div>
        </div>
      </div>
      <div
        ref={scrollRef}
        role="rowgroup"
        className="tbody"
        onScroll={(e) => {
          scrollOffset.current = e.currentTarget.scrollTop;
        }}
      >
        <div className="tbody__spacer" style={{ height: virtualizer.getTotalSize() + (nextCursor ? 48 : 0) }}>
          {items.map((item) => {
            const threadId = ids[item.index]!;
            const thread = byId[threadId];
            if (!thread) return null;
            return (
              <ThreadRow
                key={item.key}
                thread={thread}
                index={item.index}
                start={item.start}
                height={item.size}
                selected={selected.has(threadId)}
                focusable={item.index === focusable}
                busy={Boolean(pending[threadId])}
                lead={thread.leadId ? leadsById[thread.leadId] : undefined}
                now={now}
                onToggle={onToggle}
                onFocusRow={setFocusIndex}
                onOpen={onOpen}
                onRowKeyDown={onRowKeyDown}
              />
            );
          })}
          {nextCursor || loadMoreError ? (
            <div className="tbody__more" style={{ transform: `translateY(${virtualizer.getTotalSize()}px)` }}>
              {loadMoreError ? (
                <span role="alert">
                  Could not load more threads: {loadMoreError}{' '}
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => void threads.getState().loadMore()}
                  >
                    Try again
                  </button>
                </span>
              ) : (
                <span className="muted">Loading more…</span>
              )}
            </div>
          ) : null}
        </div>
      </div>
    </div>
  );
}
