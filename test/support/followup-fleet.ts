/**
 * Follow-up workers as real processes (`thread-tracker worker`) on one PostgreSQL database, sending through the
 * Gmail API emulator running in this process: the crash test and `npm run bench:followups` share it.
 *
 * prepareFleet: a Gmail mailbox of `threads` outreach threads (one sent message each), connected through the OAuth
 * flow and synced by the real sync engine, a policy that sends (every day, all day, no automatic next step), and
 * every thread's follow-up due at `dueAt(i)`.
 * Counting is done in the mailbox: every message the system sent (a `<tt.…>` Message-ID), by Message-ID and by
 * Gmail thread.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import postgres from 'postgres';
import { KyselyFollowupPolicyRepository } from '../../src/store/followup-repository.ts';
import { GmailEmulator } from '../emulators/gmail/gmail-emulator.ts';
import { allThreads } from './all-threads.ts';
import { rawMessage } from './followup-app.ts';
import { USER } from './mail-corpus.ts';
import { createMailSyncApp, TEST_TOKEN_KEY } from './mail-sync-app.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CLIENT = { clientId: 'fleet.apps.googleusercontent.com', clientSecret: 'fleet-secret' };
const REDIRECT = 'http://127.0.0.1:3000/api/v1/accounts/gmail/callback';

export interface Fleet {
  emulator: GmailEmulator;
  databaseUrl: string;
  /** Gmail thread ids of the prepared threads, in order. */
  threadIds: string[];
  /** The environment of a worker process (add FOLLOWUP_* settings). */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function prepareFleet(options: {
  databaseUrl: string;
  threads: number;
  dueAt: (index: number) => Date;
}): Promise<Fleet> {
  const emulator = await GmailEmulator.start(CLIENT);
  emulator.consentAs(USER);
  const sentAt = new Date(Date.now() - 7 * 86_400_000);
  for (let i = 0; i < options.threads; i++) {
    const contact = `lead${i}@prospects.test`;
    emulator.deliver(
      USER,
      rawMessage({
        from: USER,
        to: contact,
        subject: `Introduction ${i}: our product for your team`,
        date: sentAt,
        messageId: `<intro.${i}@alice.test>`,
      }),
      { labels: ['SENT'], internalDate: sentAt, threadKey: contact },
    );
  }
  const mail = await createMailSyncApp({
    database: { engine: 'postgres', url: options.databaseUrl },
    google: emulator.settings(REDIRECT),
    pageSize: 100,
    concurrency: 8,
  });
  try {
    const start = await mail.app.inject({
      method: 'POST',
      url: '/api/v1/accounts/gmail/connect',
      payload: {},
    });
    const consent = await fetch(start.json().url, { redirect: 'manual' });
    const back = new URL(consent.headers.get('location')!);
    await mail.app.inject({ method: 'GET', url: `/api/v1/accounts/gmail/callback${back.search}` });
    const [account] = (await mail.app.inject({ method: 'GET', url: '/api/v1/accounts' })).json().items;
    const outcome = await mail.service.syncNow('me', account.id);
    if (outcome.status !== 'synced') throw new Error(`sync failed: ${JSON.stringify(outcome)}`);
    const threads = await allThreads(mail.test.service);
    if (threads.length !== options.threads) throw new Error(`synced ${threads.length} threads`);
    const ordered = threads.sort((a, b) => index(a.subject) - index(b.subject));
    await new KyselyFollowupPolicyRepository(mail.test.handle.db).put(
      'me',
      {
        mode: 'send',
        autoSchedule: false,
        businessDays: [1, 2, 3, 4, 5, 6, 7],
        sendWindow: { start: '00:00', end: '23:59' },
        dailyCap: 2000,
      },
      new Date().toISOString(),
    );
    // Straight into the table: some of these times are already past, which the API would refuse.
    const db = mail.test.handle.db;
    for (const [i, thread] of ordered.entries()) {
      await sql`update thread_tracking set followup_scheduled = true, followup_scheduled_at = ${options
        .dueAt(i)
        .toISOString()}::timestamptz where user_id = 'me' and thread_id = ${thread.threadId}`.execute(db);
    }
    const settings = emulator.settings(REDIRECT);
    return {
      emulator,
      databaseUrl: options.databaseUrl,
      threadIds: ordered.map((t) => t.threadId),
      env: {
        DATABASE_URL: options.databaseUrl,
        TOKEN_ENCRYPTION_KEY: TEST_TOKEN_KEY.toString('base64'),
        GOOGLE_CLIENT_ID: settings.clientId,
        GOOGLE_CLIENT_SECRET: settings.clientSecret,
        GOOGLE_AUTH_URL: settings.authUrl,
        GOOGLE_TOKEN_URL: settings.tokenUrl,
        GMAIL_API_URL: settings.apiUrl,
        DB_POOL_SIZE: '6',
        METRICS_ENABLED: 'false',
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
      },
      close: () => emulator.close(),
    };
  } finally {
    await mail.close();
  }
}

function index(subject: string | null): number {
  return Number(/Introduction (\d+):/.exec(subject ?? '')?.[1] ?? -1);
}

