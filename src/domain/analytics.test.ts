import { describe, expect, it } from 'vitest';
import {
  type AnalyticsAggregates,
  type AnalyticsRange,
  computeAnalytics,
  computeRate,
  DEFAULT_RANGE_DAYS,
  listDays,
  MAX_RANGE_DAYS,
  resolveRange,
} from './analytics.ts';
import { AppError } from './errors.ts';

const DAY = 86_400_000;

describe('computeRate', () => {
  it.each([
    { replied: 0, threads: 0, expected: null },
    { replied: 3, threads: 0, expected: null },
    { replied: 1, threads: -1, expected: null },
    { replied: 0, threads: 5, expected: 0 },
    { replied: 5, threads: 5, expected: 1 },
    { replied: 1, threads: 2, expected: 0.5 },
    { replied: 1, threads: 3, expected: 0.3333 },
    { replied: 2, threads: 3, expected: 0.6667 },
    { replied: 1, threads: 7, expected: 0.1429 },
    { replied: 1, threads: 20_000, expected: 0.0001 },
    { replied: 1, threads: 30_000, expected: 0 },
  ])('$replied / $threads = $expected', ({ replied, threads, expected }) => {
    expect(computeRate(replied, threads)).toBe(expected);
  });
});

describe('resolveRange', () => {
  const now = new Date('2026-12-03T14:00:00.000Z');

  it('defaults to the last 30 days ending now', () => {
    expect(resolveRange({ tz: 'UTC' }, now)).toEqual({
      from: new Date(now.getTime() - DEFAULT_RANGE_DAYS * DAY).toISOString(),
      to: now.toISOString(),
      tz: 'UTC',
    });
  });

  it('defaults `from` to 30 days before a given `to`', () => {
    expect(resolveRange({ to: '2026-06-01T00:00:00Z', tz: 'Europe/Paris' }, now)).toEqual({
      from: '2026-05-02T00:00:00.000Z',
      to: '2026-06-01T00:00:00.000Z',
      tz: 'Europe/Paris',
    });
  });

  it('defaults `to` to now for a given `from`', () => {
    expect(resolveRange({ from: '2026-12-01T00:00:00+01:00', tz: 'UTC' }, now)).toEqual({
      from: '2026-11-30T23:00:00.000Z',
      to: now.toISOString(),
      tz: 'UTC',
    });
  });

  it(`accepts exactly ${MAX_RANGE_DAYS} days`, () => {
    const to = '2026-12-03T00:00:00.000Z';
    const from = new Date(Date.parse(to) - MAX_RANGE_DAYS * DAY).toISOString();
    expect(resolveRange({ from, to, tz: 'UTC' }, now)).toMatchObject({ from, to });
  });

  it.each([
    { name: 'from equal to to', from: '2026-12-01T00:00:00Z', to: '2026-12-01T00:00:00Z' },
    { name: 'from after to', from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z' },
    { name: 'from in the future without to', from: '2027-01-01T00:00:00Z', to: undefined },
    {
      name: `a range one millisecond over ${MAX_RANGE_DAYS} days`,
      from: new Date(Date.parse('2026-12-03T00:00:00Z') - MAX_RANGE_DAYS * DAY - 1).toISOString(),
      to: '2026-12-03T00:00:00Z',
    },
    { name: 'ten years', from: '2016-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' },
  ])('refuses $name with VALIDATION_FAILED', ({ from, to }) => {
    const query = { tz: 'UTC', ...(from ? { from } : {}), ...(to ? { to } : {}) };
    expect(() => resolveRange(query, now)).toThrow(AppError);
    try {
      resolveRange(query, now);
    } catch (error) {
      expect((error as AppError).code).toBe('VALIDATION_FAILED');
      expect((error as AppError).status).toBe(400);
    }
  });
});

describe('listDays', () => {
  const cases: { name: string; range: AnalyticsRange; expected: string[] }[] = [
    {
      name: 'one UTC day',
      range: { from: '2026-12-03T00:00:00Z', to: '2026-12-03T23:59:59Z', tz: 'UTC' },
      expected: ['2026-12-03'],
    },
    {
      name: 'both ends included',
      range: { from: '2026-12-01T12:00:00Z', to: '2026-12-03T01:00:00Z', tz: 'UTC' },
      expected: ['2026-12-01', '2026-12-02', '2026-12-03'],
    },
    {
      name: 'a month end and a year end',
      range: { from: '2026-12-30T00:00:00Z', to: '2027-01-02T00:00:00Z', tz: 'UTC' },
      expected: ['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02'],
    },
    {
      name: 'a leap day',
      range: { from: '2028-02-28T00:00:00Z', to: '2028-03-01T00:00:00Z', tz: 'UTC' },
      expected: ['2028-02-28', '2028-02-29', '2028-03-01'],
    },
    {
      name: 'a zone ahead of UTC moves the days forward',
      range: { from: '2026-12-01T23:30:00Z', to: '2026-12-02T10:00:00Z', tz: 'Asia/Tokyo' },
      expected: ['2026-12-02'],
    },
    {
      name: 'a zone behind UTC moves the days back',
      range: { from: '2026-12-02T03:00:00Z', to: '2026-12-03T03:00:00Z', tz: 'America/New_York' },
      expected: ['2026-12-01', '2026-12-02'],
    },
    {
      name: 'a spring-forward DST change keeps every day once',
      range: { from: '2026-03-28T12:00:00Z', to: '2026-03-30T12:00:00Z', tz: 'Europe/Paris' },
      expected: ['2026-03-28', '2026-03-29', '2026-03-30'],
    },
    {
      name: 'a fall-back DST change keeps every day once',
      range: { from: '2026-10-31T12:00:00Z', to: '2026-11-02T12:00:00Z', tz: 'America/New_York' },
      expected: ['2026-10-31', '2026-11-01', '2026-11-02'],
    },
    {
      name: 'a half-hour zone',
      range: { from: '2026-12-02T18:29:00Z', to: '2026-12-02T18:31:00Z', tz: 'Asia/Kolkata' },
      expected: ['2026-12-02', '2026-12-03'],
    },
  ];

  it.each(cases)('$name', ({ range, expected }) => {
    expect(listDays(range)).toEqual(expected);
  });

  it('lists 366 days for a leap year plus one day, each once and in order', () => {
    const days = listDays({ from: '2028-01-01T00:00:00Z', to: '2029-01-01T00:00:00Z', tz: 'UTC' });
    expect(days).toHaveLength(367);
    expect(new Set(days).size).toBe(367);
    expect([...days].sort()).toEqual(days);
  });
});

function aggregates(overrides: Partial<AnalyticsAggregates> = {}): AnalyticsAggregates {
  return {
    byStatus: [],
    byEmailType: [],
    byFollowupCount: [],
    hidden: 0,
    systemGenerated: 0,
    aiGenerated: 0,
    tracked: 0,
    followupsScheduled: 0,
    followupsSent: 0,
    averageOpenRate: null,
    averageReplyRate: null,
    responseTime: { count: 0, median: null, p90: null, average: null },
    histogram: [],
    daily: [],
    ...overrides,
  };
}

const RANGE: AnalyticsRange = { from: '2026-12-01T00:00:00.000Z', to: '2026-12-03T12:00:00.000Z', tz: 'UTC' };

describe('computeAnalytics', () => {
  it('fills every category, bucket and day with zeros when there is nothing', () => {
    const result = computeAnalytics(aggregates(), RANGE);
    expect(result.range).toEqual(RANGE);
    expect(result.totals).toEqual({
      threads: 0,
      replied: 0,
      hidden: 0,
      systemGenerated: 0,
      aiGenerated: 0,
      tracked: 0,
      followupsScheduled: 0,
      followupsSent: 0,
    });
    expect(result.byStatus).toEqual({ active: 0, archived: 0, deleted: 0, spam: 0 });
    expect(result.byEmailType).toEqual({
      application: 0,
      followup: 0,
      manual: 0,
      auto_followup: 0,
      unclassified: 0,
    });
    expect(result.replyRate).toBeNull();
    expect(result.averageOpenRate).toBeNull();
    expect(result.averageReplyRate).toBeNull();
    expect(result.responseTimeHours).toEqual({ count: 0, median: null, p90: null, average: null });
    expect(result.replyRateByEmailType.map((r) => r.emailType)).toEqual([
      'application',
      'followup',
      'manual',
      'auto_followup',
      'unclassified',
    ]);
    expect(result.replyRateByEmailType.every((r) => r.threads === 0 && r.replyRate === null)).toBe(true);
    expect(result.replyRateByFollowupCount.map((r) => r.followupCount)).toEqual(['0', '1', '2', '3+']);
    expect(result.responseTimeHistogram).toEqual([
      { bucket: '<1h', count: 0 },
      { bucket: '1-4h', count: 0 },
      { bucket: '4-24h', count: 0 },
      { bucket: '1-3d', count: 0 },
      { bucket: '3-7d', count: 0 },
      { bucket: '>7d', count: 0 },
    ]);
    expect(result.daily).toEqual([
      { date: '2026-12-01', created: 0, lastActivity: 0 },
      { date: '2026-12-02', created: 0, lastActivity: 0 },
      { date: '2026-12-03', created: 0, lastActivity: 0 },
    ]);
  });

  it('computes totals, rates, rounding and per-day figures from aggregates', () => {
    const result = computeAnalytics(
      aggregates({
        byStatus: [
          { status: 'active', count: 5 },
          { status: 'archived', count: 2 },
          { status: 'deleted', count: 4 },
        ],
        byEmailType: [
          { emailType: 'application', threads: 4, replied: 1 },
          { emailType: 'followup', threads: 2, replied: 2 },
          { emailType: null, threads: 1, replied: 0 },
        ],
        byFollowupCount: [
          { bucket: '0', threads: 3, replied: 1 },
          { bucket: '3+', threads: 4, replied: 2 },
        ],
        hidden: 1,
        systemGenerated: 6,
        aiGenerated: 2,
        tracked: 7,
        followupsScheduled: 3,
        followupsSent: 12,
        averageOpenRate: 33.333333,
        averageReplyRate: 12.345,
        responseTime: { count: 3, median: 4.5, p90: 10.799999, average: 5.666666 },
        histogram: [
          { bucket: '1-4h', count: 1 },
          { bucket: '4-24h', count: 2 },
        ],
        daily: [
          { date: '2026-12-02', created: 4, lastActivity: 1 },
          { date: '2026-11-30', created: 9, lastActivity: 9 },
        ],
      }),
      RANGE,
    );
    expect(result.totals).toEqual({
      threads: 7,
      replied: 3,
      hidden: 1,
      systemGenerated: 6,
      aiGenerated: 2,
      tracked: 7,
      followupsScheduled: 3,
      followupsSent: 12,
    });
    expect(result.byStatus).toEqual({ active: 5, archived: 2, deleted: 4, spam: 0 });
    expect(result.byEmailType).toEqual({
      application: 4,
      followup: 2,
      manual: 0,
      auto_followup: 0,
      unclassified: 1,
    });
    expect(result.replyRate).toBe(0.4286);
    expect(result.averageOpenRate).toBe(33.33);
    expect(result.averageReplyRate).toBe(12.35);
    expect(result.responseTimeHours).toEqual({ count: 3, median: 4.5, p90: 10.8, average: 5.67 });
    expect(result.replyRateByEmailType).toEqual([
      { emailType: 'application', threads: 4, replied: 1, replyRate: 0.25 },
      { emailType: 'followup', threads: 2, replied: 2, replyRate: 1 },
      { emailType: 'manual', threads: 0, replied: 0, replyRate: null },
      { emailType: 'auto_followup', threads: 0, replied: 0, replyRate: null },
      { emailType: 'unclassified', threads: 1, replied: 0, replyRate: 0 },
    ]);
    expect(result.replyRateByFollowupCount).toEqual([
      { followupCount: '0', threads: 3, replied: 1, replyRate: 0.3333 },
      { followupCount: '1', threads: 0, replied: 0, replyRate: null },
      { followupCount: '2', threads: 0, replied: 0, replyRate: null },
      { followupCount: '3+', threads: 4, replied: 2, replyRate: 0.5 },
    ]);
    expect(result.responseTimeHistogram.map((b) => b.count)).toEqual([0, 1, 2, 0, 0, 0]);
    // Days outside the range are dropped; days inside without rows are zeros.
    expect(result.daily).toEqual([
      { date: '2026-12-01', created: 0, lastActivity: 0 },
      { date: '2026-12-02', created: 4, lastActivity: 1 },
      { date: '2026-12-03', created: 0, lastActivity: 0 },
    ]);
  });

  it('adds up rows that name the same category twice', () => {
    const result = computeAnalytics(
      aggregates({
        byStatus: [
          { status: 'active', count: 1 },
          { status: 'active', count: 2 },
        ],
        byEmailType: [
          { emailType: 'manual', threads: 1, replied: 1 },
          { emailType: 'manual', threads: 3, replied: 0 },
        ],
        byFollowupCount: [
          { bucket: '1', threads: 1, replied: 0 },
          { bucket: '1', threads: 1, replied: 1 },
        ],
        histogram: [
          { bucket: '>7d', count: 2 },
          { bucket: '>7d', count: 3 },
        ],
      }),
      RANGE,
    );
    expect(result.byStatus.active).toBe(3);
    expect(result.byEmailType.manual).toBe(4);
    expect(result.replyRateByEmailType.find((r) => r.emailType === 'manual')).toEqual({
      emailType: 'manual',
      threads: 4,
      replied: 1,
      replyRate: 0.25,
    });
    expect(result.replyRateByFollowupCount[1]).toEqual({
      followupCount: '1',
      threads: 2,
      replied: 1,
      replyRate: 0.5,
    });
    expect(result.responseTimeHistogram.at(-1)).toEqual({ bucket: '>7d', count: 5 });
  });

  it('keys the daily series by the range time zone', () => {
    const range = { from: '2026-12-01T20:00:00.000Z', to: '2026-12-02T20:00:00.000Z', tz: 'Asia/Tokyo' };
    const result = computeAnalytics(
      aggregates({ daily: [{ date: '2026-12-03', created: 2, lastActivity: 1 }] }),
      range,
    );
    expect(result.daily).toEqual([
      { date: '2026-12-02', created: 0, lastActivity: 0 },
      { date: '2026-12-03', created: 2, lastActivity: 1 },
    ]);
  });
});
