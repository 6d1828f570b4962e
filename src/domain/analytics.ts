/**
 * Analytics math, pure. The store returns raw aggregates (counts and percentiles computed where the rows are);
 * this module turns them into the figures the README defines: it fills categories and days that have no rows with
 * zeros, so charts never have holes, and computes every rate from counts in one place.
 */
import { AppError } from './errors.ts';
import { EMAIL_TYPES, type EmailType, THREAD_STATUSES, type ThreadStatus } from './thread.ts';

export const RESPONSE_TIME_BUCKETS = ['<1h', '1-4h', '4-24h', '1-3d', '3-7d', '>7d'] as const;
export type ResponseTimeBucket = (typeof RESPONSE_TIME_BUCKETS)[number];
export const FOLLOWUP_BUCKETS = ['0', '1', '2', '3+'] as const;
export type FollowupBucket = (typeof FOLLOWUP_BUCKETS)[number];
export const MAX_RANGE_DAYS = 731;
export const DEFAULT_RANGE_DAYS = 30;

export interface AnalyticsRange {
  from: string;
  to: string;
  tz: string;
}

export interface AnalyticsAggregates {
  byStatus: { status: ThreadStatus; count: number }[];
  /** Population rows only (not deleted). */
  byEmailType: { emailType: EmailType | null; threads: number; replied: number }[];
  byFollowupCount: { bucket: FollowupBucket; threads: number; replied: number }[];
  hidden: number;
  systemGenerated: number;
  aiGenerated: number;
  tracked: number;
  followupsScheduled: number;
  followupsSent: number;
  averageOpenRate: number | null;
  averageReplyRate: number | null;
  responseTime: { count: number; median: number | null; p90: number | null; average: number | null };
  histogram: { bucket: ResponseTimeBucket; count: number }[];
  daily: { date: string; created: number; lastActivity: number }[];
}

export interface RateRow {
  threads: number;
  replied: number;
  replyRate: number | null;
}

export interface ThreadAnalytics {
  range: AnalyticsRange;
  totals: {
    threads: number;
    replied: number;
    hidden: number;
    systemGenerated: number;
    aiGenerated: number;
    tracked: number;
    followupsScheduled: number;
    followupsSent: number;
  };
  byStatus: Record<ThreadStatus, number>;
  byEmailType: Record<EmailType | 'unclassified', number>;
  replyRate: number | null;
  averageOpenRate: number | null;
  averageReplyRate: number | null;
  responseTimeHours: { count: number; median: number | null; p90: number | null; average: number | null };
  replyRateByEmailType: ({ emailType: EmailType | 'unclassified' } & RateRow)[];
  replyRateByFollowupCount: ({ followupCount: FollowupBucket } & RateRow)[];
  responseTimeHistogram: { bucket: ResponseTimeBucket; count: number }[];
  daily: { date: string; created: number; lastActivity: number }[];
}

/** Replied over threads, as a fraction 0..1 rounded to 4 decimals; null when there is nothing to divide. */
export function computeRate(replied: number, threads: number): number | null {
  if (threads <= 0) return null;
  return Math.round((replied / threads) * 10_000) / 10_000;
}

const round2 = (value: number | null): number | null =>
  value === null ? null : Math.round(value * 100) / 100;

/** Resolves the requested range: defaults to the last 30 days, refuses reversed or over-long ranges. */
export function resolveRange(query: { from?: string; to?: string; tz: string }, now: Date): AnalyticsRange {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_RANGE_DAYS * 86_400_000);
  if (from.getTime() >= to.getTime()) {
    throw new AppError('VALIDATION_FAILED', '`from` must be earlier than `to`', {
      details: [{ path: 'from', message: 'must be earlier than to' }],
    });
  }
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000) {
    throw new AppError('VALIDATION_FAILED', `The range may span at most ${MAX_RANGE_DAYS} days`, {
      details: [{ path: 'from', message: `range longer than ${MAX_RANGE_DAYS} days` }],
    });
  }
  return { from: from.toISOString(), to: to.toISOString(), tz: query.tz };
}

