/**
 * The automated cleanup: scheduled inside `serve` (every CLEANUP_INTERVAL_S), or once by `thread-tracker cleanup`.
 * Each run is recorded in maintenance_runs with what every step did. Steps:
 * - orphaned threads: threads whose mailbox thread no longer exists are marked deleted, through the service like
 *   any delete (event, cache, live feed); skipped when no mail account is configured;
 * - deleted threads: threads deleted more than CLEANUP_PURGE_DELETED_AFTER_DAYS ago are removed, each with a
 *   `purged` event; their cached copies are replaced by tombstones;
 * - expired idempotency keys (older than their 24 h lifetime);
 * - old history: thread events older than EVENT_RETENTION_DAYS (off by default).
 * A step that fails is recorded and the others still run. Runs never overlap, across instances too (the store
 * serializes claims), and a scheduled run is skipped when another instance ran within the interval. While the
 * database is unavailable nothing runs.
 */
import type { Cache } from '../ports/cache.ts';
import type { Clock } from '../ports/clock.ts';
import type { EventBus } from '../ports/event-bus.ts';
import type { Logger } from '../ports/logger.ts';
import type {
  MailThreadExistence,
  MaintenanceRun,
  MaintenanceStatus,
  MaintenanceStore,
  MaintenanceTrigger,
} from '../ports/maintenance.ts';
import type { IdempotencyRepository } from '../ports/store.ts';
import type { LoopHandle } from './job-loops.ts';
import type { Jobs } from './job-runs.ts';
import { generationKey, threadKey, versionOf } from './thread-cache.ts';

export const CLEANUP_KIND = 'cleanup';
const DAY_MS = 86_400_000;
const IDEMPOTENCY_TTL_MS = DAY_MS;
const PURGE_BATCH = 500;
const EVENT_BATCH = 5_000;
const ORPHAN_BATCH = 100;
/** A run still marked running after this long belongs to a process that stopped. */
const STALE_RUN_MS = 6 * 3_600_000;

export interface CleanupSettings {
  /** Deleted threads older than this are purged; null = never. */
  purgeDeletedAfterDays: number | null;
  /** Events older than this are removed; null = kept forever. */
  eventRetentionDays: number | null;
  cacheTtlSeconds: number;
}

export interface CleanupDeps {
  maintenance: MaintenanceStore;
  idempotency: IdempotencyRepository;
  /** Marks a thread deleted the way a user's delete does. */
  deleteThread: (userId: string, threadId: string) => Promise<unknown>;
  cache: Cache;
  events: EventBus;
  jobs: Jobs;
  clock: Clock;
  logger: Logger;
  settings: CleanupSettings;
  /** From mail sync, when a mail account is configured. */
  mailThreads?: MailThreadExistence | undefined;
  databaseAvailable?: () => boolean;
}

type StepResult = Record<string, unknown>;

export interface CleanupReport {
  run: MaintenanceRun;
  steps: Record<string, StepResult>;
}

/** A run that recorded failed steps: the job counts as failed, the caller still gets the report. */
class StepsFailed extends Error {
  constructor(readonly report: CleanupReport) {
    super(report.run.error ?? 'a cleanup step failed');
  }
}

export class CleanupService {
  readonly #deps: CleanupDeps;
  #stopping = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #loop: LoopHandle | undefined;

  constructor(deps: CleanupDeps) {
    this.#deps = deps;
  }

