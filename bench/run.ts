/**
 * `npm run bench`: one command that prints the tables and writes them as JSON to bench/results/.
 *
 * Starts PostgreSQL with durable commits (fsync and synchronous_commit on), Redis, the API servers each suite needs
 * and a bare node:http ceiling; seeds 10,000 threads for one user; measures every scenario with autocannon
 * (100 connections) `--rounds` times after a warm-up and keeps the round with the median throughput. Client-side
 * latencies come from autocannon; server-side latencies from the server's own histogram (/metrics), as bucket
 * upper bounds.
 *
 * Suites: foundation (reads, lists, writes on PostgreSQL), warm (hit rate right after a start, with and without
 * cache warming), cache (memory tier, Redis tier, both, Zipf hit rate,
 * Redis down); metrics (METRICS_ENABLED on vs off on the same reads; only when named). Options: --suite foundation,cache (default all), --duration <s> (10), --rounds <n> (3),
 * --threads <n> (10000), --connections <n> (100).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type PostgresServer, startPostgres } from '../test/harness/postgres.ts';
import { type RedisServer, startRedis } from '../test/harness/redis.ts';
import { type ServerProcess, startApiServer, startBareServer } from '../test/support/server-process.ts';
import { type LoadResult, medianOf, runLoad } from './lib/load.ts';
import { metricsOverhead } from './lib/metrics-overhead.ts';
import { hitRate, scrapeCache, scrapeRoute, serverQuantiles } from './lib/scrape.ts';
import { zipf } from './lib/zipf.ts';
import { outageSuite } from './outage.ts';
import { scaleSuite } from './scale.ts';

const { values: args } = parseArgs({
  options: {
    suite: { type: 'string', default: 'foundation,warm,cache,scale,outage' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '100' },
  },
});
const suites = new Set(args.suite.split(','));
const duration = Number(args.duration);
const rounds = Number(args.rounds);
const threadCount = Number(args.threads);
const connections = Number(args.connections);

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const threadIdOf = (i: number) => `bench${String(i).padStart(6, '0')}`;
const THREAD_ROUTE = '/api/v1/threads/:threadId';
const LIST_ROUTE = '/api/v1/threads';

interface Row extends LoadResult {
  suite: string;
  scenario: string;
  runs: number[];
  vsBare?: number;
  serverP50Ms?: number | null;
  serverP99Ms?: number | null;
  hitRate?: number | null;
}

interface Scenario {
  name: string;
  server: ServerProcess;
  path?: string;
  next?: () => { path: string; method?: string };
  /** Route template whose server-side latency is reported. */
  route?: string;
  /** Report the cache hit rate over the measured rounds. */
  measureHitRate?: boolean;
}