/** Every message the system sent, by Message-ID, and the system messages of each Gmail thread. */
export function systemMessages(emulator: GmailEmulator): {
  byMessageId: Map<string, number>;
  byThread: Map<string, number>;
} {
  const byMessageId = new Map<string, number>();
  const byThread = new Map<string, number>();
  for (const m of emulator.mailbox(USER).messages.values()) {
    const id = m.headers.find(([name]) => name.toLowerCase() === 'message-id')?.[1]?.trim() ?? '';
    if (!id.startsWith('<tt.') || !m.labels.has('SENT')) continue;
    byMessageId.set(id, (byMessageId.get(id) ?? 0) + 1);
    byThread.set(m.threadId, (byThread.get(m.threadId) ?? 0) + 1);
  }
  return { byMessageId, byThread };
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `thread-tracker worker` with its own data directory. */
export async function startWorker(env: Record<string, string>, dataDir?: string): Promise<WorkerProcess> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'thread-tracker-worker-')));
  const child = spawn(process.execPath, [resolve(ROOT, 'bin/thread-tracker.js'), 'worker'], {
    cwd: ROOT,
    env: { ...process.env, ...env, DATA_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    child,
    output: () => output,
    exited: exited.then(async () => {
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    }),
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** The percentile (0–100) of sorted numbers, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface ChaosFigures {
  followups: number;
  workers: number;
  kills: number;
  elapsedS: number;
  /** Messages in the mailbox more than once (same Message-ID), plus threads with more than one follow-up. */
  sentTwice: number;
  /** Prepared threads without their follow-up in the mailbox. */
  missed: number;
  /** Claims left by a killed worker, each taken over by another. */
  abandonedAttempts: number;
  /** Follow-ups a killed worker had sent, found by Message-ID instead of being sent again. */
  recognisedAfterCrash: number;
  /** From the end of an abandoned claim's lease to its takeover (database clock). */
  takeoverAfterLeaseMs: { min: number; p50: number; p99: number; max: number };
  jobsByStatus: Record<string, number>;
  threadsDone: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const between = (min: number, max: number) => min + Math.random() * (max - min);

/**
 * Runs `workers` worker processes until every prepared follow-up is sent, killing one at random with SIGKILL every
 * `killEveryMs` and starting it again; then stops them and counts, in the mailbox and the database.
 */
export async function runWithKills(options: {
  fleet: Fleet;
  workers: number;
  env: Record<string, string>;
  killEveryMs: [number, number];
  deadlineMs: number;
  /** The worker processes, for their logs and for cleanup by the caller. */
  processes?: WorkerProcess[];
}): Promise<ChaosFigures> {
  const { fleet, env } = options;
  const total = fleet.threadIds.length;
  const db = postgres(fleet.databaseUrl, { max: 2, onnotice: () => {} });
  const workers = options.processes ?? [];
  try {
    for (let i = 0; i < options.workers; i++) workers.push(await startWorker(env));
    const sent = async () =>
      Number((await db`select count(*) as n from followup_jobs where status = 'sent'`)[0]!.n);
    let kills = 0;
    const started = Date.now();
    const deadline = started + options.deadlineMs;
    while ((await sent()) < total && Date.now() < deadline) {
      await sleep(between(...options.killEveryMs));
      if ((await sent()) >= total) break;
      const victim = Math.floor(Math.random() * workers.length);
      const old = workers[victim]!;
      old.kill('SIGKILL');
      await old.exited;
      kills++;
      workers[victim] = await startWorker(env);
    }
    while ((await sent()) < total && Date.now() < deadline) await sleep(100);
    const elapsedS = Math.round((Date.now() - started) / 100) / 10;
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));

    const { byMessageId, byThread } = systemMessages(fleet.emulator);
    const jobs = await db<{ status: string; n: number }[]>`
      select status, count(*)::int as n from followup_jobs group by status order by status`;
    const [threads] = await db<{ done: number }[]>`
      select count(*) filter (where followup_count = 1 and followup_scheduled = false)::int as done
      from thread_tracking`;
    const attempts = await db<
      { job_id: string; started_at: Date; outcome: string | null; detail: { leaseUntil?: string } }[]
    >`select job_id, started_at, outcome, detail from followup_attempts order by job_id, attempt`;
    const takeovers: number[] = [];
    for (let i = 0; i + 1 < attempts.length; i++) {
      const a = attempts[i]!;
      const b = attempts[i + 1]!;
      if (a.job_id !== b.job_id || a.outcome !== 'abandoned' || !a.detail.leaseUntil) continue;
      takeovers.push(b.started_at.getTime() - Date.parse(a.detail.leaseUntil));
    }
    takeovers.sort((x, y) => x - y);
    return {
      followups: total,
      workers: options.workers,
      kills,
      elapsedS,
      sentTwice:
        [...byMessageId.values()].filter((n) => n > 1).length +
        [...byThread.values()].filter((n) => n > 1).length,
      missed: fleet.threadIds.filter((id) => !byThread.has(id)).length,
      abandonedAttempts: takeovers.length,
      recognisedAfterCrash: attempts.filter((a) => a.outcome === 'recognised').length,
      takeoverAfterLeaseMs: {
        min: takeovers[0] ?? 0,
        p50: percentile(takeovers, 50),
        p99: percentile(takeovers, 99),
        max: takeovers.at(-1) ?? 0,
      },
      jobsByStatus: Object.fromEntries(jobs.map((j) => [j.status, j.n])),
      threadsDone: threads!.done,
    };
  } finally {
    await db.end();
  }
}
