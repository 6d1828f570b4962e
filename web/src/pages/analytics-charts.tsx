// The charts of the analytics page. This module is the only one importing recharts, and it is loaded on demand with
// the analytics page, so the rest of the app does not pay for the chart library.
import {
  Bar,
  BarChart,
  CartesianGrid,
  ComposedChart,
  LabelList,
  Legend,
  Line,
  Pie,
  PieChart,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { ThreadAnalytics } from '../api/types.ts';
import { EMAIL_TYPE_LABELS, formatDate, formatFraction, STATUS_LABELS } from '../lib/format.ts';

const COLORS = {
  primary: '#5b5bd6',
  primarySoft: '#c7c7f4',
  line: '#9a9aa6',
  grid: 'var(--chart-grid)',
  axis: 'var(--chart-axis)',
};

const STATUS_COLORS: Record<string, string> = {
  active: '#5b5bd6',
  archived: '#9a9aa6',
  spam: '#d9822b',
  deleted: '#d13d3d',
};

const CHART_HEIGHT = 240;
/** Long enough to show what changed, short enough not to keep anyone waiting. */
const ANIMATION_MS = 400;
const chartStyle = { width: '100%', height: CHART_HEIGHT } as const;
const axisTick = { fontSize: 12, fill: 'var(--chart-axis)' };
const tooltipStyle = {
  contentStyle: {
    borderRadius: 8,
    border: '1px solid var(--border)',
    background: 'var(--surface)',
    color: 'var(--text)',
    boxShadow: '0 4px 16px rgba(16,16,24,.10)',
    fontSize: 13,
  },
  labelStyle: { color: 'var(--text)', fontWeight: 600 },
  cursor: { fill: 'var(--hover)' },
};

function ChartCard({
  title,
  subtitle,
  children,
  table,
  wide,
}: {
  title: string;
  subtitle?: string;
  children: React.ReactNode;
  table: { headers: string[]; rows: (string | number)[][] };
  wide?: boolean;
}) {
  const id = `chart-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  return (
    <figure className={`card chart${wide ? ' chart--wide' : ''}`} aria-labelledby={id} data-chart={title}>
      <figcaption className="card__header chart__header">
        <h2 id={id} className="card__title">
          {title}
        </h2>
        {subtitle ? <span className="muted">{subtitle}</span> : null}
      </figcaption>
      <div className="chart__body" aria-hidden="true">
        {children}
      </div>
      <table className="visually-hidden">
        <caption>{title}</caption>
        <thead>
          <tr>
            {table.headers.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {table.rows.map((row) => (
            <tr key={String(row[0])}>
              {row.map((cell, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: cells of a fixed-shape row
                <td key={i}>{cell}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

const percentTick = (value: number) => `${Math.round(value * 100)}%`;

function ThreadsPerDay({ data }: { data: ThreadAnalytics['daily'] }) {
  const rows = data.map((d) => ({ ...d, label: formatDate(d.date) }));
  return (
    <ChartCard
      title="Threads per day"
      subtitle="Started, and with activity"
      wide
      table={{
        headers: ['Date', 'Started', 'With activity'],
        rows: data.map((d) => [d.date, d.created, d.lastActivity]),
      }}
    >
      <ComposedChart
        data={rows}
        style={chartStyle}
        responsive
        margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
      >
        <CartesianGrid stroke={COLORS.grid} vertical={false} />
        <XAxis
          dataKey="label"
          tick={axisTick}
          tickLine={false}
          axisLine={false}
          interval="preserveStartEnd"
          minTickGap={20}
        />
        <YAxis allowDecimals={false} tick={axisTick} tickLine={false} axisLine={false} width={44} />
        <Tooltip {...tooltipStyle} />
        <Legend iconType="circle" iconSize={8} wrapperStyle={{ fontSize: 12 }} />
        <Bar
          dataKey="created"
          name="Started"
          fill={COLORS.primary}
          radius={[3, 3, 0, 0]}
          maxBarSize={28}
          animationDuration={ANIMATION_MS}
        />
        <Line
          dataKey="lastActivity"
          name="With activity"
          stroke={COLORS.line}
          strokeWidth={2}
          dot={false}
          type="monotone"
          animationDuration={ANIMATION_MS}
        />
      </ComposedChart>
    </ChartCard>
  );
}

function RateChart({
  title,
  subtitle,
  rows,
}: {
  title: string;
  subtitle: string;
  rows: { label: string; replyRate: number | null; threads: number; replied: number }[];
}) {
  const data = rows.map((r) => ({ ...r, rate: r.replyRate ?? 0 }));
  return (
    <ChartCard
      title={title}
      subtitle={subtitle}
      table={{
        headers: ['Group', 'Threads', 'Replied', 'Reply rate'],
        rows: rows.map((r) => [r.label, r.threads, r.replied, formatFraction(r.replyRate)]),
      }}
    >
      <BarChart data={data} style={chartStyle} responsive margin={{ top: 20, right: 8, bottom: 0, left: 0 }}>
        <CartesianGrid stroke={COLORS.grid} vertical={false} />
        <XAxis dataKey="label" tick={axisTick} tickLine={false} axisLine={false} interval={0} />
        <YAxis
          domain={[0, 1]}
          tickFormatter={percentTick}
          tick={axisTick}
          tickLine={false}
          axisLine={false}
          width={44}
        />
        <Tooltip
          {...tooltipStyle}
          formatter={(value, _name, item) => {
            const row = item.payload as { threads: number; replied: number };
            return [`${formatFraction(Number(value))} (${row.replied} of ${row.threads})`, 'Reply rate'];
          }}
        />
        <Bar
          dataKey="rate"
          name="Reply rate"
          fill={COLORS.primary}
          radius={[3, 3, 0, 0]}
          maxBarSize={48}
          animationDuration={ANIMATION_MS}
        >
          <LabelList
            dataKey="rate"
            position="top"
            formatter={(value: unknown) => (Number(value) > 0 ? formatFraction(Number(value)) : '')}
            style={{ fontSize: 11, fill: 'var(--muted)' }}
          />
        </Bar>
      </BarChart>
    </ChartCard>
  );
}

function ResponseTimes({ data }: { data: ThreadAnalytics['responseTimeHistogram'] }) {
  return (
    <ChartCard
      title="Response time"
      subtitle="How long replies took"
      table={{ headers: ['Time to reply', 'Threads'], rows: data.map((d) => [d.bucket, d.count]) }}
    >
      <BarChart data={data} style={chartStyle} responsive margin={{ top: 20, right: 8, bottom: 0, left: 0 }}>
        <CartesianGrid stroke={COLORS.grid} vertical={false} />
        <XAxis dataKey="bucket" tick={axisTick} tickLine={false} axisLine={false} interval={0} />
        <YAxis allowDecimals={false} tick={axisTick} tickLine={false} axisLine={false} width={44} />
        <Tooltip {...tooltipStyle} formatter={(value) => [String(value), 'Threads']} />
        <Bar
          dataKey="count"
          name="Threads"
          fill={COLORS.primary}
          radius={[3, 3, 0, 0]}
          maxBarSize={48}
          animationDuration={ANIMATION_MS}
        >
          <LabelList
            dataKey="count"
            position="top"
            formatter={(value: unknown) => (Number(value) > 0 ? String(value) : '')}
            style={{ fontSize: 11, fill: 'var(--muted)' }}
          />
        </Bar>
      </BarChart>
    </ChartCard>
  );
}

function StatusBreakdown({ data }: { data: ThreadAnalytics['byStatus'] }) {
  const rows = (Object.keys(STATUS_LABELS) as (keyof typeof STATUS_LABELS)[]).map((status) => ({
    status,
    name: STATUS_LABELS[status],
    value: data[status] ?? 0,
    fill: STATUS_COLORS[status],
  }));
  const total = rows.reduce((n, r) => n + r.value, 0);
  return (
    <ChartCard
      title="Status"
      subtitle={`${total} thread${total === 1 ? '' : 's'}`}
      table={{ headers: ['Status', 'Threads'], rows: rows.map((r) => [r.name, r.value]) }}
    >
      <div className="donut">
        <PieChart style={{ width: 180, height: 180 }} responsive>
          <Pie
            data={rows.filter((r) => r.value > 0)}
            dataKey="value"
            nameKey="name"
            innerRadius={56}
            outerRadius={84}
            paddingAngle={rows.filter((r) => r.value > 0).length > 1 ? 2 : 0}
            stroke="none"
            isAnimationActive={false}
          />
          <Tooltip {...tooltipStyle} />
        </PieChart>
        <ul className="donut__legend">
          {rows.map((r) => (
            <li key={r.status}>
              <span className="donut__swatch" style={{ background: r.fill }} />
              <span className="donut__name">{r.name}</span>
              <span className="donut__value">{r.value}</span>
            </li>
          ))}
        </ul>
      </div>
    </ChartCard>
  );
}

const SHORT_TYPE_LABELS: Record<string, string> = { auto_followup: 'Auto', unclassified: 'Other' };

const FOLLOWUP_LABELS: Record<string, string> = {
  '0': 'None',
  '1': '1',
  '2': '2',
  '3+': '3 or more',
};

export default function AnalyticsCharts({ data }: { data: ThreadAnalytics }) {
  return (
    <div className="chart-grid">
      <ThreadsPerDay data={data.daily} />
      <RateChart
        title="Reply rate by type"
        subtitle="Replied threads over threads sent"
        rows={data.replyRateByEmailType
          .filter((r) => r.threads > 0 || r.emailType !== 'unclassified')
          .map((r) => ({ ...r, label: SHORT_TYPE_LABELS[r.emailType] ?? EMAIL_TYPE_LABELS[r.emailType] }))}
      />
      <RateChart
        title="Reply rate by follow-ups sent"
        subtitle="Does following up help?"
        rows={data.replyRateByFollowupCount.map((r) => ({
          ...r,
          label: FOLLOWUP_LABELS[r.followupCount] ?? r.followupCount,
        }))}
      />
      <ResponseTimes data={data.responseTimeHistogram} />
      <StatusBreakdown data={data.byStatus} />
    </div>
  );
}
