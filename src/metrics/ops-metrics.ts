/**
 * Metrics of the work around requests: the outage journal, background loops and job runs (sync, follow-ups,
 * cleanup). Figures owned by a component are read when scraped; job outcomes are counted as they happen.
 *
 * Names (all prefixed thread_tracker_):
 *   outage_journal_depth, outage_journal_bytes, outage_journal_oldest_age_seconds, outage_journal_replayed,
 *   outage_journal_conflicts                                         – writes queued while the database is down
 *   job_runs_total{job,outcome}, job_duration_seconds{job}, job_last_success_timestamp_seconds{job},
 *   job_items_total{job,item}                                        – each run of background work
 *   sync_lag_seconds{account}                                        – now − the time the mailbox is synced up to
 *   followup_queue_depth, followups_total{outcome}                   – the follow-up worker
 *   loop_last_tick_age_seconds{loop}, loop_stalled{loop}             – background loops' heartbeats
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { type Clock, systemClock } from '../ports/clock.ts';
import type { FollowupSendOutcome, JobMetrics } from '../ports/job-metrics.ts';
import type { Metrics } from './metrics.ts';

const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

/** What the loop gauges read (the service's LoopRegistry). */
export interface LoopFigures {
  snapshot(): { name: string; status: string; lastTickAgeSeconds: number | null }[];
}

export interface JournalFigures {
  stats: { depth: number; bytes: number; oldestAt: string | null; replayed: number; conflicts: number };
}

export function registerOperationsMetrics(
  metrics: Metrics,
  deps: { queue?: JournalFigures | undefined; loops: LoopFigures; clock?: Clock },
): void {
  const clock = deps.clock ?? systemClock;
  const queue = deps.queue;
  if (queue) {
    const journal: [string, string, (s: JournalFigures['stats']) => number][] = [
      ['depth', 'Writes queued in the outage journal, waiting for the database', (s) => s.depth],
      ['bytes', 'Size of the outage journal in bytes', (s) => s.bytes],
      [
        'oldest_age_seconds',
        'Age of the oldest write waiting in the outage journal (0 when empty)',
        (s) => (s.oldestAt ? Math.max(0, (clock.now().getTime() - Date.parse(s.oldestAt)) / 1000) : 0),
      ],
      ['replayed', 'Queued writes replayed since start (cumulative)', (s) => s.replayed],
      ['conflicts', 'Queued writes that no longer applied when replayed (cumulative)', (s) => s.conflicts],
    ];
    for (const [suffix, help, read] of journal) {
      metrics.gauge(`thread_tracker_outage_journal_${suffix}`, help, [], (set) => set({}, read(queue.stats)));
    }
  }
  metrics.gauge(
    'thread_tracker_loop_last_tick_age_seconds',
    'Seconds since each background loop last ticked (absent before its first tick)',
    ['loop'],
    (set) => {
      for (const loop of deps.loops.snapshot())
        if (loop.lastTickAgeSeconds !== null) set({ loop: loop.name }, loop.lastTickAgeSeconds);
    },
  );
  metrics.gauge(
    'thread_tracker_loop_stalled',
    'Whether a background loop stopped ticking (1) or not (0)',
    ['loop'],
    (set) => {
      for (const loop of deps.loops.snapshot()) set({ loop: loop.name }, loop.status === 'stalled' ? 1 : 0);
    },
  );
}

/** The JobMetrics port over the registry. */
export function createJobMetrics(metrics: Metrics, clock: Clock = systemClock): JobMetrics {
  const registers = [metrics.registry];
  const runs = new Counter({
    name: 'thread_tracker_job_runs_total',
    help: 'Runs of background jobs by outcome',
    labelNames: ['job', 'outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'thread_tracker_job_duration_seconds',
    help: 'Duration of background job runs',
    labelNames: ['job'],
    buckets: JOB_BUCKETS,
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'thread_tracker_job_last_success_timestamp_seconds',
    help: 'Unix time of the last successful run of each job',
    labelNames: ['job'],
    registers,
  });
  const items = new Counter({
    name: 'thread_tracker_job_items_total',
    help: 'Items handled by background jobs (threads synced, rows purged…)',
    labelNames: ['job', 'item'],
    registers,
  });
  const followupQueue = new Gauge({
    name: 'thread_tracker_followup_queue_depth',
    help: 'Follow-ups due and not yet sent, as last counted by the worker',
    registers,
  });
  const followups = new Counter({
    name: 'thread_tracker_followups_total',
    help: 'Follow-ups handled by the worker, by outcome',
    labelNames: ['outcome'],
    registers,
  });
  const syncedUpTo = new Map<string, number>();
  metrics.gauge(
    'thread_tracker_sync_lag_seconds',
    'Seconds between now and the time each mail account is synced up to',
    ['account'],
    (set) => {
      const now = clock.now().getTime();
      for (const [account, at] of syncedUpTo) set({ account }, Math.max(0, (now - at) / 1000));
    },
  );
  return {
    runFinished(job, outcome, durationSeconds) {
      runs.inc({ job, outcome });
      duration.observe({ job }, durationSeconds);
      if (outcome === 'success') lastSuccess.set({ job }, clock.now().getTime() / 1000);
    },
    items(job, item, count) {
      if (count > 0) items.inc({ job, item }, count);
    },
    syncedUpTo(accountId, at) {
      if (at === null) syncedUpTo.delete(accountId);
      else syncedUpTo.set(accountId, at.getTime());
    },
    followupQueueDepth(depth) {
      followupQueue.set(depth);
    },
    followupSent(outcome: FollowupSendOutcome) {
      followups.inc({ outcome });
    },
  };
}
