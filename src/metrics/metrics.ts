/**
 * Prometheus metrics (prom-client), one registry per process. Hot-path metrics are plain counters and histograms
 * updated in O(1); everything derived from other components (cache tiers, pool, breakers) is read when scraped,
 * so it costs nothing between scrapes.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Fine buckets below a millisecond (cache hits are measured in tens of microseconds), and around 20 ms (the target
 * for list pages).
 */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
  2.5, 5,
];

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  httpErrors: Counter<'route' | 'code'>;
  dbQueryDuration: Histogram<'query' | 'outcome'>;
  /** Registers a gauge whose value is computed at scrape time. */
  gauge(
    name: string,
    help: string,
    labelNames: string[],
    collect: (set: (labels: Record<string, string>, value: number) => void) => void | Promise<void>,
  ): void;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'thread_tracker_' });
  const httpDuration = new Histogram({
    name: 'thread_tracker_http_request_duration_seconds',
    help: 'HTTP request duration measured in the server, by route and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const httpErrors = new Counter({
    name: 'thread_tracker_http_errors_total',
    help: 'Requests answered with an error, by route and stable error code',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  const dbQueryDuration = new Histogram({
    name: 'thread_tracker_db_query_duration_seconds',
    help: 'Database statement duration by query name',
    labelNames: ['query', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    httpDuration,
    httpErrors,
    dbQueryDuration,
    gauge(name, help, labelNames, collect) {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          this.reset();
          await collect((labels, value) => this.set(labels, value));
        },
      });
    },
  };
}

/** Quantile estimate from histogram buckets (upper bound of the bucket the quantile falls in). */
export function quantileFromBuckets(buckets: { le: number; count: number }[], q: number): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  for (const bucket of buckets) if (bucket.count >= rank) return bucket.le;
  return Number.POSITIVE_INFINITY;
}
