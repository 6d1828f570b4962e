import { describe, expect, it } from 'vitest';
import { makeThread } from '../testing/fixtures.ts';
import {
  compareThreads,
  DEFAULT_FILTERS,
  filtersFromSearchParams,
  filtersToQuery,
  filtersToSearchParams,
  matchesFilters,
  type ThreadFilters,
} from './filters.ts';

const params = (query: string) => new URLSearchParams(query);

describe('filters <-> URL', () => {
  it('leaves the defaults out of the URL', () => {
    expect(filtersToSearchParams(DEFAULT_FILTERS).toString()).toBe('');
    expect(filtersFromSearchParams(params(''))).toEqual(DEFAULT_FILTERS);
  });

  it('round-trips every filter', () => {
    const filters: ThreadFilters = {
      status: 'archived',
      emailType: 'auto_followup',
      hidden: 'any',
      systemGenerated: 'only',
      leadId: '0b7a1f9e-1d2c-4e5f-8a9b-0c1d2e3f4a5b',
      q: 'acme corp',
      sort: 'createdAt',
      order: 'asc',
    };
    const url = filtersToSearchParams(filters);
    expect(url.toString()).toBe(
      'status=archived&type=auto_followup&hidden=any&system=only&lead=0b7a1f9e-1d2c-4e5f-8a9b-0c1d2e3f4a5b&q=acme+corp&sort=createdAt&order=asc',
    );
    expect(filtersFromSearchParams(url)).toEqual(filters);
  });

  it('ignores values it does not know instead of failing', () => {
    expect(
      filtersFromSearchParams(params('status=bogus&type=x&hidden=maybe&lead=not-a-uuid&sort=subject')),
    ).toEqual(DEFAULT_FILTERS);
  });

  it('trims and bounds the search text', () => {
    expect(filtersFromSearchParams(params(`q=${encodeURIComponent('  hi  ')}`)).q).toBe('hi');
    expect(filtersFromSearchParams(params(`q=${'x'.repeat(300)}`)).q).toHaveLength(200);
  });
});

describe('filters -> API query', () => {
  it('sends the default view as active, not hidden', () => {
    expect(filtersToQuery(DEFAULT_FILTERS, null, 100)).toEqual({
      status: 'active',
      hidden: false,
      sort: 'lastActivity',
      order: 'desc',
      limit: 100,
    });
  });

  it('omits what is "any" and passes the cursor', () => {
    const query = filtersToQuery(
      {
        ...DEFAULT_FILTERS,
        status: 'any',
        hidden: 'any',
        systemGenerated: 'exclude',
        emailType: 'manual',
        q: ' x ',
      },
      'abc',
      50,
    );
    expect(query).toEqual({
      systemGenerated: false,
      emailType: 'manual',
      q: 'x',
      sort: 'lastActivity',
      order: 'desc',
      limit: 50,
      cursor: 'abc',
    });
  });
});

describe('matchesFilters', () => {
  it('judges a thread as the server would', () => {
    const thread = makeThread({ subject: 'Hello Acme', participants: ['ana@globex.example'] });
    expect(matchesFilters(thread, DEFAULT_FILTERS)).toBe(true);
    expect(matchesFilters({ ...thread, hidden: true }, DEFAULT_FILTERS)).toBe(false);
    expect(matchesFilters({ ...thread, status: 'archived' }, DEFAULT_FILTERS)).toBe(false);
    expect(matchesFilters({ ...thread, status: 'archived' }, { ...DEFAULT_FILTERS, status: 'any' })).toBe(
      true,
    );
    expect(matchesFilters({ ...thread, status: 'deleted' }, { ...DEFAULT_FILTERS, status: 'any' })).toBe(
      false,
    );
    expect(matchesFilters(thread, { ...DEFAULT_FILTERS, q: 'GLOBEX' })).toBe(true);
    expect(matchesFilters(thread, { ...DEFAULT_FILTERS, q: 'initech' })).toBe(false);
    expect(matchesFilters(thread, { ...DEFAULT_FILTERS, emailType: 'manual' })).toBe(false);
  });
});

describe('compareThreads', () => {
  const a = makeThread({
    id: '00000000-0000-4000-8000-00000000000a',
    lastActivity: '2026-12-01T10:00:00.000001Z',
  });
  const b = makeThread({
    id: '00000000-0000-4000-8000-00000000000b',
    lastActivity: '2026-12-01T10:00:00.000002Z',
  });
  const none = makeThread({ lastActivity: null });

  it('orders by the sort column with microseconds, then by id', () => {
    expect([a, b].sort((x, y) => compareThreads(x, y, 'lastActivity', 'desc'))).toEqual([b, a]);
    expect([b, a].sort((x, y) => compareThreads(x, y, 'lastActivity', 'asc'))).toEqual([a, b]);
    const tie = { ...b, lastActivity: a.lastActivity };
    expect([a, tie].sort((x, y) => compareThreads(x, y, 'lastActivity', 'desc'))).toEqual([tie, a]);
  });

  it('puts threads without activity last when descending and first when ascending', () => {
    expect([none, a].sort((x, y) => compareThreads(x, y, 'lastActivity', 'desc'))).toEqual([a, none]);
    expect([a, none].sort((x, y) => compareThreads(x, y, 'lastActivity', 'asc'))).toEqual([none, a]);
  });
});
