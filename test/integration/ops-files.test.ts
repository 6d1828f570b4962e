/**
 * The shipped Prometheus rules and Grafana dashboard against what the server really exposes: every metric they
 * name is in the /metrics of a running container (on PostgreSQL, with a background loop, a job run, a synced
 * account and follow-up figures reported), and their structure is what Prometheus and Grafana load.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createContainer } from '../../src/container.ts';
import { createLogger } from '../../src/logger.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, sharedPostgresUrl } from '../harness/require-services.ts';
import { memoryLog, parseMetrics } from '../support/observability.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const alerts = readFileSync(resolve(ROOT, 'ops/prometheus/alerts.yml'), 'utf8');
const dashboard = JSON.parse(readFileSync(resolve(ROOT, 'ops/grafana/thread-tracker.json'), 'utf8')) as {
  uid: string;
  panels: { id: number; type: string; title: string; targets?: { expr: string; refId: string }[] }[];
  templating: { list: { name: string }[] };
};
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const namesIn = (text: string) => new Set(text.match(/thread_tracker_[a-z0-9_]+/g) ?? []);

const balanced = (expr: string) => {
  let depth = 0;
  for (const c of expr.replace(/"[^"]*"/g, '""')) {
    if (c === '(' || c === '{' || c === '[') depth++;
    if (c === ')' || c === '}' || c === ']') depth--;
    if (depth < 0) return false;
  }
  return depth === 0;
};

it('the rules file has a name, an expression, a severity and a summary for every alert', () => {
  const blocks = alerts.split(/\n {6}- alert: /).slice(1);
  expect(blocks.length).toBeGreaterThanOrEqual(15);
  const names = blocks.map((b) => b.split('\n')[0]!.trim());
  expect(new Set(names).size).toBe(names.length);
  for (const block of blocks) {
    expect(block, block).toMatch(/\n {8}expr: /);
    expect(block, block).toMatch(/\n {10}severity: (warning|critical)\n/);
    expect(block, block).toMatch(/\n {10}summary: /);
    const expr = /\n {8}expr: (?:>-\n((?: {10}.*\n)+)|(.*)\n)/.exec(block);
    expect(expr, block).not.toBeNull();
    expect(balanced(expr![1] ?? expr![2]!), block).toBe(true);
  }
  // The spec's four targets are there, with their thresholds.
  for (const [alert, threshold] of [
    ['ThreadTrackerCacheHitRateLow', '< 0.8'],
    ['ThreadTrackerDatabaseQueriesSlow', '> 0.05'],
    ['ThreadTrackerApiSlow', '> 0.1'],
    ['ThreadTrackerErrorRateHigh', '> 0.01'],
  ] as const) {
    const block = blocks.find((b) => b.startsWith(alert));
    expect(block, alert).toContain(threshold);
  }
  expect(alerts).not.toMatch(/\t/);
});

it('the dashboard has unique panel ids, a data source on every query and balanced expressions', () => {
  expect(dashboard.uid).toBe('thread-tracker');
  const ids = dashboard.panels.map((p) => p.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'instance']);
  expect(dashboardExprs.length).toBeGreaterThan(25);
  for (const expr of dashboardExprs) expect(balanced(expr), expr).toBe(true);
});

describeWithService('postgres', 'the metrics the ops files name', () => {
  it('are all exposed by a running server', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tt-ops-files-'));
    const config = loadConfig({
      DATA_DIR: dataDir,
      DATABASE_URL: await createPostgresDatabase(sharedPostgresUrl(), 'ops_files'),
    });
    const container = await createContainer(config, {
      logger: createLogger({ level: 'warn', format: 'json', destination: memoryLog().destination }),
    });
    try {
      const app = await container.buildHttpApp();
      // Traffic and background work, so that every family has samples.
      await app.inject({ method: 'POST', url: '/api/v1/threads', payload: { threadId: 'ops1' } });
      await app.inject({ method: 'GET', url: '/api/v1/threads/ops1' });
      await app.inject({ method: 'GET', url: '/api/v1/threads/missing' });
      container.jobs.loops.register('sync:acct', { intervalMs: 60_000 }).tick();
      await container.jobs.run('cleanup', {}, async () => undefined);
      await container.jobs.run('sync', {}, async () => {
        container.jobs.metrics.items('sync', 'threads', 3);
      });
      container.jobs.metrics.syncedUpTo('acct', new Date());
      container.jobs.metrics.followupQueueDepth(1);
      container.jobs.metrics.followupSent('sent');
      const exposed = new Set(
        parseMetrics((await app.inject({ method: 'GET', url: '/metrics' })).body).map((s) => s.name),
      );
      for (const [file, names] of [
        ['ops/prometheus/alerts.yml', namesIn(alerts)],
        ['ops/grafana/thread-tracker.json', namesIn(dashboardExprs.join('\n'))],
      ] as const) {
        const missing = [...names].filter((name) => !exposed.has(name));
        expect(missing, `${file} names metrics the server does not expose`).toEqual([]);
      }
      await app.close();
    } finally {
      await container.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
