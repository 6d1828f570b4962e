/**
 * `npm run bench:followups`: the follow-up engine's figures, printed and written as JSON to bench/results/.
 *
 * PostgreSQL with durable commits; the Gmail API emulator (sending) and the OpenAI-compatible emulator (drafting) in
 * this process; workers are real `thread-tracker worker` processes.
 * 1. Throughput: one worker, `--followups` follow-ups all due at once, drafted by the model (emulator) and, in a
 *    second run, from templates: follow-ups per second from the first claim to the last delivery.
 * 2. Lateness: one worker polling every second; the follow-ups fall due evenly over `--spread` seconds (a pace one
 *    worker keeps up with); lateness = delivery time − due time: p50, p99, max.
 * 3. Crash: three workers, every follow-up due at once, a worker killed with SIGKILL every 1.5–3.5 s and started
 *    again; sent twice and missed are counted in the mailbox by Message-ID.
 * Options: --followups <n> (1000), --spread <s> (60), --suite throughput,lateness,crash (all).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { type OpenAiEmulator, startOpenAiEmulator } from '../test/emulators/openai/openai-emulator.ts';
import { type PostgresServer, startPostgres } from '../test/harness/postgres.ts';
import {
  type ChaosFigures,
  type Fleet,
  percentile,
  prepareFleet,
  runWithKills,
  startWorker,
  systemMessages,
} from '../test/support/followup-fleet.ts';

const { values: args } = parseArgs({
  options: {
    followups: { type: 'string', default: '1000' },
    spread: { type: 'string', default: '60' },
    suite: { type: 'string', default: 'throughput,lateness,crash' },
  },
});
const FOLLOWUPS = Number(args.followups);
const SPREAD_S = Number(args.spread);
const suites = new Set(args.suite.split(','));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Delivered {
  due: number;
  firstClaim: number;
  delivered: number;
}

/** Per job: due time, first claim, delivery (database clock). */
async function deliveries(url: string): Promise<Delivered[]> {
  const db = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await db<{ due: Date; first_claim: Date; delivered: Date }[]>`
      select j.due_at as due, j.delivered_at as delivered,
             (select min(a.started_at) from followup_attempts a where a.job_id = j.id) as first_claim
      from followup_jobs j where j.status = 'sent'`;
    return rows.map((r) => ({
      due: r.due.getTime(),
      firstClaim: r.first_claim.getTime(),
      delivered: r.delivered.getTime(),
    }));
  } finally {
    await db.end();
  }
}

async function waitAllSent(url: string, total: number, timeoutMs: number): Promise<void> {
  const db = postgres(url, { max: 1, onnotice: () => {} });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const [row] = await db<
        { n: number }[]
      >`select count(*)::int as n from followup_jobs where status = 'sent'`;
      if (row!.n >= total) return;
      if (Date.now() > deadline) throw new Error(`only ${row!.n} of ${total} follow-ups sent in time`);
      await sleep(250);
    }
  } finally {
    await db.end();
  }
}

async function oneWorker(
  pg: PostgresServer,
  name: string,
  dueAt: (i: number) => Date,
  extraEnv: Record<string, string>,
): Promise<{ fleet: Fleet; rows: Delivered[] }> {
  const url = await pg.createDatabase(name);
  const fleet = await prepareFleet({ databaseUrl: url, threads: FOLLOWUPS, dueAt });
  const worker = await startWorker({ ...fleet.env, FOLLOWUP_CONCURRENCY: '8', ...extraEnv });
  try {
    await waitAllSent(url, FOLLOWUPS, 900_000);
  } finally {
    worker.kill('SIGTERM');
    await worker.exited;
  }
  const { byMessageId } = systemMessages(fleet.emulator);
  if (byMessageId.size !== FOLLOWUPS || [...byMessageId.values()].some((n) => n !== 1)) {
    throw new Error(`${name}: the mailbox does not hold each follow-up once`);
  }
  return { fleet, rows: await deliveries(url) };
}

