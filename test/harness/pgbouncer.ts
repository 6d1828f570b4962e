// A throwaway PgBouncer (Debian package `pgbouncer`) in transaction pooling mode, in front of a test PostgreSQL,
// as Supabase's pooler runs. Invariants: it never runs as root (PgBouncer refuses to), it listens on a free
// loopback port with fewer server connections than clients are expected, and it dies with the test process.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import {
  commandAs,
  isRoot,
  makeTempDir,
  onProcessExit,
  probeTcp,
  sh,
  startWatchdog,
  waitUntil,
} from './proc.ts';

export const PGBOUNCER_BINARY = '/usr/sbin/pgbouncer';

export function pgbouncerInstalled(): boolean {
  return existsSync(process.env.TEST_PGBOUNCER_BINARY ?? PGBOUNCER_BINARY);
}

export interface PgBouncerServer {
  /** postgres://postgres@127.0.0.1:PORT/<database>?pgbouncer=true */
  url(database: string): string;
  port: number;
  stop(): Promise<void>;
}

/** Starts PgBouncer for every database of the PostgreSQL server at `postgresPort` (wildcard database entry). */
export async function startPgBouncer(
  postgresPort: number,
  options: { poolSize?: number } = {},
): Promise<PgBouncerServer> {
  const dir = await makeTempDir('pgbouncer');
  await chmod(dir, 0o777);
  const port = await freePort();
  const config = join(dir, 'pgbouncer.ini');
  await writeFile(
    config,
    [
      '[databases]',
      `* = host=127.0.0.1 port=${postgresPort} user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 4}`,
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'users.txt'), '"postgres" ""\n');
  await chmod(join(dir, 'users.txt'), 0o644);
  const [file, args] = commandAs(
    isRoot ? 'postgres' : undefined,
    process.env.TEST_PGBOUNCER_BINARY ?? PGBOUNCER_BINARY,
    [config],
  );
  const child: ChildProcess = spawn(file, args, { stdio: 'ignore', cwd: dir });
  const cleanup = () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = onProcessExit(cleanup);
  const watchdog = startWatchdog(`kill -9 ${child.pid} 2>/dev/null; rm -rf ${sh(dir)}`);
  await waitUntil('PgBouncer to listen', 10_000, () => probeTcp(port));
  let stopped = false;
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}?pgbouncer=true`,
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
      await new Promise((resolve) =>
        child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve),
      );
      watchdog.cancel();
      unregister();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
