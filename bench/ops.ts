/**
 * `npm run bench:ops`: the figures of the operations tools, printed as a table and written to bench/results/.
 * - import of N thread records (NDJSON, 1 in 100 invalid) with the `thread-tracker import` command as an operator
 *   runs it, into PGlite and into PostgreSQL with durable commits: records/s as the command reports it (reading,
 *   validating and writing; start-up excluded) and the wall time of the whole command;
 * - export of the same threads (`thread-tracker export --out`), and a backup (`thread-tracker backup`);
 * - the overhead of metrics on GET: servers with METRICS_ENABLED=true and false on the same PostgreSQL, in
 *   alternating rounds (lib/metrics-overhead.ts; the same pairs as `npm run bench -- --suite metrics`), and the
 *   CPU time metrics add per request, measured in process (what load tests on a shared machine cannot resolve).
 * Options: --records <n> (100000), --duration <s> (10), --rounds <n> (3), --connections <n> (100), --no-metrics.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createMetrics } from '../src/metrics/metrics.ts';
import { createQueryObserver } from '../src/metrics/query-metrics.ts';
import { silentLogger } from '../src/ports/logger.ts';
import { type PostgresServer, startPostgres } from '../test/harness/postgres.ts';
import { cliRunner } from '../test/support/cli-process.ts';
import { metricsOverhead, type OverheadPair } from './lib/metrics-overhead.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '100' },
    'no-metrics': { type: 'boolean', default: false },
  },
});
const records = Number(args.records);
const threadIdOf = (i: number) => `ops${String(i).padStart(7, '0')}`;

interface ToolRow {
  engine: string;
  step: string;
  records: number;
  recordsPerSecond: number | null;
  wallSeconds: number;
  detail: string;
}

async function writeRecords(path: string, count: number): Promise<{ bad: number; bytes: number }> {
  const out = createWriteStream(path);
  let bad = 0;
  let chunk = '';
  for (let i = 0; i < count; i++) {
    if (i % 100 === 99) {
      bad++;
      chunk += `{"threadId": "not valid ${i}", "status": "gone"}\n`;
    } else {
      chunk += `${JSON.stringify({
        thread_id: threadIdOf(i),
        subject: `Application for role ${i} at Company ${i % 97}`,
        participants: ['me@example.com', `recruiter${i % 500}@company${i % 97}.com`],
        email_type: (['application', 'followup', 'manual'] as const)[i % 3],
        message_count: 1 + (i % 7),
        last_activity: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
        created_at: new Date(Date.UTC(2025, 11, 1) + i * 60_000).toISOString(),
        ...(i % 4 === 0 ? { response_time_hours: i % 72, reply_rate: 25 } : {}),
      })}\n`;
    }
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await finished(out);
  return { bad, bytes: (await stat(path)).size };
}

/** Runs one command; returns its output and wall time, failing the benchmark when it fails. */
async function timed(
  runner: ReturnType<typeof cliRunner>,
  command: string[],
  env: Record<string, string>,
  okCodes = [0],
): Promise<{ stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  const result = await runner.cli(command, { LOG_LEVEL: 'warn', ...env }, { timeoutMs: 30 * 60_000 });
  const seconds = (performance.now() - started) / 1000;
  if (!okCodes.includes(result.code ?? -1))
    throw new Error(`${command.join(' ')} exited with ${result.code}:\n${result.stderr.slice(-2000)}`);
  return { stdout: result.stdout, stderr: result.stderr, seconds: Math.round(seconds * 10) / 10 };
}

const rateIn = (text: string) => {
  const match = /\(([\d,]+) records\/s\)/.exec(text);
  return match ? Number(match[1]!.replaceAll(',', '')) : null;
};

async function toolFigures(
  runner: ReturnType<typeof cliRunner>,
  engine: string,
  env: Record<string, string>,
  file: string,
  dir: string,
): Promise<ToolRow[]> {
  const rows: ToolRow[] = [];
  const imported = await timed(runner, ['import', file], env, [2]);
  const summary = imported.stdout.trim().split('\n').at(-1) ?? '';
  rows.push({
    engine,
    step: 'import (NDJSON, 1% invalid)',
    records,
    recordsPerSecond: rateIn(summary),
    wallSeconds: imported.seconds,
    detail: summary.replace(/ in [\d.]+ s .*$/, ''),
  });
  const rerun = await timed(runner, ['import', file], env, [2]);
  rows.push({
    engine,
    step: 'import again (all unchanged)',
    records,
    recordsPerSecond: rateIn(rerun.stdout),
    wallSeconds: rerun.seconds,
    detail: '',
  });
  const exported = await timed(runner, ['export', '--out', join(dir, `${engine}-export.ndjson`)], env);
  rows.push({
    engine,
    step: 'export (NDJSON)',
    records: records - records / 100,
    recordsPerSecond: rateIn(exported.stderr),
    wallSeconds: exported.seconds,
    detail: exported.stderr.trim(),
  });
  const csv = await timed(runner, ['export', '--out', join(dir, `${engine}-export.csv`)], env);
  rows.push({
    engine,
    step: 'export (CSV)',
    records: records - records / 100,
    recordsPerSecond: rateIn(csv.stderr),
    wallSeconds: csv.seconds,
    detail: '',
  });
  const backup = await timed(runner, ['backup', '--out', join(dir, `${engine}-backup.ndjson`)], env);
  rows.push({
    engine,
    step: 'backup (threads + events)',
    records: 2 * (records - records / 100),
    recordsPerSecond: null,
    wallSeconds: backup.seconds,
    detail: backup.stderr.trim(),
  });
  for (const row of rows)
    console.log(
      `  ${engine} ${row.step}: ${row.recordsPerSecond ?? '-'} records/s, ${row.wallSeconds} s wall${row.detail ? ` — ${row.detail}` : ''}`,
    );
  return rows;
}

