/**
 * Background loops (mail sync, follow-up worker, cleanup) report a heartbeat on every tick; readiness shows each
 * loop's last tick, and a loop that stopped ticking is `stalled`, which makes the service `degraded`: it still
 * serves the API, but work that should happen by itself does not.
 *
 * A loop is stalled once it has not ticked for `staleAfterMs` (default: three intervals), counted from its last tick
 * or, before the first one, from its registration. A loop that ticks but whose runs keep failing is `failing`.
 * A loop stopped on purpose (an account disconnected, shutdown) unregisters and is no longer reported.
 */
import { type Clock, systemClock } from '../ports/clock.ts';
import type { ReadinessCheck } from './health-service.ts';

export type LoopState = 'starting' | 'ok' | 'failing' | 'stalled';

export interface LoopOptions {
  /** How often the loop means to tick. */
  intervalMs: number;
  /** Silence after which the loop counts as stalled (default 3 × intervalMs). */
  staleAfterMs?: number;
}

export interface LoopStatus {
  name: string;
  status: LoopState;
  intervalSeconds: number;
  lastTickAt: string | null;
  lastTickAgeSeconds: number | null;
  ticks: number;
  consecutiveFailures: number;
  lastError?: string;
}

export interface LoopHandle {
  /** One pass of the loop ended; `error` when it failed (the loop itself is alive). */
  tick(outcome?: { error?: unknown }): void;
  /** The loop ended on purpose: stop reporting it. */
  stop(): void;
}

interface LoopEntry {
  options: Required<LoopOptions>;
  registeredAt: number;
  lastTickAt: number | null;
  ticks: number;
  consecutiveFailures: number;
  lastError: string | undefined;
}

export class LoopRegistry {
  readonly #clock: Clock;
  readonly #loops = new Map<string, LoopEntry>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Registers a loop under a unique name (`sync:<account>`, `followups`); registering a name again replaces it. */
  register(name: string, options: LoopOptions): LoopHandle {
    const entry: LoopEntry = {
      options: {
        intervalMs: options.intervalMs,
        staleAfterMs: options.staleAfterMs ?? 3 * options.intervalMs,
      },
      registeredAt: this.#now(),
      lastTickAt: null,
      ticks: 0,
      consecutiveFailures: 0,
      lastError: undefined,
    };
    this.#loops.set(name, entry);
    return {
      tick: (outcome = {}) => {
        entry.lastTickAt = this.#now();
        entry.ticks++;
        if (outcome.error === undefined) {
          entry.consecutiveFailures = 0;
          entry.lastError = undefined;
        } else {
          entry.consecutiveFailures++;
          entry.lastError =
            outcome.error instanceof Error ? outcome.error.message : String(outcome.error).slice(0, 500);
        }
      },
      stop: () => {
        if (this.#loops.get(name) === entry) this.#loops.delete(name);
      },
    };
  }

  snapshot(): LoopStatus[] {
    const now = this.#now();
    return [...this.#loops.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, entry]) => {
        const silentForMs = now - (entry.lastTickAt ?? entry.registeredAt);
        const status: LoopState =
          silentForMs > entry.options.staleAfterMs
            ? 'stalled'
            : entry.lastTickAt === null
              ? 'starting'
              : entry.consecutiveFailures > 0
                ? 'failing'
                : 'ok';
        return {
          name,
          status,
          intervalSeconds: entry.options.intervalMs / 1000,
          lastTickAt: entry.lastTickAt === null ? null : new Date(entry.lastTickAt).toISOString(),
          lastTickAgeSeconds:
            entry.lastTickAt === null ? null : Math.round((now - entry.lastTickAt) / 100) / 10,
          ticks: entry.ticks,
          consecutiveFailures: entry.consecutiveFailures,
          ...(entry.lastError === undefined ? {} : { lastError: entry.lastError }),
        };
      });
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

/**
 * Readiness of the background loops: `ok` when every loop ticks on time (or none is registered), `degraded` when
 * one is stalled or failing. Never critical: the API serves without them.
 */
export function backgroundCheck(loops: LoopRegistry): ReadinessCheck {
  return {
    name: 'background',
    critical: false,
    run: async () => {
      const snapshot = loops.snapshot();
      const unwell = snapshot.some((loop) => loop.status === 'stalled' || loop.status === 'failing');
      return {
        status: unwell ? 'degraded' : 'ok',
        loops: Object.fromEntries(snapshot.map(({ name, ...status }) => [name, status])),
      };
    },
  };
}
