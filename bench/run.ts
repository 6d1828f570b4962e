/**
 * `npm run bench`: starts PostgreSQL (durable: fsync and synchronous_commit on), the API server and a bare
 * node:http ceiling, seeds 10,000 threads for one user, and measures with autocannon (100 connections). Each
 * scenario runs `--rounds` times (default 3) after a warm-up; the table shows the run with the median throughput.
 * Options: --duration <s> (default 10), --rounds <n>, --only <scenario,...>, --threads <n>.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from '../test/harness/postgres.ts';
import { startApiServer, startBareServer } from '../test/support/server-process.ts';
import { type LoadResult, medianOf, runLoad } from './lib/load.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    threads: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '100' },
  },
});
const duration = Number(args.duration);
const rounds = Number(args.rounds);
const threadCount = Number(args.threads);
const connections = Number(args.connections);
const only = args.only ? new Set(args.only.split(',')) : undefined;

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const threadIdOf = (i: number) => `bench${String(i).padStart(6, '0')}`;

async function seed(url: string, count: number): Promise<void> {
  const started = Date.now();
  for (let offset = 0; offset < count; offset += 100) {
    const threads = Array.from({ length: Math.min(100, count - offset) }, (_, j) => {
      const i = offset + j;
      return {
        threadId: threadIdOf(i),
        subject: `Application for role ${i} at Company ${i % 97}`,
        participants: [`me@example.com`, `recruiter${i % 500}@company${i % 97}.com`],
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

interface Row extends LoadResult {
  scenario: string;
  runs: number[];
  vsBare?: number;
}

async function main() {
  console.log(
    `thread-tracker benchmark: ${duration}s x ${rounds} rounds per scenario, ${connections} connections`,
  );
  const postgres = await startPostgres({ durable: true });
  const api = await startApiServer({ DATABASE_URL: postgres.url, DB_POOL_SIZE: '20' });
  const rows: Row[] = [];
  try {
    await seed(api.url, threadCount);
    const hotId = threadIdOf(42);
    const sample = await (await fetch(`${api.url}/api/v1/threads/${hotId}`)).text();
    const bare = await startBareServer(sample);
    const cursors = await listCursors(api.url, 200);
    const ids = Array.from({ length: threadCount }, (_, i) => threadIdOf(i));
    let flip = 0;

    const scenarios: { name: string; url: string; next?: () => { path: string; method?: string } }[] = [
      { name: 'bare node:http (ceiling)', url: `${bare.url}/thread` },
      { name: 'GET one thread (cache hit)', url: `${api.url}/api/v1/threads/${hotId}` },
      {
        name: 'GET random thread of 10k',
        url: api.url,
        next: () => ({ path: `/api/v1/threads/${pick(ids)}` }),
      },
      {
        name: 'list page of 50 (keyset)',
        url: api.url,
        next: () => {
          const cursor = pick(cursors);
          return { path: `/api/v1/threads?limit=50${cursor ? `&cursor=${cursor}` : ''}` };
        },
      },
      {
        name: 'hide/unhide (write)',
        url: api.url,
        next: () => ({
          path: `/api/v1/threads/${pick(ids)}/${flip++ % 2 ? 'hide' : 'unhide'}`,
          method: 'POST',
        }),
      },
    ];
    for (const scenario of scenarios) {
      if (only && !only.has(scenario.name) && !scenario.name.startsWith('bare')) continue;
      // Warm-up: JIT, connection pools, caches.
      await runLoad({
        url: scenario.url,
        connections,
        durationSeconds: 2,
        ...(scenario.next ? { next: scenario.next } : {}),
      });
      const result = await medianOf(rounds, () =>
        runLoad({
          url: scenario.url,
          connections,
          durationSeconds: duration,
          ...(scenario.next ? { next: scenario.next } : {}),
        }),
      );
      rows.push({ scenario: scenario.name, ...result });
      console.log(`  ${scenario.name}: ${result.requestsPerSecond} req/s (runs ${result.runs.join(', ')})`);
    }
    const ceiling = rows.find((r) => r.scenario.startsWith('bare'))?.requestsPerSecond;
    for (const row of rows)
      if (ceiling) row.vsBare = Math.round((row.requestsPerSecond / ceiling) * 100) / 100;
    const rss = await api.rssMb();
    await bare.stop();

    console.log('');
    console.log('| scenario | req/s | p50 ms | p99 ms | max ms | errors | non-2xx | vs bare |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      console.log(
        `| ${r.scenario} | ${r.requestsPerSecond} | ${r.p50} | ${r.p99} | ${r.max} | ${r.errors} | ${r.non2xx} | ${r.vsBare ?? ''} |`,
      );
    }
    console.log(`\nAPI server RSS after the run: ${rss} MB`);
    const outDir = resolve(import.meta.dirname, 'results');
    await mkdir(outDir, { recursive: true });
    const file = resolve(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      file,
      JSON.stringify(
        { date: new Date().toISOString(), duration, rounds, connections, threadCount, rssMb: rss, rows },
        null,
        2,
      ),
    );
    console.log(`results written to ${file}`);
  } finally {
    await api.stop();
    await postgres.stop();
  }
}

await main();
