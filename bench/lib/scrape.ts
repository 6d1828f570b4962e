/** Reads the server's own figures: request-duration histogram buckets from /metrics, cache counters from /ready. */
import { quantileFromBuckets } from '../../src/metrics/metrics.ts';

export interface HistogramSnapshot {
  buckets: Map<number, number>;
}

/** Buckets of thread_tracker_http_request_duration_seconds for one route template, summed over status codes. */
export async function scrapeRoute(baseUrl: string, route: string): Promise<HistogramSnapshot> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const buckets = new Map<number, number>();
  const prefix = 'thread_tracker_http_request_duration_seconds_bucket{';
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix) || !line.includes(`route="${route}"`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!le) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  return { buckets };
}

/** p50 / p99 (ms, as bucket upper bounds) of the requests between two snapshots. */
export function serverQuantiles(
  before: HistogramSnapshot,
  after: HistogramSnapshot,
): { p50: number | null; p99: number | null; count: number } {
  const bounds = [...after.buckets.keys()].sort((a, b) => a - b);
  const deltas = bounds.map((le) => ({
    le: le * 1000,
    count: (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0),
  }));
  return {
    p50: quantileFromBuckets(deltas, 0.5),
    p99: quantileFromBuckets(deltas, 0.99),
    count: deltas.at(-1)?.count ?? 0,
  };
}

export interface CacheCounters {
  hits: number;
  misses: number;
}

export async function scrapeCache(baseUrl: string): Promise<CacheCounters> {
  const ready = (await (await fetch(`${baseUrl}/ready`)).json()) as {
    checks: { cache: { hits: number; misses: number } };
  };
  return { hits: ready.checks.cache.hits, misses: ready.checks.cache.misses };
}

export function hitRate(before: CacheCounters, after: CacheCounters): number | null {
  const hits = after.hits - before.hits;
  const lookups = hits + after.misses - before.misses;
  return lookups === 0 ? null : Math.round((hits / lookups) * 10_000) / 10_000;
}
