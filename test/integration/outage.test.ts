/**
 * Database outages lose nothing and hang nothing. A real API process on a real PostgreSQL started with its durable
 * defaults (fsync and synchronous_commit on); the database is crashed (pg_ctl stop -m immediate), frozen (SIGSTOP
 * of every PostgreSQL process) and the API process itself is killed, under a steady write load. The ledger of what
 * the API acknowledged is compared with what the database holds once everything has converged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../harness/postgres.ts';
import { type RedisServer, startRedis } from '../harness/redis.ts';
import { describeWithService, hasService } from '../harness/require-services.ts';
import { type ServerProcess, startApiServer } from '../support/server-process.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ledger {
  /** Threads whose creation was acknowledged (201 or 202). */
  created: Set<string>;
  /** Acknowledged increments per thread. */
  increments: Map<string, number>;
  refused: number;
  longestMs: number;
  statuses: Map<number, number>;
}

const newLedger = (): Ledger => ({
  created: new Set(),
  increments: new Map(),
  refused: 0,
  longestMs: 0,
  statuses: new Map(),
});

async function request(url: string, method: string, path: string, body?: unknown) {
  const started = performance.now();
  try {
    const response = await fetch(`${url}${path}`, {
      method,
      signal: AbortSignal.timeout(10_000),
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - started, headers: response.headers };
  } catch {
    return { status: 0, ms: performance.now() - started, headers: new Headers() };
  }
}

/** Writers until `stop()`: each creates unique threads and increments a few counters, recording what was acked. */
function writeLoad(url: () => string, ledger: Ledger, writers = 6, counters = 'counter') {
  let running = true;
  let n = 0;
  const worker = async (w: number) => {
    while (running) {
      const i = n++;
      const threadId = `load-${w}-${i}`;
      const created = await request(url(), 'POST', '/api/v1/threads', { threadId, subject: `load ${i}` });
      record(ledger, created);
      if (created.status === 201 || created.status === 202) ledger.created.add(threadId);
      const counter = `${counters}-${i % 4}`;
      const incremented = await request(url(), 'POST', `/api/v1/threads/${counter}/followup/increment`);
      record(ledger, incremented);
      if (incremented.status === 200 || incremented.status === 202) {
        ledger.increments.set(counter, (ledger.increments.get(counter) ?? 0) + 1);
      }
      await sleep(5);
    }
  };
  const done = Promise.all(Array.from({ length: writers }, (_, w) => worker(w)));
  return {
    stop: async () => {
      running = false;
      await done;
    },
  };
}

function record(ledger: Ledger, result: { status: number; ms: number }) {
  ledger.statuses.set(result.status, (ledger.statuses.get(result.status) ?? 0) + 1);
  if (result.status === 0 || result.status >= 500) ledger.refused++;
  ledger.longestMs = Math.max(ledger.longestMs, result.ms);
}

/** Until /ready says the database is up and the journal empty; the error carries the server's last lines. */
async function waitForConvergence(server: ServerProcess, timeoutMs = 60_000): Promise<number> {
  const url = server.url;
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const ready = await request(url, 'GET', '/ready');
    if (ready.status === 200) {
      const body = (await (await fetch(`${url}/ready`)).json()) as {
        checks: { database: { status: string; journal?: { depth: number } } };
      };
      if (body.checks.database.status === 'ok' && (body.checks.database.journal?.depth ?? 0) === 0) {
        return Date.now() - started;
      }
    }
    await sleep(100);
  }
  const last = await fetch(`${url}/ready`).then(
    (r) => r.text(),
    (e: Error) => `no answer (${e.message})`,
  );
  const lines = server
    .output()
    .split('\n')
    .filter((l) => !l.includes('request completed'))
    .slice(-30)
    .join('\n');
  throw new Error(`the service did not converge: ${last}\nserver output:\n${lines}`);
}

async function assertLedger(
  databaseUrl: string,
  ledger: Ledger,
): Promise<{ lost: number; duplicated: number }> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ thread_id: string; followup_count: number }[]>`
      select thread_id, followup_count from thread_tracking where user_id = 'me'`;
    const stored = new Map(rows.map((r) => [r.thread_id, r.followup_count]));
    let lost = 0;
    for (const threadId of ledger.created) if (!stored.has(threadId)) lost++;
    let duplicated = 0;
    for (const [counter, acked] of ledger.increments) {
      const count = stored.get(counter) ?? 0;
      if (count < acked) lost += acked - count;
      if (count > acked) duplicated += count - acked;
    }
    return { lost, duplicated };
  } finally {
    await sql.end();
  }
}

