/**
 * Runs of background work (a sync pass, a follow-up send, a cleanup) as operators see them: every log line of a run
 * carries `job` and a `runId` (the correlation id, as `reqId` is for a request), slow-query lines written while the
 * run is in progress carry them too, and each run's outcome and duration reach the metrics.
 *
 * The sync runner and the follow-up worker receive a `Jobs` from the container:
 *
 *   const loop = jobs.loops.register(`sync:${account.id}`, { intervalMs: 60_000 });
 *   await jobs.run('sync', { account: account.id }, async ({ log }) => { ... }, { loop });
 *   jobs.metrics.syncedUpTo(account.id, historyDate);
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../ports/clock.ts';
import { type JobMetrics, noopJobMetrics } from '../ports/job-metrics.ts';
import type { Logger } from '../ports/logger.ts';
import { type LoopHandle, LoopRegistry } from './job-loops.ts';

export interface JobLogger {
  runId: string;
  log: Logger;
}

/** A child logger for one run of a job: every line carries `job` and a fresh `runId` (plus `bindings`). */
export function withJobLogger(
  logger: Logger,
  kind: string,
  bindings: Record<string, unknown> = {},
): JobLogger {
  const runId = randomUUID();
  return { runId, log: logger.child({ ...bindings, job: kind, runId }) };
}

const context = new AsyncLocalStorage<Logger>();

/** The logger of the job run in progress on this async path, if any (the query observer logs through it). */
export function currentJobLogger(): Logger | undefined {
  return context.getStore();
}

export class Jobs {
  readonly loops: LoopRegistry;
  readonly metrics: JobMetrics;
  readonly #logger: Logger;

  constructor(deps: { logger: Logger; metrics?: JobMetrics; loops?: LoopRegistry; clock?: Clock }) {
    this.#logger = deps.logger;
    this.metrics = deps.metrics ?? noopJobMetrics;
    this.loops = deps.loops ?? new LoopRegistry(deps.clock ?? systemClock);
  }

  /**
   * Runs `work` as one run of `kind`: logs its start (debug) and end (info, or error with the cause), records its
   * outcome and duration, ticks `loop` when given, and returns or rethrows what `work` does.
   */
  async run<T>(
    kind: string,
    bindings: Record<string, unknown>,
    work: (run: JobLogger) => Promise<T>,
    options: { loop?: LoopHandle } = {},
  ): Promise<T> {
    const run = withJobLogger(this.#logger, kind, bindings);
    const started = performance.now();
    const elapsedMs = () => Math.round((performance.now() - started) * 10) / 10;
    run.log.debug('job started');
    try {
      const result = await context.run(run.log, () => work(run));
      const durationMs = elapsedMs();
      this.metrics.runFinished(kind, 'success', durationMs / 1000);
      options.loop?.tick();
      run.log.info({ durationMs }, 'job finished');
      return result;
    } catch (error) {
      const durationMs = elapsedMs();
      this.metrics.runFinished(kind, 'failure', durationMs / 1000);
      options.loop?.tick({ error });
      run.log.error({ err: error, durationMs }, 'job failed');
      throw error;
    }
  }
}