/** CPU time of what metrics do per request and per statement, in microseconds (median of 5 passes). */
function metricsCpuCost(): Record<string, number> {
  const metrics = createMetrics({ defaultMetrics: false });
  const observe = createQueryObserver({
    histogram: metrics.dbQueryDuration,
    logger: silentLogger,
    slowQueryMs: 0,
  })!;
  const select =
    'select "thread_tracking".* from "thread_tracking" where "user_id" = $1 and "thread_id" = $2 limit $3';
  const routes = ['/api/v1/threads/:threadId', '/api/v1/threads', '/api/v1/threads/:threadId/hide'];
  const perCall = (work: (i: number) => void, n = 200_000) => {
    const passes: number[] = [];
    for (let pass = 0; pass < 5; pass++) {
      const started = performance.now();
      for (let i = 0; i < n; i++) work(i);
      passes.push(((performance.now() - started) * 1000) / n);
    }
    return Math.round(passes.sort((a, b) => a - b)[2]! * 100) / 100;
  };
  return {
    httpObservationMicros: perCall((i) =>
      metrics.httpDuration.observe(
        { method: 'GET', route: routes[i % 3]!, status_code: i % 50 ? '200' : '404' },
        (i % 100) / 10_000,
      ),
    ),
    statementObservationMicros: perCall((i) => observe({ sql: select, durationMs: (i % 100) / 10 })),
  };
}

async function main() {
  const runner = cliRunner({ prefix: 'tt-bench-ops-' });
  let postgres: PostgresServer | undefined;
  try {
    const dir = runner.tempDir();
    const file = join(dir, 'threads.ndjson');
    const written = await writeRecords(file, records);
    console.log(
      `thread-tracker operations benchmark: ${records.toLocaleString('en-US')} records (${written.bad} invalid), ${(written.bytes / 1024 / 1024).toFixed(1)} MB of NDJSON`,
    );
    const rows: ToolRow[] = [];
    rows.push(...(await toolFigures(runner, 'pglite', { DATA_DIR: runner.tempDir() }, file, dir)));
    postgres = await startPostgres({ durable: true });
    const env = { DATABASE_URL: postgres.url, DATA_DIR: runner.tempDir() };
    rows.push(...(await toolFigures(runner, 'postgres', env, file, dir)));

    console.log('\n| engine | step | records | records/s | wall s |\n|---|---|---:|---:|---:|');
    for (const r of rows)
      console.log(
        `| ${r.engine} | ${r.step} | ${r.records} | ${r.recordsPerSecond ?? ''} | ${r.wallSeconds} |`,
      );

    const cpu = metricsCpuCost();
    console.log(
      `\nmetrics CPU cost: ${cpu.httpObservationMicros} µs per request (HTTP histogram), ${cpu.statementObservationMicros} µs per statement (query name and histogram)`,
    );
    let pairs: OverheadPair[] = [];
    if (!args['no-metrics']) {
      console.log('\nmetrics on vs off (PostgreSQL durable, the imported threads, alternating rounds)');
      const ids = Array.from({ length: records }, (_, i) => i)
        .filter((i) => i % 100 !== 99)
        .map(threadIdOf);
      const result = await metricsOverhead({
        databaseUrl: postgres.url,
        hotPath: `/api/v1/threads/${ids[42]}`,
        randomPath: () => `/api/v1/threads/${ids[Math.floor(Math.random() * ids.length)]}`,
        durationSeconds: Number(args.duration),
        rounds: Number(args.rounds),
        connections: Number(args.connections),
      });
      pairs = result.pairs;
      console.log(
        '\n| scenario | req/s metrics on | req/s metrics off | overhead | p99 ms on | p99 ms off |\n|---|---:|---:|---:|---:|---:|',
      );
      for (const p of pairs)
        console.log(
          `| ${p.scenario} | ${p.withMetrics} | ${p.withoutMetrics} | ${p.overheadPercent}% | ${p.p99WithMs} | ${p.p99WithoutMs} |`,
        );
      for (const r of result.rows) console.log(`  ${r.scenario}: rounds ${r.runs.join(', ')} req/s`);
    }

    const outDir = resolve(import.meta.dirname, 'results');
    await mkdir(outDir, { recursive: true });
    const out = resolve(outDir, `ops-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      out,
      JSON.stringify(
        { date: new Date().toISOString(), records, tools: rows, metricsCpuCost: cpu, metricsOverhead: pairs },
        null,
        2,
      ),
    );
    console.log(`\nresults written to ${out}`);
  } finally {
    await postgres?.stop().catch(() => {});
    await runner.cleanup();
  }
}

await main();
