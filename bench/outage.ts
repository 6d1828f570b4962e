/**
 * The outage suite: the cost of the journal path. The same durable writes (hide/unhide of random threads) are
 * measured with PostgreSQL up (applied, 200) and crashed (queued in the outage journal with an fsync, 202), side by
 * side, then the time the journal takes to replay once PostgreSQL is back.
 */
import { startPostgres } from '../test/harness/postgres.ts';
import { startApiServer } from '../test/support/server-process.ts';
import { type LoadResult, medianOf, runLoad } from './lib/load.ts';

export interface OutageRow extends LoadResult {
  suite: 'outage';
  scenario: string;
  runs: number[];
}

export async function outageSuite(options: { durationSeconds: number; rounds: number; connections: number }) {
  const postgres = await startPostgres({ durable: true });
  const api = await startApiServer({ DATABASE_URL: postgres.url });
  try {
    const ids = Array.from({ length: 2_000 }, (_, i) => `o${i}`);
    for (let i = 0; i < ids.length; i += 100) {
      await fetch(`${api.url}/api/v1/threads/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ threads: ids.slice(i, i + 100).map((threadId) => ({ threadId })) }),
      });
    }
    let flip = 0;
    const next = () => ({
      path: `/api/v1/threads/${ids[Math.floor(Math.random() * ids.length)]}/${flip++ % 2 ? 'hide' : 'unhide'}`,
      method: 'POST',
    });
    const load = () =>
      runLoad({
        url: api.url,
        connections: options.connections,
        durationSeconds: options.durationSeconds,
        next,
      });
    await runLoad({ url: api.url, connections: options.connections, durationSeconds: 2, next });
    const rows: OutageRow[] = [];
    rows.push({
      suite: 'outage',
      scenario: 'writes, database up (applied)',
      ...(await medianOf(options.rounds, load)),
    });
    await postgres.stopImmediate();
    await new Promise((r) => setTimeout(r, 1_500));
    rows.push({
      suite: 'outage',
      scenario: 'writes, database down (journaled, 202)',
      ...(await medianOf(options.rounds, load)),
    });
    // Every write of the three rounds and the warm-up is queued, not only the median round's.
    const before = (await (await fetch(`${api.url}/ready`)).json()) as {
      checks: { database: { journal?: { depth: number } } };
    };
    const queued = before.checks.database.journal?.depth ?? 0;
    const restarted = Date.now();
    await postgres.start();
    let convergedMs = -1;
    let lastProgress = Date.now();
    while (Date.now() - restarted < 300_000) {
      const ready = (await (await fetch(`${api.url}/ready`)).json()) as {
        checks: { database: { status: string; journal?: { depth: number } } };
      };
      const depth = ready.checks.database.journal?.depth ?? 0;
      if (Date.now() - lastProgress >= 5_000) {
        lastProgress = Date.now();
        console.log(
          `  replay: ${depth} left after ${((Date.now() - restarted) / 1000).toFixed(0)} s (${ready.checks.database.status})`,
        );
      }
      if (ready.checks.database.status === 'ok' && depth === 0) {
        convergedMs = Date.now() - restarted;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`  journal: ${queued} queued writes replayed ${convergedMs} ms after PostgreSQL came back`);
    return {
      rows,
      replay: {
        queued,
        convergedMs,
        perSecond: convergedMs > 0 ? Math.round(queued / (convergedMs / 1000)) : null,
      },
    };
  } finally {
    await api.stop();
    await postgres.stop();
  }
}
