/** Runs autocannon and reduces its result to the figures the benchmark table shows. */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  connections?: number;
  durationSeconds: number;
  method?: string;
  headers?: Record<string, string>;
  /** Picks each request's path (and method/body); called per request. */
  next?: () => { path: string; method?: string; body?: string; headers?: Record<string, string> };
}

export interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  total: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const next = options.next;
  const result = await autocannon({
    url: options.url,
    connections: options.connections ?? 100,
    duration: options.durationSeconds,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(next
      ? {
          requests: [
            {
              setupRequest: (request: Record<string, unknown>) => {
                const n = next();
                request.path = n.path;
                request.method = n.method ?? 'GET';
                if (n.body !== undefined) request.body = n.body;
                else delete request.body;
                request.headers = {
                  ...(request.headers as object),
                  ...(options.headers ?? {}),
                  ...(n.headers ?? {}),
                };
                return request;
              },
            },
          ],
        }
      : {}),
  } as autocannon.Options);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs a scenario `rounds` times and keeps the run with the median throughput (its latencies go with it). */
export async function medianOf(
  rounds: number,
  run: () => Promise<LoadResult>,
): Promise<LoadResult & { runs: number[] }> {
  const results: LoadResult[] = [];
  for (let i = 0; i < rounds; i++) results.push(await run());
  const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  return {
    ...mid,
    errors: results.reduce((n, r) => n + r.errors, 0),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    runs: results.map((r) => r.requestsPerSecond),
  };
}
