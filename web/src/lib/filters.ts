// Thread list filters: the URL is their source of truth (shareable, back button), the store loads what they say.
// Only values that differ from the defaults appear in the URL, so the plain /threads link is the default view.
import type { EmailType, Thread, ThreadListQuery, ThreadSort, ThreadStatus } from '../api/types.ts';
import { EMAIL_TYPES, THREAD_STATUSES } from '../api/types.ts';

export type StatusFilter = ThreadStatus | 'any';
export type TriState = 'exclude' | 'only' | 'any';

export interface ThreadFilters {
  /** 'any' = every status except deleted (the server's default). */
  status: StatusFilter;
  emailType: EmailType | 'any';
  hidden: TriState;
  systemGenerated: TriState;
  leadId: string | null;
  q: string;
  sort: ThreadSort;
  order: 'desc' | 'asc';
}

export const DEFAULT_FILTERS: Readonly<ThreadFilters> = Object.freeze({
  status: 'active',
  emailType: 'any',
  hidden: 'exclude',
  systemGenerated: 'any',
  leadId: null,
  q: '',
  sort: 'lastActivity',
  order: 'desc',
});

const TRI_STATES: readonly TriState[] = ['exclude', 'only', 'any'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function pick<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

/** Reads filters from a URL query; unknown or invalid values fall back to the defaults. */
export function filtersFromSearchParams(params: URLSearchParams): ThreadFilters {
  const lead = params.get('lead');
  return {
    status: pick<StatusFilter>(params.get('status'), [...THREAD_STATUSES, 'any'], DEFAULT_FILTERS.status),
    emailType: pick<EmailType | 'any'>(
      params.get('type'),
      [...EMAIL_TYPES, 'any'],
      DEFAULT_FILTERS.emailType,
    ),
    hidden: pick(params.get('hidden'), TRI_STATES, DEFAULT_FILTERS.hidden),
    systemGenerated: pick(params.get('system'), TRI_STATES, DEFAULT_FILTERS.systemGenerated),
    leadId: lead && UUID.test(lead) ? lead.toLowerCase() : null,
    q: (params.get('q') ?? '').trim().slice(0, 200),
    sort: pick<ThreadSort>(params.get('sort'), ['lastActivity', 'createdAt'], DEFAULT_FILTERS.sort),
    order: pick(params.get('order'), ['desc', 'asc'] as const, DEFAULT_FILTERS.order),
  };
}

export function filtersToSearchParams(filters: ThreadFilters): URLSearchParams {
  const params = new URLSearchParams();
  if (filters.status !== DEFAULT_FILTERS.status) params.set('status', filters.status);
  if (filters.emailType !== DEFAULT_FILTERS.emailType) params.set('type', filters.emailType);
  if (filters.hidden !== DEFAULT_FILTERS.hidden) params.set('hidden', filters.hidden);
  if (filters.systemGenerated !== DEFAULT_FILTERS.systemGenerated)
    params.set('system', filters.systemGenerated);
  if (filters.leadId) params.set('lead', filters.leadId);
  if (filters.q.trim()) params.set('q', filters.q.trim());
  if (filters.sort !== DEFAULT_FILTERS.sort) params.set('sort', filters.sort);
  if (filters.order !== DEFAULT_FILTERS.order) params.set('order', filters.order);
  return params;
}

/** A stable key: two filter values load the same list exactly when their keys are equal. */
export function filtersKey(filters: ThreadFilters): string {
  return filtersToSearchParams(filters).toString();
}

export function isDefaultFilters(filters: ThreadFilters): boolean {
  return filtersKey(filters) === '';
}

function triToBoolean(value: TriState): boolean | undefined {
  return value === 'any' ? undefined : value === 'only';
}

/** The API query for a page of the list. */
export function filtersToQuery(filters: ThreadFilters, cursor?: string | null, limit = 100): ThreadListQuery {
  const query: ThreadListQuery = { sort: filters.sort, order: filters.order, limit };
  if (filters.status !== 'any') query.status = filters.status;
  if (filters.emailType !== 'any') query.emailType = filters.emailType;
  const hidden = triToBoolean(filters.hidden);
  if (hidden !== undefined) query.hidden = hidden;
  const systemGenerated = triToBoolean(filters.systemGenerated);
  if (systemGenerated !== undefined) query.systemGenerated = systemGenerated;
  if (filters.leadId) query.leadId = filters.leadId;
  if (filters.q.trim()) query.q = filters.q.trim();
  if (cursor) query.cursor = cursor;
  return query;
}

/**
 * Whether a thread belongs in the list these filters describe, judged the way the server judges it. Used to drop
 * a row the moment an optimistic change (or a live event) takes it out of the view, and to bring it back on
 * rollback, without reloading the list.
 */
export function matchesFilters(thread: Thread, filters: ThreadFilters): boolean {
  if (filters.status === 'any' ? thread.status === 'deleted' : thread.status !== filters.status) return false;
  if (filters.emailType !== 'any' && thread.emailType !== filters.emailType) return false;
  const hidden = triToBoolean(filters.hidden);
  if (hidden !== undefined && thread.hidden !== hidden) return false;
  const systemGenerated = triToBoolean(filters.systemGenerated);
  if (systemGenerated !== undefined && thread.systemGenerated !== systemGenerated) return false;
  if (filters.leadId && thread.leadId !== filters.leadId) return false;
  const q = filters.q.trim().toLowerCase();
  if (q) {
    const haystack = `${thread.subject ?? ''}\n${thread.participants.join(' ')}`.toLowerCase();
    if (!haystack.includes(q)) return false;
  }
  return true;
}

/**
 * Order of the list, as the server sorts it: by the sort column (NULLs last when descending, first when
 * ascending), then by id. Ids are lower-case UUIDs, so comparing the text compares the bytes as PostgreSQL does.
 */
export function compareThreads(a: Thread, b: Thread, sort: ThreadSort, order: 'asc' | 'desc'): number {
  const av = a[sort];
  const bv = b[sort];
  let result: number;
  if (av === bv) result = 0;
  else if (av === null) result = order === 'desc' ? 1 : -1;
  else if (bv === null) result = order === 'desc' ? -1 : 1;
  else {
    // Same-format ISO strings with microseconds compare correctly as text; Date would drop the microseconds.
    result = Date.parse(av) - Date.parse(bv) || (av < bv ? -1 : av > bv ? 1 : 0);
    if (order === 'desc') result = -result;
  }
  if (result !== 0) return result;
  const idOrder = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return order === 'desc' ? -idOrder : idOrder;
}