async function seed(url: string, count: number): Promise<void> {
  const started = Date.now();
  for (let offset = 0; offset < count; offset += 100) {
    const threads = Array.from({ length: Math.min(100, count - offset) }, (_, j) => {
      const i = offset + j;
      return {
        threadId: threadIdOf(i),
        subject: `Application for role ${i} at Company ${i % 97}`,
        participants: ['me@example.com', `recruiter${i % 500}@company${i % 97}.com`],
        emailType: (['application', 'followup', 'manual'] as const)[i % 3],
        messageCount: 1 + (i % 7),
        lastActivity: new Date(Date.now() - i * 60_000).toISOString(),
        ...(i % 4 === 0 ? { responseTimeHours: i % 72 } : {}),
      };
    });
    const response = await fetch(`${url}/api/v1/threads/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ threads }),
    });
    if (!response.ok) throw new Error(`seeding failed: ${response.status} ${await response.text()}`);
  }
  console.log(`seeded ${count} threads in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function listCursors(url: string, pages: number): Promise<string[]> {
  const cursors = [''];
  let cursor = '';
  for (let i = 0; i < pages; i++) {
    const response = await fetch(`${url}/api/v1/threads?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
    const page = (await response.json()) as { nextCursor: string | null };
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
    cursors.push(cursor);
  }
  return cursors;
}

async function measure(suite: string, scenario: Scenario): Promise<Row> {
  const load = () =>
    runLoad({
      url: scenario.next ? scenario.server.url : `${scenario.server.url}${scenario.path}`,
      connections,
      durationSeconds: duration,
      ...(scenario.next ? { next: scenario.next } : {}),
    });
  await runLoad({
    url: scenario.next ? scenario.server.url : `${scenario.server.url}${scenario.path}`,
    connections,
    durationSeconds: 2,
    ...(scenario.next ? { next: scenario.next } : {}),
  });
  const histogramBefore = scenario.route ? await scrapeRoute(scenario.server.url, scenario.route) : undefined;
  const cacheBefore = scenario.measureHitRate ? await scrapeCache(scenario.server.url) : undefined;
  const result = await medianOf(rounds, load);
  const row: Row = { suite, scenario: scenario.name, ...result };
  if (scenario.route && histogramBefore) {
    const server = serverQuantiles(histogramBefore, await scrapeRoute(scenario.server.url, scenario.route));
    row.serverP50Ms = server.p50;
    row.serverP99Ms = server.p99;
  }
  if (cacheBefore) row.hitRate = hitRate(cacheBefore, await scrapeCache(scenario.server.url));
  console.log(
    `  ${scenario.name}: ${result.requestsPerSecond} req/s (runs ${result.runs.join(', ')})` +
      (row.serverP99Ms !== undefined ? `, server p99 <= ${row.serverP99Ms} ms` : '') +
      (row.hitRate !== undefined ? `, hit rate ${row.hitRate}` : ''),
  );
  return row;
}

function printTable(title: string, rows: Row[]): void {
  const ceiling = rows.find((r) => r.scenario.startsWith('bare'))?.requestsPerSecond;
  for (const row of rows) if (ceiling) row.vsBare = Math.round((row.requestsPerSecond / ceiling) * 100) / 100;
  console.log(`\n${title}\n`);
  console.log(
    '| scenario | req/s | vs bare | p50 ms | p99 ms | max ms | server p50 ms | server p99 ms | hit rate | errors | non-2xx |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const cell = (v: number | null | undefined) => (v === undefined || v === null ? '' : String(v));
    console.log(
      `| ${r.scenario} | ${r.requestsPerSecond} | ${cell(r.vsBare)} | ${r.p50} | ${r.p99} | ${r.max} | ${cell(r.serverP50Ms)} | ${cell(r.serverP99Ms)} | ${cell(r.hitRate)} | ${r.errors} | ${r.non2xx} |`,
    );
  }
}

async function main() {
  console.log(
    `thread-tracker benchmark: ${duration}s x ${rounds} rounds per scenario, ${connections} connections`,
  );
  const started: { stop(): Promise<void> }[] = [];
  const all: Row[] = [];
  const extra: Record<string, unknown> = {};
  let postgres: PostgresServer | undefined;
  let redis: RedisServer | undefined;
  try {
    postgres = await startPostgres({ durable: true });
    started.push(postgres);
    const databaseUrl = postgres.url;
    // The memory-only server seeds the database; the others share it.
    const memory = await startApiServer({ DATABASE_URL: databaseUrl, DB_POOL_SIZE: '20' });
    started.push(memory);
    await seed(memory.url, threadCount);
    const hotId = threadIdOf(42);
    const sample = await (await fetch(`${memory.url}/api/v1/threads/${hotId}`)).text();
    const bare = await startBareServer(sample);
    started.push(bare);
    const ids = Array.from({ length: threadCount }, (_, i) => threadIdOf(i));
    const bareScenario: Scenario = { name: 'bare node:http (ceiling)', server: bare, path: '/thread' };

    if (suites.has('foundation')) {
      const cursors = await listCursors(memory.url, 200);
      let flip = 0;
      const rows: Row[] = [];
      for (const scenario of [
        bareScenario,
        {
          name: 'GET one thread (cache hit)',
          server: memory,
          path: `/api/v1/threads/${hotId}`,
          route: THREAD_ROUTE,
        },
        {
          name: `GET random thread of ${threadCount}`,
          server: memory,
          next: () => ({ path: `/api/v1/threads/${pick(ids)}` }),
          route: THREAD_ROUTE,
          measureHitRate: true,
        },
        {
          name: 'list page of 50 (keyset, random page)',
          server: memory,
          next: () => {
            const cursor = pick(cursors);
            return { path: `/api/v1/threads?limit=50${cursor ? `&cursor=${cursor}` : ''}` };
          },
          route: LIST_ROUTE,
        },
        {
          name: 'hide/unhide (durable write)',
          server: memory,
          next: () => ({
            path: `/api/v1/threads/${pick(ids)}/${flip++ % 2 ? 'hide' : 'unhide'}`,
            method: 'POST',
          }),
          route: '/api/v1/threads/:threadId/hide',
        },
      ] satisfies Scenario[]) {
        rows.push(await measure('foundation', scenario));
      }
      printTable('Foundation (PostgreSQL, memory cache)', rows);
      all.push(...rows);
    }

    if (suites.has('cache') || suites.has('scale')) {
      redis = await startRedis();
      started.push(redis);
    }

    if (suites.has('warm')) {
      // Hit rate right after a start: reads skewed towards the most recently active threads (Zipf by recency; the
      // seeded thread i was active i minutes ago), on a fresh server that warms its cache and on one that does not.
      const recent = zipf(threadCount, 1);
      const next = () => ({ path: `/api/v1/threads/${ids[recent()]}` });
      const rows: Row[] = [];
      for (const [name, env] of [
        ['with warming', {}],
        ['without warming', { CACHE_WARM_THREADS: '0', CACHE_WARM_USERS: '0' }],
      ] as const) {
        const server = await startApiServer({ DATABASE_URL: databaseUrl, DB_POOL_SIZE: '20', ...env });
        started.push(server);
        const before = await scrapeCache(server.url);
        const result = await runLoad({ url: server.url, connections, durationSeconds: duration, next });
        const row: Row = {
          suite: 'warm',
          scenario: `first ${duration} s after a start, ${name}`,
          ...result,
          runs: [result.requestsPerSecond],
          hitRate: hitRate(before, await scrapeCache(server.url)),
        };
        console.log(`  ${row.scenario}: ${row.requestsPerSecond} req/s, hit rate ${row.hitRate}`);
        rows.push(row);
        await server.stop();
      }
      printTable(
        'Cache warming (memory tier of 1,000 entries, Zipf by recency over the seeded threads)',
        rows,
      );
      all.push(...rows);
    }

    if (suites.has('cache') && redis) {
      const redisOnly = await startApiServer({
        DATABASE_URL: databaseUrl,
        REDIS_URL: redis.url,
        CACHE_L1_ENABLED: 'false',
      });
      started.push(redisOnly);
      const tiered = await startApiServer({ DATABASE_URL: databaseUrl, REDIS_URL: redis.url });
      started.push(tiered);
      const pickZipf = zipf(threadCount, 1);
      const zipfNext = () => ({ path: `/api/v1/threads/${ids[pickZipf()]}` });
      const rows: Row[] = [];
      const hot = `/api/v1/threads/${hotId}`;
      rows.push(await measure('cache', bareScenario));
      rows.push(
        await measure('cache', {
          name: 'GET hit, memory tier',
          server: memory,
          path: hot,
          route: THREAD_ROUTE,
        }),
      );
      rows.push(
        await measure('cache', {
          name: 'GET hit, Redis tier (no L1)',
          server: redisOnly,
          path: hot,
          route: THREAD_ROUTE,
        }),
      );
      rows.push(
        await measure('cache', {
          name: 'GET hit, memory + Redis',
          server: tiered,
          path: hot,
          route: THREAD_ROUTE,
        }),
      );
      rows.push(
        await measure('cache', {
          name: `Zipf reads over ${threadCount}, memory + Redis`,
          server: tiered,
          next: zipfNext,
          route: THREAD_ROUTE,
          measureHitRate: true,
        }),
      );
      rows.push(
        await measure('cache', {
          name: `Zipf reads over ${threadCount}, memory only`,
          server: memory,
          next: zipfNext,
          route: THREAD_ROUTE,
          measureHitRate: true,
        }),
      );
      await redis.shutdownNoSave();
      rows.push(
        await measure('cache', {
          name: 'GET hit, memory + Redis, Redis down',
          server: tiered,
          path: hot,
          route: THREAD_ROUTE,
        }),
      );
      rows.push(
        await measure('cache', {
          name: `Zipf reads over ${threadCount}, Redis down`,
          server: tiered,
          next: zipfNext,
          route: THREAD_ROUTE,
          measureHitRate: true,
        }),
      );
      await redis.start();
      printTable('Cache tiers (same PostgreSQL)', rows);
      const byName = (prefix: string) =>
        rows.find((r) => r.scenario.startsWith(prefix))?.requestsPerSecond ?? 0;
      extra.redisDownVsMemoryOnly = {
        getHit:
          Math.round((byName('GET hit, memory + Redis, Redis down') / byName('GET hit, memory tier')) * 100) /
          100,
        zipf:
          Math.round(
            (byName(`Zipf reads over ${threadCount}, Redis down`) /
              byName(`Zipf reads over ${threadCount}, memory only`)) *
              100,
          ) / 100,
      };
      console.log(
        `\nThroughput with Redis down relative to memory-only: ${JSON.stringify(extra.redisDownVsMemoryOnly)}`,
      );
      all.push(...rows);
    }

    if (suites.has('metrics')) {
      // Not in the default set: `--suite metrics` (or `npm run bench:ops`) measures what metrics cost.
      const overhead = await metricsOverhead({
        databaseUrl,
        hotPath: `/api/v1/threads/${hotId}`,
        randomPath: () => `/api/v1/threads/${pick(ids)}`,
        durationSeconds: duration,
        rounds,
        connections,
      });
      printTable('Metrics on vs off (same PostgreSQL, alternating rounds)', overhead.rows);
      extra.metricsOverhead = overhead.pairs;
      for (const pair of overhead.pairs)
        console.log(`  ${pair.scenario}: ${pair.overheadPercent}% of throughput with metrics on`);
      all.push(...overhead.rows);
    }

    if (suites.has('scale') && redis) {
      console.log('\nscale suite: seeding 150,000 threads (100 users x 1,000 + one user with 50,000)');
      const scale = await scaleSuite({ postgres, redis, durationSeconds: duration, rounds, connections });
      // The ceiling of this run, measured again right after the suite.
      const ceiling = await measure('scale', bareScenario);
      printTable('Scale (PostgreSQL durable, Redis, JWT with a token per user, 150,000 threads)', [
        ceiling,
        ...(scale.rows as Row[]),
      ]);
      const mixOne =
        scale.rows.find((r) => r.scenario.startsWith('90/10 read/write mix'))?.requestsPerSecond ?? 0;
      const mixTwo =
        scale.rows.find((r) => r.scenario.startsWith('90/10 mix on two'))?.requestsPerSecond ?? 0;
      extra.twoInstancesVsOne = mixOne ? Math.round((mixTwo / mixOne) * 100) / 100 : null;
      extra.scaleRssMb = scale.rssMb;
      console.log(
        `\nTwo instances vs one (90/10 mix): ${extra.twoInstancesVsOne}; RSS: ${JSON.stringify(scale.rssMb)}`,
      );
      all.push(...(scale.rows as Row[]));
    }

    if (suites.has('outage')) {
      console.log(
        '\noutage suite: durable writes with PostgreSQL up, then crashed (journal), then the replay',
      );
      const outage = await outageSuite({ durationSeconds: duration, rounds, connections });
      printTable('Outage journal (PostgreSQL durable)', outage.rows as Row[]);
      extra.journalReplay = outage.replay;
      const [up, down] = outage.rows;
      if (up && down)
        extra.journalVsApplied = Math.round((down.requestsPerSecond / up.requestsPerSecond) * 100) / 100;
      console.log(
        `\nJournaled writes vs applied writes: ${extra.journalVsApplied}; replay: ${JSON.stringify(outage.replay)}`,
      );
      all.push(...(outage.rows as Row[]));
    }

    extra.rssMb = { memoryOnlyServer: await memory.rssMb() };
    console.log(`\nAPI server RSS after the run: ${JSON.stringify(extra.rssMb)}`);
    const outDir = resolve(import.meta.dirname, 'results');
    await mkdir(outDir, { recursive: true });
    const file = resolve(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      file,
      JSON.stringify(
        { date: new Date().toISOString(), duration, rounds, connections, threadCount, ...extra, rows: all },
        null,
        2,
      ),
    );
    console.log(`results written to ${file}`);
  } finally {
    for (const process of started.reverse()) await process.stop().catch(() => {});
  }
}

await main();
