/**
 * Liveness and readiness. Liveness never touches a dependency (it must answer whatever the database does);
 * readiness checks each dependency with its own short deadline and reports a status per component:
 * `ok`, `degraded` (serving, with a reduced capability) or `down` (cannot serve).
 */
import type { Cache } from '../ports/cache.ts';
import type { Store } from '../ports/store.ts';
import type { OutageQueue } from './outage-queue.ts';

export type ComponentStatus = 'ok' | 'degraded' | 'down';

export interface ReadyReport {
  status: 'ready' | 'degraded' | 'unavailable';
  checks: Record<string, { status: ComponentStatus } & Record<string, unknown>>;
}

export interface ReadinessCheck {
  name: string;
  /** Whether the service can still serve when this component is down. */
  critical: boolean;
  run(): Promise<{ status: ComponentStatus } & Record<string, unknown>>;
}

export class HealthService {
  readonly #checks: ReadinessCheck[];
  readonly #startedAt = Date.now();

  constructor(checks: ReadinessCheck[]) {
    this.#checks = checks;
  }

  addCheck(check: ReadinessCheck): void {
    this.#checks.push(check);
  }

  liveness(): { status: 'ok'; uptimeSeconds: number } {
    return { status: 'ok', uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000) };
  }

  async readiness(timeoutMs = 1000): Promise<ReadyReport> {
    const results = await Promise.all(
      this.#checks.map(async (check) => {
        try {
          return [check, await withDeadline(check.run(), timeoutMs)] as const;
        } catch (error) {
          return [check, { status: 'down' as const, error: (error as Error).message }] as const;
        }
      }),
    );
    let status: ReadyReport['status'] = 'ready';
    for (const [check, result] of results) {
      if (result.status === 'down' && check.critical) status = 'unavailable';
      else if (result.status !== 'ok' && status === 'ready') status = 'degraded';
    }
    return { status, checks: Object.fromEntries(results.map(([check, result]) => [check.name, result])) };
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * The database: `down` while it cannot be used (the breaker is open); `degraded` while writes accepted during an
 * outage are still waiting to be replayed; `ok` otherwise. Not critical when writes are queued during outages: the
 * service keeps serving (stale reads, queued writes), so an instance stays in rotation.
 */
export function databaseCheck(
  store: Store,
  options: { queue?: OutageQueue | undefined; critical?: boolean; databaseAvailable?: () => boolean } = {},
): ReadinessCheck {
  return {
    name: 'database',
    critical: options.critical ?? true,
    run: async () => {
      const journal = options.queue ? journalFigures(options.queue) : undefined;
      const breaker =
        'breaker' in store ? (store as { breaker: { state: string; openForMs: number } }).breaker : undefined;
      if (options.databaseAvailable && !options.databaseAvailable()) {
        return {
          status: 'down',
          ...(breaker
            ? { breaker: breaker.state, unavailableForSeconds: Math.round(breaker.openForMs / 1000) }
            : {}),
          pool: store.poolStats(),
          ...(journal ? { journal } : {}),
        };
      }
      const latencyMs = round(await store.ping());
      return {
        status: journal && journal.depth > 0 ? 'degraded' : 'ok',
        latencyMs,
        ...(breaker ? { breaker: breaker.state } : {}),
        pool: store.poolStats(),
        ...(journal ? { journal } : {}),
      };
    },
  };
}

function journalFigures(queue: OutageQueue) {
  const stats = queue.stats;
  return {
    ...stats,
    oldestQueuedAgeSeconds: stats.oldestAt
      ? Math.round((Date.now() - Date.parse(stats.oldestAt)) / 1000)
      : null,
  };
}

/**
 * Read replicas: `ok` while every replica takes reads, `degraded` while some are left out (failing or too far
 * behind: their reads go to the primary), with where reads went so far. Never critical: the primary serves all.
 */
export function replicasCheck(router: {
  status(): { name: string; inUse: boolean; behindMs: number | null }[];
  routed: { primary: number; replica: number };
}): ReadinessCheck {
  return {
    name: 'replicas',
    critical: false,
    run: async () => {
      const replicas = router.status();
      return {
        status: replicas.every((r) => r.inUse) ? 'ok' : 'degraded',
        replicas,
        readsRouted: router.routed,
      };
    },
  };
}

export function cacheCheck(cache: Cache): ReadinessCheck {
  return {
    name: 'cache',
    critical: false,
    run: async () => {
      const health = await cache.healthCheck();
      const stats = cache.stats();
      const lookups = stats.hits + stats.misses;
      return {
        status: health.healthy ? 'ok' : 'degraded',
        tier: health.tier,
        latencyMs: health.latencyMs === null ? null : round(health.latencyMs),
        hitRate: lookups === 0 ? null : round(stats.hits / lookups),
        ...stats,
        ...(health.detail ? { detail: health.detail } : {}),
      };
    },
  };
}

const round = (n: number) => Math.round(n * 1000) / 1000;
