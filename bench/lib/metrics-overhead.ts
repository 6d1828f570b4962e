/**
 * What metrics cost on the read path: the same GET against two servers on the same PostgreSQL, one with
 * METRICS_ENABLED=true and one with false, measured in alternating rounds (on/off, then off/on, …) so that a drift
 * of the machine during the run weighs on both alike. Two pairs: a cache hit (HTTP histogram only) and a read
 * that misses the cache (a tiny cache), which adds the database query histogram of every statement.
 */
import { startApiServer } from '../../test/support/server-process.ts';
import { type LoadResult, medianOf, runLoad } from './load.ts';

export interface OverheadRow extends LoadResult {
  suite: string;
  scenario: string;
  runs: number[];
}

export interface OverheadPair {
  scenario: string;
  withMetrics: number;
  withoutMetrics: number;
  /** Throughput lost to metrics, in percent of the throughput without them (negative: within noise). */
  overheadPercent: number;
  p99WithMs: number;
  p99WithoutMs: number;
}

export async function metricsOverhead(options: {
  databaseUrl: string;
  hotPath: string;
  randomPath: () => string;
  durationSeconds: number;
  rounds: number;
  connections: number;
}): Promise<{ rows: OverheadRow[]; pairs: OverheadPair[] }> {
  const base = { DATABASE_URL: options.databaseUrl, DB_POOL_SIZE: '20' };
  const servers = await Promise.all([
    startApiServer({ ...base, METRICS_ENABLED: 'true' }),
    startApiServer({ ...base, METRICS_ENABLED: 'false' }),
    startApiServer({ ...base, METRICS_ENABLED: 'true', CACHE_MAX_SIZE: '10' }),
    startApiServer({ ...base, METRICS_ENABLED: 'false', CACHE_MAX_SIZE: '10' }),
  ]);
  const [hitOn, hitOff, missOn, missOff] = servers;
  try {
    const rows: OverheadRow[] = [];
    const pairs: OverheadPair[] = [];
    for (const pair of [
      { scenario: 'GET one thread (cache hit)', on: hitOn!, off: hitOff!, path: () => options.hotPath },
      {
        scenario: 'GET a random thread (cache miss: database read)',
        on: missOn!,
        off: missOff!,
        path: options.randomPath,
      },
    ]) {
      const load = (url: string, seconds: number) =>
        runLoad({
          url,
          connections: options.connections,
          durationSeconds: seconds,
          next: () => ({ path: pair.path() }),
        });
      await load(pair.on.url, 2);
      await load(pair.off.url, 2);
      const on: LoadResult[] = [];
      const off: LoadResult[] = [];
      for (let round = 0; round < options.rounds; round++) {
        if (round % 2 === 0) {
          on.push(await load(pair.on.url, options.durationSeconds));
          off.push(await load(pair.off.url, options.durationSeconds));
        } else {
          off.push(await load(pair.off.url, options.durationSeconds));
          on.push(await load(pair.on.url, options.durationSeconds));
        }
      }
      // The rounds were run interleaved above; medianOf only picks the median round of each side.
      const withMetrics = await medianOf(on.length, async () => on.shift()!);
      const withoutMetrics = await medianOf(off.length, async () => off.shift()!);
      rows.push(
        { suite: 'metrics', scenario: `${pair.scenario}, metrics on`, ...withMetrics },
        { suite: 'metrics', scenario: `${pair.scenario}, metrics off`, ...withoutMetrics },
      );
      pairs.push({
        scenario: pair.scenario,
        withMetrics: withMetrics.requestsPerSecond,
        withoutMetrics: withoutMetrics.requestsPerSecond,
        overheadPercent:
          Math.round(
            ((withoutMetrics.requestsPerSecond - withMetrics.requestsPerSecond) /
              withoutMetrics.requestsPerSecond) *
              1000,
          ) / 10,
        p99WithMs: withMetrics.p99,
        p99WithoutMs: withoutMetrics.p99,
      });
    }
    return { rows, pairs };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
