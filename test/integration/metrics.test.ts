/**
 * /metrics and /ready read after real traffic through the container the server runs (PGlite and PostgreSQL): a
 * cache hit moves the hit counter and runs no statement, a miss shows in the database histogram under its query
 * name, errors count by code, a statement held up by a lock is logged as a slow query, background jobs and loops
 * show in the metrics and in readiness. Also: with METRICS_ENABLED=false there is no /metrics at all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { type Container, createContainer } from '../../src/container.ts';
import { createLogger } from '../../src/logger.ts';
import type { Clock } from '../../src/ports/clock.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { hasMetric, memoryLog, metricValue } from '../support/observability.ts';

const engines = ['pglite', ...(hasService('postgres') ? (['postgres'] as const) : [])] as const;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

class ManualClock implements Clock {
  #ms = Date.now();
  now() {
    return new Date(this.#ms);
  }
  advance(ms: number) {
    this.#ms += ms;
  }
}

async function open(engine: (typeof engines)[number], env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tt-metrics-'));
  dirs.push(dataDir);
  const databaseUrl =
    engine === 'postgres' ? await createPostgresDatabase(sharedPostgresUrl(), 'metrics') : undefined;
  const log = memoryLog();
  const clock = new ManualClock();
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  });
  const container = await createContainer(config, {
    logger: createLogger({ level: 'info', format: 'json', destination: log.destination }),
    clock,
  });
  const app = await container.buildHttpApp();
  await app.ready();
  return { container, app, log, clock, databaseUrl };
}

const scrape = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/metrics' })).body;

describe.each(engines)('metrics after real traffic on %s', (engine) => {
  let container: Container;
  let app: FastifyInstance;
  let log: ReturnType<typeof memoryLog>;
  let clock: ManualClock;

  beforeAll(async () => {
    ({ container, app, log, clock } = await open(engine));
  });
  afterAll(async () => {
    await app?.close();
    await container?.close();
  });

  it('counts a cache hit without running a statement, and a miss under its query name', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/threads',
      payload: { threadId: 'm1', subject: 'Metrics' },
    });
    expect(created.statusCode).toBe(201);
    await app.inject({ method: 'POST', url: '/api/v1/cache/clear' });

    const selects = (text: string) =>
      metricValue(text, 'thread_tracker_db_query_duration_seconds_count', {
        query: 'select:thread_tracking',
        outcome: 'ok',
      });
    const hits = (text: string) =>
      metricValue(text, 'thread_tracker_cache_lookups', { tier: 'all', outcome: 'hit' });
    const misses = (text: string) =>
      metricValue(text, 'thread_tracker_cache_lookups', { tier: 'all', outcome: 'miss' });
    const gets = (text: string) =>
      metricValue(text, 'thread_tracker_http_request_duration_seconds_count', {
        route: '/api/v1/threads/:threadId',
        status_code: '200',
      });

    const before = await scrape(app);
    expect((await app.inject({ method: 'GET', url: '/api/v1/threads/m1' })).statusCode).toBe(200);
    const afterMiss = await scrape(app);
    expect(misses(afterMiss) - misses(before)).toBe(1);
    expect(hits(afterMiss) - hits(before)).toBe(0);
    expect(selects(afterMiss) - selects(before)).toBe(1);

    expect((await app.inject({ method: 'GET', url: '/api/v1/threads/m1' })).statusCode).toBe(200);
    const afterHit = await scrape(app);
    expect(hits(afterHit) - hits(afterMiss)).toBe(1);
    expect(misses(afterHit) - misses(afterMiss)).toBe(0);
    // The hit never reached the database.
    expect(selects(afterHit)).toBe(selects(afterMiss));
    expect(gets(afterHit) - gets(before)).toBe(2);
    expect(metricValue(afterHit, 'thread_tracker_cache_hit_ratio', { tier: 'all' })).toBeGreaterThan(0);

    // Writes are named after the table they change, whatever SQL wraps them.
    expect(
      metricValue(afterHit, 'thread_tracker_db_query_duration_seconds_count', {
        query: 'insert:thread_tracking',
      }),
    ).toBeGreaterThanOrEqual(1);
    // Label values are names, never SQL.
    for (const line of afterHit.split('\n').filter((l) => l.includes('query="'))) {
      expect(/query="([^"]*)"/.exec(line)?.[1]).toMatch(/^[a-z_]+(:[a-z_0-9]+)?$/);
    }
  });

  it('counts errors by stable code', async () => {
    const before = await scrape(app);
    expect((await app.inject({ method: 'GET', url: '/api/v1/threads/missing' })).statusCode).toBe(404);
    const after = await scrape(app);
    const notFound = (text: string) =>
      metricValue(text, 'thread_tracker_http_errors_total', { code: 'THREAD_NOT_FOUND' });
    expect(notFound(after) - notFound(before)).toBe(1);
  });

  it('shows job runs, sync lag per account, follow-ups and loops; a stalled loop degrades readiness', async () => {
    const { jobs } = container;
    const loop = jobs.loops.register('sync:acct-1', { intervalMs: 60_000 });
    await jobs.run('sync', { account: 'acct-1' }, async ({ log: runLog }) => runLog.info('synced'), { loop });
    await expect(
      jobs.run(
        'sync',
        { account: 'acct-1' },
        async () => {
          throw new Error('gmail said no');
        },
        { loop },
      ),
    ).rejects.toThrow('gmail said no');
    jobs.metrics.syncedUpTo('acct-1', new Date(clock.now().getTime() - 90_000));
    jobs.metrics.followupQueueDepth(4);
    jobs.metrics.followupSent('sent');
    jobs.metrics.followupSent('sent');
    jobs.metrics.followupSent('failed');

    const text = await scrape(app);
    expect(metricValue(text, 'thread_tracker_job_runs_total', { job: 'sync', outcome: 'success' })).toBe(1);
    expect(metricValue(text, 'thread_tracker_job_runs_total', { job: 'sync', outcome: 'failure' })).toBe(1);
    expect(metricValue(text, 'thread_tracker_job_duration_seconds_count', { job: 'sync' })).toBe(2);
    expect(
      metricValue(text, 'thread_tracker_job_last_success_timestamp_seconds', { job: 'sync' }),
    ).toBeCloseTo(clock.now().getTime() / 1000, 0);
    expect(metricValue(text, 'thread_tracker_sync_lag_seconds', { account: 'acct-1' })).toBe(90);
    expect(metricValue(text, 'thread_tracker_followup_queue_depth')).toBe(4);
    expect(metricValue(text, 'thread_tracker_followups_total', { outcome: 'sent' })).toBe(2);
    expect(metricValue(text, 'thread_tracker_loop_stalled', { loop: 'sync:acct-1' })).toBe(0);

    // Each line of a run carries its job and run id; the two runs have different ids.
    const runLines = log.lines().filter((l) => l.job === 'sync');
    const runIds = new Set(runLines.map((l) => l.runId));
    expect(runIds.size).toBe(2);
    expect(runLines.map((l) => l.msg)).toEqual(['synced', 'job finished', 'job failed']);
    expect(runLines.every((l) => l.account === 'acct-1' && typeof l.runId === 'string')).toBe(true);

    let ready = (await app.inject({ method: 'GET', url: '/ready' })).json();
    expect(ready.checks.background.status).toBe('degraded');
    expect(ready.checks.background.loops['sync:acct-1']).toMatchObject({
      status: 'failing',
      consecutiveFailures: 1,
      lastError: 'gmail said no',
    });
    loop.tick();
    ready = (await app.inject({ method: 'GET', url: '/ready' })).json();
    expect(ready.checks.background).toMatchObject({
      status: 'ok',
      loops: { 'sync:acct-1': { status: 'ok', intervalSeconds: 60, lastTickAgeSeconds: 0 } },
    });

    clock.advance(181_000);
    ready = (await app.inject({ method: 'GET', url: '/ready' })).json();
    expect(ready.status).toBe('degraded');
    expect(ready.checks.background.loops['sync:acct-1']).toMatchObject({
      status: 'stalled',
      lastTickAgeSeconds: 181,
    });
    expect(metricValue(await scrape(app), 'thread_tracker_loop_stalled', { loop: 'sync:acct-1' })).toBe(1);
    loop.stop();
    ready = (await app.inject({ method: 'GET', url: '/ready' })).json();
    expect(ready.checks.background).toEqual({ status: 'ok', loops: {} });
  });

  it('reports the outage journal and both circuit breakers when they exist', async () => {
    const text = await scrape(app);
    if (engine === 'postgres') {
      expect(metricValue(text, 'thread_tracker_outage_journal_depth')).toBe(0);
      expect(hasMetric(text, 'thread_tracker_outage_journal_bytes')).toBe(true);
      expect(metricValue(text, 'thread_tracker_outage_journal_oldest_age_seconds')).toBe(0);
      expect(metricValue(text, 'thread_tracker_circuit_breaker_state', { breaker: 'database' })).toBe(0);
    } else {
      expect(hasMetric(text, 'thread_tracker_outage_journal_depth')).toBe(false);
    }
    expect(hasMetric(text, 'thread_tracker_process_resident_memory_bytes')).toBe(true);
  });
});

describeWithService('postgres', 'slow queries on PostgreSQL', () => {
  let container: Container;
  let app: FastifyInstance;
  let log: ReturnType<typeof memoryLog>;
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    ({ container, app, log, databaseUrl } = await open('postgres', { DB_SLOW_QUERY_MS: '300' }));
  });
  afterAll(async () => {
    await app?.close();
    await container?.close();
  });

  it('logs a statement held up by a lock as a slow query, and records it in the histogram', async () => {
    await app.inject({ method: 'POST', url: '/api/v1/threads', payload: { threadId: 'slow1' } });
    const before = await scrape(app);
    log.clear();
    const locker = postgres(databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      const reserved = await locker.reserve();
      await reserved`begin`;
      await reserved`select 1 from thread_tracking where thread_id = 'slow1' for update`;
      const patch = app.inject({
        method: 'PATCH',
        url: '/api/v1/threads/slow1',
        payload: { subject: 'a subject that must never reach a log line' },
      });
      await new Promise((r) => setTimeout(r, 450));
      await reserved`commit`;
      reserved.release();
      expect((await patch).statusCode).toBe(200);
    } finally {
      await locker.end({ timeout: 1 });
    }
    const slow = log.lines().filter((l) => l.msg === 'slow query');
    expect(slow).toHaveLength(1);
    expect(slow[0]).toMatchObject({ level: 'warn', query: 'update:thread_tracking', thresholdMs: 300 });
    expect(slow[0]!.durationMs as number).toBeGreaterThanOrEqual(400);
    expect(log.text()).not.toContain('a subject that must never reach a log line');

    const after = await scrape(app);
    const labels = { query: 'update:thread_tracking', outcome: 'ok' };
    const slowOnes = (text: string) =>
      metricValue(text, 'thread_tracker_db_query_duration_seconds_count', labels) -
      metricValue(text, 'thread_tracker_db_query_duration_seconds_bucket', { ...labels, le: '0.25' });
    expect(slowOnes(after) - slowOnes(before)).toBe(1);
  });
});

describe('METRICS_ENABLED=false', () => {
  it('serves no /metrics', async () => {
    const { container, app } = await open('pglite', { METRICS_ENABLED: 'false' });
    try {
      expect(container.metrics).toBeUndefined();
      // (A GET the API does not know may load the web app, but never the exposition.)
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.headers['content-type']).not.toMatch(/^text\/plain/);
      expect(res.body).not.toContain('thread_tracker_');
      // Jobs still run and report (to nothing).
      await container.jobs.run('cleanup', {}, async () => undefined);
    } finally {
      await app.close();
      await container.close();
    }
  });
});