async function seedCounters(url: string, counters = 'counter') {
  for (let c = 0; c < 4; c++) {
    const result = await request(url, 'POST', '/api/v1/threads', {
      threadId: `${counters}-${c}`,
      subject: 'counter',
    });
    expect(result.status).toBe(201);
  }
}

describeWithService('postgres', 'database outages', () => {
  let pg: PostgresServer;
  let api: ServerProcess;
  let dataDir: string;
  let databaseUrl: string;

  beforeAll(async () => {
    pg = await startPostgres({ durable: true });
    databaseUrl = pg.url;
    dataDir = await mkdtemp(join(tmpdir(), 'outage-api-'));
    api = await startApiServer({ DATABASE_URL: databaseUrl, DATA_DIR: dataDir, DB_RETRY_ATTEMPTS: '2' });
    await seedCounters(api.url);
  }, 60_000);
  afterAll(async () => {
    await api?.stop();
    await pg?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged write and applies none twice over 10 crash cycles of PostgreSQL', async () => {
    const ledger = newLedger();
    const load = writeLoad(() => api.url, ledger);
    for (let cycle = 0; cycle < 10; cycle++) {
      await sleep(700);
      await pg.stopImmediate();
      await sleep(700);
      await pg.start();
    }
    await sleep(500);
    await load.stop();
    const convergedMs = await waitForConvergence(api);
    const { lost, duplicated } = await assertLedger(databaseUrl, ledger);
    const acknowledged = ledger.created.size + [...ledger.increments.values()].reduce((a, b) => a + b, 0);
    console.log(
      `crash cycles: ${acknowledged} writes acknowledged (${ledger.statuses.get(202) ?? 0} queued), ${lost} lost, ${duplicated} applied twice, ${ledger.refused} refused, longest request ${Math.round(ledger.longestMs)} ms, converged in ${convergedMs} ms`,
    );
    expect(ledger.statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect(acknowledged).toBeGreaterThan(200);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
  }, 120_000);

  it('answers every request within 1.5 s while PostgreSQL is frozen for 10 s, then converges', async () => {
    // Counters of this test only, and something to read from the cache during the freeze.
    await seedCounters(api.url, 'frozen');
    for (let c = 0; c < 4; c++)
      expect((await request(api.url, 'GET', `/api/v1/threads/counter-${c}`)).status).toBe(200);
    const ledger = newLedger();
    const load = writeLoad(() => api.url, ledger, 4, 'frozen');
    await sleep(500);
    await pg.pause();
    const reads: { status: number; stale: boolean; ms: number }[] = [];
    const freezeEnds = Date.now() + 10_000;
    while (Date.now() < freezeEnds) {
      const read = await request(api.url, 'GET', `/api/v1/threads/counter-${reads.length % 4}`);
      reads.push({ status: read.status, stale: read.headers.get('x-data-stale') !== null, ms: read.ms });
      ledger.longestMs = Math.max(ledger.longestMs, read.ms);
      await sleep(50);
    }
    await pg.resume();
    await sleep(1_000);
    await load.stop();
    const convergedMs = await waitForConvergence(api);
    const { lost, duplicated } = await assertLedger(databaseUrl, ledger);
    console.log(
      `freeze: longest request ${Math.round(ledger.longestMs)} ms, ${ledger.statuses.get(202) ?? 0} writes queued, ${reads.filter((r) => r.stale).length}/${reads.length} reads served stale, converged in ${convergedMs} ms, ${lost} lost, ${duplicated} twice`,
    );
    expect(ledger.longestMs).toBeLessThan(1_500);
    expect(reads.every((r) => r.status === 200)).toBe(true);
    expect(reads.filter((r) => r.stale).length).toBeGreaterThan(reads.length / 2);
    expect(ledger.statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
  }, 90_000);

  it('replays the journal after the API process is killed while writes are queued', async () => {
    await pg.stopImmediate();
    const queued: string[] = [];
    for (let i = 0; i < 40; i++) {
      const threadId = `killed-${i}`;
      const result = await request(api.url, 'POST', '/api/v1/threads', { threadId, subject: 'queued' });
      expect(result.status).toBe(202);
      queued.push(threadId);
    }
    const hide = await request(api.url, 'POST', '/api/v1/threads/counter-0/hide');
    expect(hide.status).toBe(202);
    api.child.kill('SIGKILL');
    await new Promise((r) => api.child.once('exit', r));
    // The new process starts while the database is still down, then replays once it is back.
    api = await startApiServer({ DATABASE_URL: databaseUrl, DATA_DIR: dataDir, DB_RETRY_ATTEMPTS: '2' });
    const ready = await (await fetch(`${api.url}/ready`)).json();
    expect(ready.checks.database.journal.depth).toBe(41);
    // Its own queued writes show on reads even now.
    const read = await request(api.url, 'GET', '/api/v1/threads/killed-3');
    expect(read.status).toBe(200);
    expect(read.headers.get('x-pending-writes')).toBe('1');
    await pg.start();
    await waitForConvergence(api);
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql<
        { thread_id: string }[]
      >`select thread_id from thread_tracking where thread_id like 'killed-%'`;
      expect(rows.map((r) => r.thread_id).sort()).toEqual([...queued].sort());
      const [counter] = await sql<
        { hidden: boolean }[]
      >`select hidden from thread_tracking where thread_id = 'counter-0'`;
      expect(counter?.hidden).toBe(true);
      const events = await sql<{ type: string; data: { queuedAt?: string } }[]>`
        select type, data from thread_events where thread_id = 'killed-0'`;
      expect(events).toHaveLength(1);
      expect(events[0]?.type).toBe('created');
      expect(events[0]?.data.queuedAt).toBeDefined();
    } finally {
      await sql.end();
    }
  }, 90_000);

  it('records a queued write that no longer applies as a conflict instead of dropping it', async () => {
    expect((await request(api.url, 'POST', '/api/v1/threads', { threadId: 'doomed' })).status).toBe(201);
    await pg.stopImmediate();
    expect((await request(api.url, 'DELETE', '/api/v1/threads/doomed?purge=true')).status).toBe(202);
    expect((await request(api.url, 'POST', '/api/v1/threads/doomed/archive')).status).toBe(202);
    await pg.start();
    await waitForConvergence(api);
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const events = await sql<{ type: string; data: { code?: string } }[]>`
        select type, data from thread_events where thread_id = 'doomed' order by id`;
      expect(events.map((e) => e.type)).toEqual(['created', 'purged', 'journal_conflict']);
      expect(events[2]?.data.code).toBe('THREAD_NOT_FOUND');
    } finally {
      await sql.end();
    }
    const ready = await (await fetch(`${api.url}/ready`)).json();
    expect(ready.checks.database.journal.conflicts).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

describeWithService(
  hasService('postgres') ? 'redis' : 'postgres',
  'Redis and PostgreSQL down together',
  () => {
    let pg: PostgresServer;
    let redis: RedisServer;
    let api: ServerProcess;

    beforeAll(async () => {
      pg = await startPostgres({ durable: true });
      redis = await startRedis();
      api = await startApiServer({ DATABASE_URL: pg.url, REDIS_URL: redis.url });
      await seedCounters(api.url);
    }, 60_000);
    afterAll(async () => {
      await api?.stop();
      await redis?.stop();
      await pg?.stop();
    });

    it('still loses no acknowledged write', async () => {
      const ledger = newLedger();
      const load = writeLoad(() => api.url, ledger, 4);
      for (let cycle = 0; cycle < 3; cycle++) {
        await sleep(500);
        await Promise.all([pg.stopImmediate(), redis.shutdownNoSave()]);
        await sleep(1_000);
        await Promise.all([pg.start(), redis.start()]);
      }
      await sleep(500);
      await load.stop();
      await waitForConvergence(api);
      const { lost, duplicated } = await assertLedger(pg.url, ledger);
      expect(ledger.statuses.get(202) ?? 0).toBeGreaterThan(0);
      expect(lost).toBe(0);
      expect(duplicated).toBe(0);
    }, 90_000);
  },
);
