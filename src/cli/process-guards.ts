/**
 * postgres.js rejects some of its own internal promises, which no caller can handle, when a pool is torn down
 * while a connection is still being set up (e.g. replacing a wedged pool after an outage): that must not crash the
 * service. Only those connection-teardown errors are tolerated; any other unhandled rejection still ends the
 * process, as Node does by default, because it is a defect.
 */
const DRIVER_TEARDOWN = new Set([
  'CONNECTION_DESTROYED',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
]);

export function installProcessGuards(report: (message: string, error: unknown) => void): void {
  process.on('unhandledRejection', (reason) => {
    const code = (reason as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && DRIVER_TEARDOWN.has(code)) {
      report('database driver connection torn down (ignored)', reason);
      return;
    }
    throw reason;
  });
}
