/**
 * The Store port with failure handling around every call, for PostgreSQL:
 * - a circuit breaker: it opens after repeated failures, at once on a timeout or a lost server, or when the
 *   heartbeat (SELECT 1 on a connection of its own, every 250 ms, 500 ms deadline) goes unanswered — which is how a
 *   frozen server is noticed long before the 5 s statement timeout;
 * - calls in flight when the breaker opens are abandoned at that moment (they fail with DB_UNAVAILABLE), so a frozen
 *   server never holds a request longer than the detection time; calls made while it is open fail at once;
 * - transient errors (lost connection, serialization failure, admin shutdown, timeout) are retried up to
 *   `retryAttempts` times with jittered exponential backoff, but only calls that are safe to repeat: reads, and
 *   writes that carry an operation id (the unique index on events makes a repeated write fail as ALREADY_APPLIED
 *   instead of applying twice).
 */
import { AppError } from '../domain/errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { PoolStats, Store, StoreScope, WriteMeta } from '../ports/store.ts';
import { type BreakerState, CircuitBreaker } from '../resilience/circuit-breaker.ts';
import { isTransient } from './parse-postgres-error.ts';

export interface ResilienceOptions {
  retryAttempts: number;
  /** Heartbeat: one cheap statement on a connection of its own; rejects when the server does not answer. */
  heartbeat: (timeoutMs: number) => Promise<void>;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  baseBackoffMs?: number;
  /** Runs once the database answers again, before callers are let through (e.g. pending migrations). */
  beforeRecover?: () => Promise<void>;
  onStateChange?: (state: BreakerState, previous: BreakerState) => void;
  logger?: Logger;
}

const unavailable = () => new AppError('DB_UNAVAILABLE', 'The database is unavailable', { retryAfter: 2 });

/** Methods whose last argument may be a WriteMeta with an operation id; everything else here is a read. */
const WRITES = new Set([
  'insert',
  'upsertMany',
  'update',
  'purge',
  'claim',
  'complete',
  'purgeExpired',
  'delete',
]);

export class ResilientStore implements Store {
  readonly threads: StoreScope['threads'];
  readonly leads: StoreScope['leads'];
  readonly idempotency: StoreScope['idempotency'];
  readonly breaker: CircuitBreaker;
  readonly #inner: Store;
  readonly #options: ResilienceOptions;
  readonly #heartbeat: NodeJS.Timeout;
  /**
   * The calls in flight, each able to be abandoned when the breaker opens. A Set, not a race against one long-lived
   * promise: every race would leave a reaction on it holding the call's result until the breaker next opened.
   */
  readonly #inFlight = new Set<(error: Error) => void>();
  #failures = { retried: 0, abandoned: 0 };

  constructor(inner: Store, options: ResilienceOptions) {
    this.#inner = inner;
    this.#options = options;
    this.breaker = new CircuitBreaker({
      name: 'database',
      failureThreshold: 3,
      minCooldownMs: 250,
      maxCooldownMs: 2_000,
      probe: async () => {
        try {
          await options.heartbeat(1_000);
        } catch (error) {
          options.logger?.debug({ err: error }, 'database still unavailable');
          throw error;
        }
      },
      ...(options.beforeRecover ? { beforeClose: options.beforeRecover } : {}),
      onStateChange: (state, previous) => {
        if (state === 'open' && previous === 'closed') this.#abandonInFlight();
        options.onStateChange?.(state, previous);
      },
    });
    this.threads = this.#guard(inner.threads, 'threads');
    this.leads = this.#guard(inner.leads, 'leads');
    this.idempotency = this.#guard(inner.idempotency, 'idempotency');
    this.#heartbeat = setInterval(() => void this.#beat(), options.heartbeatIntervalMs ?? 250);
    this.#heartbeat.unref();
  }

  get available(): boolean {
    return this.breaker.allow();
  }

  get counters(): { retried: number; abandoned: number } {
    return { ...this.#failures };
  }

  transaction<T>(fn: (scope: StoreScope) => Promise<T>): Promise<T> {
    // Everything a transaction does either commits together or not at all, so the whole of it may be repeated.
    return this.#call(() => this.#inner.transaction(fn), true);
  }

  ping(): Promise<number> {
    return this.#call(() => this.#inner.ping(), true);
  }

  poolStats(): PoolStats {
    return this.#inner.poolStats();
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.breaker.close();
    await this.#inner.close();
  }

  // ---------------------------------------------------------------------------------------------------------

  #guard<T extends object>(repository: T, _name: string): T {
    const wrapped: Record<string, unknown> = {};
    let proto: object | null = repository;
    const seen = new Set<string>();
    while (proto && proto !== Object.prototype) {
      for (const key of Object.getOwnPropertyNames(proto)) {
        const value = (repository as Record<string, unknown>)[key];
        if (key === 'constructor' || seen.has(key) || typeof value !== 'function') continue;
        seen.add(key);
        wrapped[key] = (...args: unknown[]) => {
          const meta = args.at(-1) as WriteMeta | undefined;
          const retryable = !WRITES.has(key) || (typeof meta === 'object' && meta !== null && 'opId' in meta);
          return this.#call(
            () => (value as (...a: unknown[]) => Promise<unknown>).apply(repository, args),
            retryable,
          );
        };
      }
      proto = Object.getPrototypeOf(proto);
    }
    return wrapped as T;
  }

  async #call<T>(fn: () => Promise<T>, retryable: boolean): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (!this.breaker.allow()) throw unavailable();
      try {
        const result = await this.#abandonable(fn());
        this.breaker.success();
        return result;
      } catch (error) {
        if (error instanceof AppError && error.code === 'DB_UNAVAILABLE' && !this.breaker.allow()) {
          this.#failures.abandoned++;
          throw error;
        }
        if (!isTransient(error) && !(error instanceof AppError && error.code === 'DB_TIMEOUT')) throw error;
        // A timeout or a lost server is not something to try three times before believing.
        if (error instanceof AppError && (error.code === 'DB_TIMEOUT' || isConnectionLoss(error)))
          this.breaker.trip();
        else this.breaker.failure();
        if (!retryable || attempt >= this.#options.retryAttempts || !this.breaker.allow()) {
          throw error instanceof AppError ? error : unavailable();
        }
        this.#failures.retried++;
        const base = this.#options.baseBackoffMs ?? 25;
        await new Promise((r) => setTimeout(r, base * 2 ** attempt * (0.5 + Math.random())));
      }
    }
  }

  async #beat(): Promise<void> {
    if (!this.breaker.allow()) return;
    try {
      await this.#options.heartbeat(this.#options.heartbeatTimeoutMs ?? 500);
    } catch (error) {
      if (this.breaker.allow()) {
        this.#options.logger?.warn(
          { err: error },
          'database heartbeat failed: treating the database as unavailable',
        );
        this.breaker.trip();
      }
    }
  }

  /** The call's outcome, or DB_UNAVAILABLE at once if the breaker opens first. */
  #abandonable<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#inFlight.add(reject);
      work.then(
        (value) => {
          this.#inFlight.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.#inFlight.delete(reject);
          reject(error);
        },
      );
    });
  }

  #abandonInFlight(): void {
    const error = unavailable();
    for (const reject of this.#inFlight) reject(error);
    this.#inFlight.clear();
  }
}

function isConnectionLoss(error: AppError): boolean {
  const code = (error.cause as { code?: string } | undefined)?.code;
  return code !== undefined && /^(ECONN|EPIPE|EHOST|CONNECT|CONNECTION|08|57P0)/.test(code);
}
