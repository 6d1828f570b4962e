// Loaded on demand (see app.tsx) together with the charts, so recharts never weighs on the first load.
import { useEffect, useId, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { AnalyticsQuery } from '../api/types.ts';
import { ErrorState, LoadingState } from '../components/states.tsx';
import { useDocumentTitle } from '../components/use-document-title.ts';
import { formatCount, formatFraction, formatHours } from '../lib/format.ts';
import { isoToZonedParts, userTimeZone, zonedDateTimeToIso } from '../lib/time-zone.ts';
import { useAnalytics, useStores } from '../stores/app-stores.tsx';
import AnalyticsCharts from './analytics-charts.tsx';

const PRESETS = [
  ['7d', '7 days', 7],
  ['30d', '30 days', 30],
  ['90d', '90 days', 90],
  ['12m', '12 months', 365],
] as const;
type Preset = (typeof PRESETS)[number][0];

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface AnalyticsRange {
  preset: Preset | 'custom';
  from: string;
  to: string;
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The range in the URL (?range=30d, or ?from=YYYY-MM-DD&to=YYYY-MM-DD), as calendar days in the zone. */
export function rangeFromParams(params: URLSearchParams, timeZone: string, now: number): AnalyticsRange {
  const today = isoToZonedParts(now, timeZone).date;
  const from = params.get('from');
  const to = params.get('to');
  if (from && to && DATE.test(from) && DATE.test(to) && from <= to) return { preset: 'custom', from, to };
  const preset = PRESETS.find(([key]) => key === params.get('range')) ?? PRESETS[1];
  return { preset: preset[0], from: addDays(today, -(preset[2] - 1)), to: today };
}

/** Whole days, from the start of `from` to the end of `to`, in the user's zone. */
export function rangeToQuery(range: AnalyticsRange, timeZone: string): AnalyticsQuery {
  return {
    from: zonedDateTimeToIso(range.from, '00:00', timeZone)!,
    // The server lists every calendar day up to and including the one `to` falls on: end on the last second.
    to: new Date(
      Date.parse(zonedDateTimeToIso(addDays(range.to, 1), '00:00', timeZone)!) - 1000,
    ).toISOString(),
    tz: timeZone,
  };
}

function RangePicker({
  range,
  onChange,
}: {
  range: AnalyticsRange;
  onChange: (params: URLSearchParams) => void;
}) {
  const [custom, setCustom] = useState(range.preset === 'custom');
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const fromId = useId();
  const toId = useId();
  useEffect(() => {
    setFrom(range.from);
    setTo(range.to);
  }, [range.from, range.to]);
  const invalid = !from || !to || from > to;
  return (
    <div className="range-picker">
      <fieldset className="segmented">
        <legend className="visually-hidden">Time range</legend>
        {PRESETS.map(([key, label]) => (
          <button
            key={key}
            type="button"
            className="segmented__option"
            aria-pressed={!custom && range.preset === key}
            onClick={() => {
              setCustom(false);
              onChange(new URLSearchParams(key === '30d' ? {} : { range: key }));
            }}
          >
            {label}
          </button>
        ))}
        <button
          type="button"
          className="segmented__option"
          aria-pressed={custom}
          onClick={() => setCustom(true)}
        >
          Custom
        </button>
      </fieldset>
      {custom ? (
        <form
          className="range-picker__custom"
          onSubmit={(e) => {
            e.preventDefault();
            if (!invalid) onChange(new URLSearchParams({ from, to }));
          }}
        >
          <div className="field field--inline">
            <label htmlFor={fromId} className="field__label">
              From
            </label>
            <input
              id={fromId}
              type="date"
              className="input"
              value={from}
              max={to}
              onChange={(e) => setFrom(e.target.value)}
            />
          </div>
          <div className="field field--inline">
            <label htmlFor={toId} className="field__label">
              To
            </label>
            <input
              id={toId}
              type="date"
              className="input"
              value={to}
              min={from}
              onChange={(e) => setTo(e.target.value)}
            />
          </div>
          <button type="submit" className="button button--small" disabled={invalid}>
            Apply
          </button>
        </form>
      ) : null}
    </div>
  );
}

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div className="stat">
      <p className="stat__label">{label}</p>
      <p className="stat__value">{value}</p>
      {hint ? <p className="stat__hint">{hint}</p> : null}
    </div>
  );
}

export default function AnalyticsPage() {
  useDocumentTitle('Analytics');
  const [params, setParams] = useSearchParams();
  const { analytics } = useStores();
  const status = useAnalytics((s) => s.status);
  const data = useAnalytics((s) => s.data);
  const error = useAnalytics((s) => s.error);
  const timeZone = useMemo(() => userTimeZone(), []);
  const search = params.toString();
  const range = useMemo(
    () => rangeFromParams(new URLSearchParams(search), timeZone, Date.now()),
    [search, timeZone],
  );
  const query = useMemo(() => rangeToQuery(range, timeZone), [range, timeZone]);

  useEffect(() => {
    void analytics.getState().load(query);
  }, [query, analytics]);

  let body: React.ReactNode;
  if (!data && (status === 'loading' || status === 'idle'))
    body = <LoadingState label="Crunching the numbers…" />;
  else if (status === 'error' && !data)
    body = (
      <ErrorState
        title="Analytics could not be loaded"
        message={error ?? ''}
        onRetry={() => void analytics.getState().load(query)}
      />
    );
  else if (data) {
    const median = data.responseTimeHours.median;
    body = (
      <div className={status === 'loading' ? 'is-refreshing' : undefined} aria-busy={status === 'loading'}>
        {status === 'error' ? (
          <div className="banner banner--error" role="alert">
            Could not update: {error}
          </div>
        ) : null}
        <div className="stats">
          <Stat label="Threads" value={formatCount(data.totals.threads)} hint="started in this range" />
          <Stat
            label="Reply rate"
            value={formatFraction(data.replyRate)}
            hint={`${formatCount(data.totals.replied)} replied`}
          />
          <Stat
            label="Median response"
            value={formatHours(median)}
            hint={
              data.responseTimeHours.p90 !== null
                ? `90% within ${formatHours(data.responseTimeHours.p90)}`
                : undefined
            }
          />
          <Stat
            label="Follow-ups"
            value={formatCount(data.totals.followupsSent)}
            hint={`sent · ${formatCount(data.totals.followupsScheduled)} scheduled`}
          />
        </div>
        {data.totals.threads === 0 ? (
          <p className="banner">No threads were started in this range. Pick a longer one to see more.</p>
        ) : null}
        <AnalyticsCharts data={data} />
      </div>
    );
  }

  return (
    <div className="page page--wide">
      <div className="page__header">
        <div className="page__title-row">
          <h1 className="page__title">Analytics</h1>
          <span className="page__meta">{timeZone}</span>
        </div>
        <RangePicker range={range} onChange={(next) => setParams(next)} />
      </div>
      {body}
    </div>
  );
}