function rate(rows: Delivered[]): number {
  const start = Math.min(...rows.map((r) => r.firstClaim));
  const end = Math.max(...rows.map((r) => r.delivered));
  return Math.round((rows.length / ((end - start) / 1000)) * 10) / 10;
}

const pg = await startPostgres({ durable: true });
let openai: OpenAiEmulator | undefined;
const results: Record<string, unknown> = {
  at: new Date().toISOString(),
  followups: FOLLOWUPS,
  machine: {
    cpus: (await import('node:os')).cpus().length,
    loadAverage: (await import('node:os')).loadavg(),
  },
};
try {
  openai = await startOpenAiEmulator();
  if (suites.has('throughput')) {
    const now = () => new Date(Date.now() - 60_000);
    const model = await oneWorker(pg, 'bench_followups_model', now, {
      OPENAI_BASE_URL: openai.baseURL,
      FOLLOWUP_POLL_INTERVAL_MS: '200',
    });
    await model.fleet.close();
    const templates = await oneWorker(pg, 'bench_followups_templates', now, {
      FOLLOWUP_POLL_INTERVAL_MS: '200',
    });
    await templates.fleet.close();
    results.throughput = {
      workers: 1,
      concurrency: 8,
      modelDraftedPerSecond: rate(model.rows),
      templateDraftedPerSecond: rate(templates.rows),
      modelRequests: openai.requests.length,
    };
    console.log(`throughput, one worker: ${JSON.stringify(results.throughput)}`);
  }
  if (suites.has('lateness')) {
    // Due times start once the worker is up, evenly over the spread.
    const start = Date.now() + 20_000;
    const run = await oneWorker(
      pg,
      'bench_followups_lateness',
      (i) => new Date(start + (i * SPREAD_S * 1000) / FOLLOWUPS),
      { OPENAI_BASE_URL: openai.baseURL, FOLLOWUP_POLL_INTERVAL_MS: '1000' },
    );
    await run.fleet.close();
    const late = run.rows.map((r) => r.delivered - r.due).sort((a, b) => a - b);
    // Where the lateness goes: waiting to be claimed, then acting (drafting, re-checks, sending, recording).
    const toClaim = run.rows.map((r) => r.firstClaim - r.due).sort((a, b) => a - b);
    const acting = run.rows.map((r) => r.delivered - r.firstClaim).sort((a, b) => a - b);
    results.lateness = {
      pollIntervalMs: 1000,
      duePerSecond: Math.round((FOLLOWUPS / SPREAD_S) * 10) / 10,
      p50Ms: percentile(late, 50),
      p99Ms: percentile(late, 99),
      maxMs: late.at(-1),
      claimP50Ms: percentile(toClaim, 50),
      claimP99Ms: percentile(toClaim, 99),
      actingP50Ms: percentile(acting, 50),
      actingP99Ms: percentile(acting, 99),
    };
    console.log(`lateness: ${JSON.stringify(results.lateness)}`);
  }
  if (suites.has('crash')) {
    const url = await pg.createDatabase('bench_followups_crash');
    const fleet = await prepareFleet({
      databaseUrl: url,
      threads: FOLLOWUPS,
      dueAt: () => new Date(Date.now() - 60_000),
    });
    const figures: ChaosFigures = await runWithKills({
      fleet,
      workers: 3,
      env: {
        ...fleet.env,
        OPENAI_BASE_URL: openai.baseURL,
        FOLLOWUP_POLL_INTERVAL_MS: '200',
        FOLLOWUP_LEASE_S: '3',
        FOLLOWUP_CONCURRENCY: '4',
      },
      killEveryMs: [1500, 3500],
      deadlineMs: 900_000,
    });
    await fleet.close();
    results.crash = figures;
    console.log(`crash: ${JSON.stringify(figures)}`);
  }
} finally {
  await openai?.close();
  await pg.stop();
}

const dir = resolve(import.meta.dirname, 'results');
await mkdir(dir, { recursive: true });
const file = resolve(dir, `followups-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwritten to ${file}`);
