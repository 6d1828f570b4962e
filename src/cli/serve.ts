/** `thread-tracker serve`: the only place that listens. Shuts down cleanly on SIGINT/SIGTERM. */
import { type Config, loadConfig } from '../config.ts';
import { createContainer } from '../container.ts';

export async function serve(config: Readonly<Config> = loadConfig()): Promise<void> {
  const container = await createContainer(config);
  const { logger } = container;
  const app = await container.buildHttpApp();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    await app.close();
    // Requests in flight have been answered; keep-alive connections that clients left open would otherwise hold
    // the process until their idle timeout.
    app.server.closeAllConnections();
    await container.close();
    logger.info('stopped');
    // Everything is closed in order; exit now rather than wait on a handle a library left open (after heavy load,
    // postgres.js can keep idle sockets of an ended pool until their idle timeout).
    logger.flush(() => process.exit(0));
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  try {
    const address = await app.listen({ host: config.HOST, port: config.PORT });
    logger.info(
      {
        address,
        auth: container.authenticator.mode,
        database: config.database.engine,
        dataDir: config.dataDir,
      },
      `thread-tracker listening on ${address}`,
    );
    // After listening: warming runs in the background and never delays readiness.
    void container.warmer.warm();
    // Mail sync in the background: every MAIL_SYNC_INTERVAL_S, paused while the database is unavailable.
    container.mail.runner.start();
    container.cleanup.schedule(config.CLEANUP_INTERVAL_S * 1000);
    // Follow-ups every FOLLOWUP_POLL_INTERVAL_MS (FOLLOWUP_WORKER=false leaves them to `thread-tracker worker`).
    if (config.FOLLOWUP_WORKER) container.followups.worker.start();
  } catch (error) {
    await app.close();
    await container.close();
    throw error;
  }
}