/** Calendar days (YYYY-MM-DD in the range's time zone) from `from` to `to`, both included. */
export function listDays(range: AnalyticsRange): string[] {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone: range.tz,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  const first = format.format(new Date(range.from));
  const last = format.format(new Date(range.to));
  const days: string[] = [];
  // Walk UTC calendar dates between the two local dates: a calendar walk has no DST pitfalls.
  const cursor = new Date(`${first}T00:00:00Z`);
  const end = new Date(`${last}T00:00:00Z`);
  while (cursor.getTime() <= end.getTime()) {
    days.push(cursor.toISOString().slice(0, 10));
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return days;
}

export function computeAnalytics(aggregates: AnalyticsAggregates, range: AnalyticsRange): ThreadAnalytics {
  const byStatus = Object.fromEntries(THREAD_STATUSES.map((s) => [s, 0])) as Record<ThreadStatus, number>;
  for (const row of aggregates.byStatus) byStatus[row.status] += row.count;

  const typeKeys = [...EMAIL_TYPES, 'unclassified'] as const;
  const byEmailType = Object.fromEntries(typeKeys.map((t) => [t, 0])) as Record<
    EmailType | 'unclassified',
    number
  >;
  const typeRates = new Map<EmailType | 'unclassified', { threads: number; replied: number }>(
    typeKeys.map((t) => [t, { threads: 0, replied: 0 }]),
  );
  let threads = 0;
  let replied = 0;
  for (const row of aggregates.byEmailType) {
    const key = row.emailType ?? 'unclassified';
    byEmailType[key] += row.threads;
    const rate = typeRates.get(key)!;
    rate.threads += row.threads;
    rate.replied += row.replied;
    threads += row.threads;
    replied += row.replied;
  }

  const followupRates = new Map(FOLLOWUP_BUCKETS.map((b) => [b, { threads: 0, replied: 0 }]));
  for (const row of aggregates.byFollowupCount) {
    const rate = followupRates.get(row.bucket)!;
    rate.threads += row.threads;
    rate.replied += row.replied;
  }

  const histogram = new Map<ResponseTimeBucket, number>(RESPONSE_TIME_BUCKETS.map((b) => [b, 0]));
  for (const row of aggregates.histogram)
    histogram.set(row.bucket, (histogram.get(row.bucket) ?? 0) + row.count);

  const perDay = new Map(aggregates.daily.map((d) => [d.date, d]));
  const daily = listDays(range).map((date) => ({
    date,
    created: perDay.get(date)?.created ?? 0,
    lastActivity: perDay.get(date)?.lastActivity ?? 0,
  }));

  return {
    range,
    totals: {
      threads,
      replied,
      hidden: aggregates.hidden,
      systemGenerated: aggregates.systemGenerated,
      aiGenerated: aggregates.aiGenerated,
      tracked: aggregates.tracked,
      followupsScheduled: aggregates.followupsScheduled,
      followupsSent: aggregates.followupsSent,
    },
    byStatus,
    byEmailType,
    replyRate: computeRate(replied, threads),
    averageOpenRate: round2(aggregates.averageOpenRate),
    averageReplyRate: round2(aggregates.averageReplyRate),
    responseTimeHours: {
      count: aggregates.responseTime.count,
      median: round2(aggregates.responseTime.median),
      p90: round2(aggregates.responseTime.p90),
      average: round2(aggregates.responseTime.average),
    },
    replyRateByEmailType: typeKeys.map((emailType) => {
      const r = typeRates.get(emailType)!;
      return {
        emailType,
        threads: r.threads,
        replied: r.replied,
        replyRate: computeRate(r.replied, r.threads),
      };
    }),
    replyRateByFollowupCount: FOLLOWUP_BUCKETS.map((followupCount) => {
      const r = followupRates.get(followupCount)!;
      return {
        followupCount,
        threads: r.threads,
        replied: r.replied,
        replyRate: computeRate(r.replied, r.threads),
      };
    }),
    responseTimeHistogram: RESPONSE_TIME_BUCKETS.map((bucket) => ({
      bucket,
      count: histogram.get(bucket) ?? 0,
    })),
    daily,
  };
}
