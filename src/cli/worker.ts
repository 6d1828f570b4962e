/**
 * `thread-tracker worker [--once]`: the follow-up worker in a process of its own, beside `serve` or instead of the
 * one inside it (FOLLOWUP_WORKER=false). Any number of workers can share one PostgreSQL database: jobs are claimed
 * with FOR UPDATE SKIP LOCKED under a lease. Each process needs its own DATA_DIR (it keeps local state there) and
 * the same TOKEN_ENCRYPTION_KEY as `serve` (to open the mail accounts' credentials). With the embedded database the
 * data directory belongs to one process: run the worker inside `serve` instead.
 * SIGINT/SIGTERM: no new claims; the follow-ups in hand finish, the others are released at once. `--once`: one
 * pass over everything due, then exit.
 */
import { loadConfig } from '../config.ts';
import { createContainer } from '../container.ts';

export async function worker(options: { once?: boolean }): Promise<void> {
  const config = loadConfig();
  const container = await createContainer(config);
  const { logger } = container;
  const followups = container.followups.worker;
  if (options.once) {
    try {
      const result = await followups.tick();
      logger.info({ ...result }, 'follow-up pass done');
      console.log(JSON.stringify(result));
    } finally {
      await container.close();
    }
    return;
  }
  // The worker's timers do not hold the process open; this does, until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'follow-up worker stopping');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    await container.close();
    clearInterval(keepAlive);
    logger.info('follow-up worker stopped');
    logger.flush();
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  followups.start();
  logger.info(
    {
      worker: followups.owner,
      database: config.database.engine,
      intervalMs: config.FOLLOWUP_POLL_INTERVAL_MS,
    },
    'follow-up worker started',
  );
}
