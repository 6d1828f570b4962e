/**
 * Liveness and readiness. Liveness never touches a dependency (it must answer whatever the database does);
 * readiness checks each dependency with its own short deadline and reports a status per component:
 * `ok`, `degraded` (serving, with a reduced capability) or `down` (cannot serve).
 */
import type { Cache } from '../ports/cache.ts';
import type { Store } from '../ports/store.ts';

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

export function databaseCheck(store: Store): ReadinessCheck {
  return {
    name: 'database',
    critical: true,
    run: async () => ({ status: 'ok', latencyMs: round(await store.ping()), pool: store.poolStats() }),
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