  /**
   * Runs every step once and records the run. Undefined when another run is in progress (or, for a scheduled run,
   * another instance ran since `notStartedSince`).
   */
  async runOnce(options: {
    trigger: MaintenanceTrigger;
    dryRun?: boolean;
    notStartedSince?: string;
  }): Promise<CleanupReport | undefined> {
    const { maintenance, jobs } = this.#deps;
    const dryRun = options.dryRun ?? false;
    const run = await maintenance.startRun({
      kind: CLEANUP_KIND,
      trigger: options.trigger,
      dryRun,
      staleAfterMs: STALE_RUN_MS,
      ...(options.notStartedSince === undefined ? {} : { notStartedSince: options.notStartedSince }),
    });
    if (!run) return undefined;
    try {
      return await jobs.run(
        CLEANUP_KIND,
        { maintenanceRunId: run.id, trigger: options.trigger, dryRun },
        async ({ log }) => {
          const steps: Record<string, StepResult> = {};
          const failures: string[] = [];
          const step = async (name: string, work: () => Promise<StepResult>) => {
            if (this.#stopping) {
              steps[name] = { skipped: 'shutting down' };
              return;
            }
            try {
              steps[name] = await work();
            } catch (error) {
              const message = (error as Error).message;
              steps[name] = { error: message };
              failures.push(`${name}: ${message}`);
              log.error({ err: error, step: name }, 'cleanup step failed');
            }
          };
          await step('orphanedThreads', () => this.#markOrphans(dryRun));
          await step('purgedThreads', () => this.#purgeDeleted(dryRun));
          await step('expiredIdempotencyKeys', () => this.#purgeIdempotencyKeys(dryRun));
          await step('prunedEvents', () => this.#pruneEvents(dryRun));
          const status: MaintenanceStatus = this.#stopping
            ? 'interrupted'
            : failures.length > 0
              ? 'failed'
              : 'succeeded';
          const error = failures.length > 0 ? failures.join('; ') : null;
          await maintenance.finishRun(run.id, { status, result: steps, ...(error ? { error } : {}) });
          log.info({ status, steps }, dryRun ? 'cleanup dry run finished' : 'cleanup finished');
          const report: CleanupReport = { run: { ...run, status, result: steps, error }, steps };
          if (error) throw new StepsFailed(report);
          return report;
        },
      );
    } catch (error) {
      if (error instanceof StepsFailed) return error.report;
      throw error;
    }
  }

  /**
   * Checks every minute (or every `intervalMs` if shorter) whether a run is due (none started within `intervalMs`,
   * by any instance) and runs it. Each check is the loop's heartbeat; a check that finds a run still going ticks too
   * (busy is alive: every statement of a run has a time limit, so a run cannot hang). Stopped by `stop()`.
   */
  schedule(intervalMs: number): void {
    if (this.#timer || intervalMs <= 0) return;
    const checkEveryMs = Math.min(intervalMs, 60_000);
    this.#loop = this.#deps.jobs.loops.register(CLEANUP_KIND, { intervalMs: checkEveryMs });
    const check = async () => {
      if (this.#stopping) return;
      try {
        if (this.#deps.databaseAvailable?.() ?? true) {
          const notStartedSince = new Date(this.#deps.clock.now().getTime() - intervalMs).toISOString();
          const report = await this.runOnce({ trigger: 'schedule', notStartedSince });
          if (report?.run.error) {
            this.#loop?.tick({ error: report.run.error });
            return;
          }
        }
        this.#loop?.tick();
      } catch (error) {
        this.#loop?.tick({ error });
        this.#deps.logger.error({ err: error }, 'scheduled cleanup failed');
      }
    };
    const tick = () => {
      if (this.#running) this.#loop?.tick();
      else
        this.#running = check().finally(() => {
          this.#running = undefined;
        });
    };
    this.#timer = setInterval(tick, checkEveryMs);
    this.#timer.unref();
    // The first check soon after start-up, once the server is serving.
    setTimeout(tick, Math.min(checkEveryMs, 5_000)).unref();
  }

  /** Stops the schedule; a run in progress finishes its current step and is recorded as interrupted. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#loop?.stop();
    await this.#running;
  }

  // -----------------------------------------------------------------------------------------------------------

  #before(days: number): string {
    return new Date(this.#deps.clock.now().getTime() - days * DAY_MS).toISOString();
  }

  async #markOrphans(dryRun: boolean): Promise<StepResult> {
    const { mailThreads, maintenance, jobs } = this.#deps;
    if (!mailThreads) return { skipped: 'no mail account is configured' };
    const users = await mailThreads.usersWithMailbox();
    if (users.length === 0) return { skipped: 'no mail account is configured' };
    let checked = 0;
    let marked = 0;
    const missing: string[] = [];
    for (const userId of users) {
      let after: string | undefined;
      for (;;) {
        if (this.#stopping) break;
        const ids = await maintenance.liveThreadIds(userId, after, ORPHAN_BATCH);
        if (ids.length === 0) break;
        checked += ids.length;
        after = ids.at(-1);
        for (const threadId of await mailThreads.missingThreads(userId, ids)) {
          if (!ids.includes(threadId)) continue;
          if (dryRun) missing.push(threadId);
          else {
            await this.#deps.deleteThread(userId, threadId);
            marked++;
          }
        }
        if (ids.length < ORPHAN_BATCH) break;
      }
    }
    jobs.metrics.items(CLEANUP_KIND, 'threads_orphaned', marked);
    return dryRun
      ? { users: users.length, checked, wouldMark: missing.length }
      : { users: users.length, checked, marked };
  }

  async #purgeDeleted(dryRun: boolean): Promise<StepResult> {
    const { settings, maintenance, cache, events, jobs } = this.#deps;
    if (settings.purgeDeletedAfterDays === null) return { skipped: 'CLEANUP_PURGE_DELETED_AFTER_DAYS=off' };
    const before = this.#before(settings.purgeDeletedAfterDays);
    if (dryRun) return { deletedBefore: before, wouldPurge: await maintenance.countDeletedBefore(before) };
    let purged = 0;
    while (!this.#stopping) {
      const batch = await maintenance.purgeDeletedBefore(before, PURGE_BATCH);
      purged += batch.length;
      // Tombstones one microsecond newer than the purged rows: no slow reader can put a row back in the cache.
      const users = new Set<string>();
      for (const thread of batch) {
        users.add(thread.userId);
        await this.#cacheWrite(() =>
          cache.setVersioned(
            threadKey(thread.userId, thread.threadId),
            null,
            versionOf(thread.updatedAt) + 1,
            settings.cacheTtlSeconds,
            { invalidate: true },
          ),
        );
      }
      for (const userId of users) await this.#cacheWrite(() => cache.incr(generationKey(userId)));
      events.publish(batch.map((thread) => thread.event));
      if (batch.length < PURGE_BATCH) break;
    }
    jobs.metrics.items(CLEANUP_KIND, 'threads_purged', purged);
    return { deletedBefore: before, purged };
  }

  async #purgeIdempotencyKeys(dryRun: boolean): Promise<StepResult> {
    const olderThan = new Date(this.#deps.clock.now().getTime() - IDEMPOTENCY_TTL_MS).toISOString();
    if (dryRun)
      return { olderThan, wouldRemove: await this.#deps.maintenance.countIdempotencyKeysBefore(olderThan) };
    const removed = await this.#deps.idempotency.purgeExpired(olderThan);
    this.#deps.jobs.metrics.items(CLEANUP_KIND, 'idempotency_keys_removed', removed);
    return { olderThan, removed };
  }

  async #pruneEvents(dryRun: boolean): Promise<StepResult> {
    const { settings, maintenance, jobs } = this.#deps;
    if (settings.eventRetentionDays === null) return { skipped: 'EVENT_RETENTION_DAYS=off' };
    const olderThan = this.#before(settings.eventRetentionDays);
    if (dryRun) return { olderThan, wouldRemove: await maintenance.countEventsBefore(olderThan) };
    let removed = 0;
    while (!this.#stopping) {
      const deleted = await maintenance.deleteEventsBefore(olderThan, EVENT_BATCH);
      removed += deleted;
      if (deleted < EVENT_BATCH) break;
    }
    jobs.metrics.items(CLEANUP_KIND, 'events_removed', removed);
    return { olderThan, removed };
  }

  async #cacheWrite(write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.#deps.logger.warn({ err: error }, 'cache update after a purge failed');
    }
  }
}
