/**
 * The `thread-tracker` command as an operator runs it, in real child processes: serve (health, readiness, clean
 * stop on SIGTERM and SIGINT, the data directory lock, data kept across restarts, refusals at start-up), migrate
 * (status, up, down, on PGlite and PostgreSQL) and token (verified with jose, accepted by a running server).
 * Each spawn costs a few seconds, so the independent stories run concurrently and each asks for few processes.
 */
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { sql } from 'kysely';
import { afterAll, describe, type ExpectStatic, it } from 'vitest';
import { type DatabaseOptions, openDatabase } from '../../src/store/database.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { freePort } from '../harness/free-port.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, sharedPostgresUrl } from '../harness/require-services.ts';
import { cliRunner } from '../support/cli-process.ts';
import type { ServerProcess } from '../support/server-process.ts';

const LOCK_FILE = 'thread-tracker.lock';
const SECRET = 'cli-test-secret-that-is-long-enough-for-hs256-000';
const LATEST = migrations.length;
const STORY_TIMEOUT = 180_000;

const runner = cliRunner();
const { cli, serve, tempDir } = runner;
afterAll(() => runner.cleanup());

/** Sends a signal and waits for the exit; a process still running after `withinMs` fails the test. */
async function stopWith(
  server: ServerProcess,
  signal: NodeJS.Signals,
  withinMs = 8_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const { child } = server;
  const started = Date.now();
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), withinMs);
  const [code, bySignal] = await exited;
  clearTimeout(timer);
  runner.forget(server);
  return { code, signal: bySignal, ms: Date.now() - started };
}

async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

async function publicTables(options: DatabaseOptions): Promise<string[]> {
  const handle = await openDatabase(options);
  try {
    const result = await sql<{ name: string }>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`.execute(handle.db);
    return result.rows.map((r) => r.name);
  } finally {
    await handle.close();
  }
}

/** status, up, status, down to 0 (tables gone), up again (tables back); the same on every engine. */
async function migrateStory(
  expect: ExpectStatic,
  env: Record<string, string>,
  database: DatabaseOptions,
): Promise<void> {
  const before = await cli(['migrate', 'status'], env);
  expect(before.code, before.stderr).toBe(0);
  expect(before.stdout).toContain(`current version: 0 (latest ${LATEST})`);
  for (const m of migrations) {
    expect(before.stdout).toMatch(new RegExp(`${String(m.version).padStart(4, '0')} ${m.name}\\s+pending`));
  }

  const up = await cli(['migrate', 'up'], env);
  expect(up.code, up.stderr).toBe(0);
  for (const m of migrations) expect(up.stdout).toContain(`applied  ${m.version} ${m.name}`);
  expect(up.stdout).toContain(`schema version 0 -> ${LATEST}`);

  const after = await cli(['migrate', 'status'], env);
  expect(after.code, after.stderr).toBe(0);
  expect(after.stdout).toContain(`current version: ${LATEST} (latest ${LATEST})`);
  expect(after.stdout).not.toContain('pending');

  // Refusals leave the schema where it is.
  const [above, empty, unknown] = await Promise.all([
    cli(['migrate', 'down', '--to', String(LATEST + 1)], env),
    cli(['migrate', 'down', '--to', ''], env),
    cli(['migrate', 'sideways'], env),
  ]);
  expect(above.code).not.toBe(0);
  expect(above.stderr).toMatch(/--to \d+ is above the current version|between 0 and/);
  expect(empty.code).not.toBe(0);
  expect(empty.stderr).toContain('--to must be a schema version number');
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('unknown migrate action "sideways"');

  const down = await cli(['migrate', 'down', '--to', '0'], env);
  expect(down.code, down.stderr).toBe(0);
  for (const m of migrations) expect(down.stdout).toContain(`reverted ${m.version} ${m.name}`);
  expect(down.stdout).toContain(`schema version ${LATEST} -> 0`);
  const gone = await publicTables(database);
  for (const table of ['thread_tracking', 'thread_events', 'leads', 'idempotency_keys']) {
    expect(gone).not.toContain(table);
  }

  const again = await cli(['migrate', 'up'], env);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout).toContain(`schema version 0 -> ${LATEST}`);
  expect(await publicTables(database)).toEqual(
    expect.arrayContaining(['idempotency_keys', 'leads', 'thread_events', 'thread_tracking']),
  );
}

describe.concurrent('thread-tracker command line', () => {
  it(
    'serve on PGlite: answers, keeps a second process out, stops cleanly on SIGTERM and SIGINT, keeps the data',
    async ({ expect }) => {
      const dataDir = tempDir();
      const lockPath = join(dataDir, LOCK_FILE);
      const first = await serve({ DATA_DIR: dataDir });

      const health = await getJson(`${first.url}/health`);
      expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
      const ready = await getJson(`${first.url}/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ready', checks: { database: { status: 'ok' } } });
      const created = await fetch(`${first.url}/api/v1/threads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ threadId: 'kept-1', subject: 'Kept across restarts' }),
      });
      expect(created.status).toBe(201);
      expect(readFileSync(lockPath, 'utf8')).toBe(String(first.child.pid));

      const second = await cli(['serve'], { DATA_DIR: dataDir, PORT: String(await freePort()) });
      expect(second.code).not.toBe(0);
      expect(second.stderr).toContain(`pid ${first.child.pid}`);
      expect(second.stderr).toContain(dataDir);
      // The refused process neither took the lock nor disturbed the running server.
      expect(readFileSync(lockPath, 'utf8')).toBe(String(first.child.pid));
      expect((await getJson(`${first.url}/health`)).status).toBe(200);

      const term = await stopWith(first, 'SIGTERM');
      expect(term).toMatchObject({ code: 0, signal: null });
      expect(existsSync(lockPath)).toBe(false);
      const lines = jsonLines(first.output());
      expect(lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
      expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
      await expect(fetch(`${first.url}/health`)).rejects.toThrow();

      // A lock left behind by a process that no longer exists is taken over.
      writeFileSync(lockPath, String(second.pid));
      const restarted = await serve({ DATA_DIR: dataDir });
      expect(readFileSync(lockPath, 'utf8')).toBe(String(restarted.child.pid));
      const kept = await getJson(`${restarted.url}/api/v1/threads/kept-1`);
      expect(kept).toMatchObject({
        status: 200,
        body: { threadId: 'kept-1', subject: 'Kept across restarts' },
      });

      const int = await stopWith(restarted, 'SIGINT');
      expect(int).toMatchObject({ code: 0, signal: null });
      expect(existsSync(lockPath)).toBe(false);
      expect(jsonLines(restarted.output()).find((l) => l.msg === 'shutting down')).toMatchObject({
        signal: 'SIGINT',
      });
    },
    STORY_TIMEOUT,
  );

  it(
    'serve refuses to start: local mode on a non-loopback host, and invalid settings listed one by one',
    async ({ expect }) => {
      const dataDir = tempDir();
      const port = await freePort();
      const [open, invalid] = await Promise.all([
        cli(['serve'], { HOST: '0.0.0.0', PORT: String(port), DATA_DIR: dataDir }),
        cli(['serve'], {
          DATA_DIR: dataDir,
          PORT: 'abc',
          THREAD_CACHE_TTL: '0',
          AUTH_MODE: 'jwt',
          JWT_SECRET: 'only-20-bytes-secret',
          DATABASE_URL: 'mysql://db.example/app',
        }),
      ]);
      expect(open.code).not.toBe(0);
      expect(open.stderr).toContain('Invalid configuration');
      expect(open.stderr).toMatch(/HOST: local mode .* loopback .* not 0\.0\.0\.0; set AUTH_MODE=jwt/);
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();

      expect(invalid.code).not.toBe(0);
      const problems = invalid.stderr.split('\n').filter((l) => l.startsWith('  - '));
      expect(problems.map((l) => l.slice(4).split(':')[0]).sort()).toEqual([
        'DATABASE_URL',
        'JWT_SECRET',
        'PORT',
        'THREAD_CACHE_TTL',
      ]);
      expect(invalid.stderr).toContain('JWT_SECRET: must be at least 32 bytes');
      expect(invalid.stderr).toContain(
        'DATABASE_URL: must be a postgres:// or postgresql:// connection string',
      );
      // Refused before touching anything: no database, no lock.
      expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
      expect(existsSync(join(dataDir, 'pglite'))).toBe(false);
    },
    STORY_TIMEOUT,
  );

  it(
    'token: mints tokens jose verifies, reads JWT_SECRET_FILE, refuses without a secret; serve accepts them',
    async ({ expect }) => {
      const dir = tempDir();
      const secretFile = join(dir, 'jwt-secret');
      writeFileSync(secretFile, `${SECRET}\n`);
      const claims = { JWT_ISSUER: 'https://tracker.example', JWT_AUDIENCE: 'tracker-api' };
      const issuedAt = Math.floor(Date.now() / 1000);
      const [admin, fromFile, noSecret, badTtl, server] = await Promise.all([
        cli(['token', '--user', 'alice', '--admin', '--ttl', '120'], { JWT_SECRET: SECRET, ...claims }),
        cli(['token', '--user', 'bob'], { JWT_SECRET_FILE: secretFile }),
        cli(['token', '--user', 'carol'], {}),
        cli(['token', '--user', 'dave', '--ttl', 'soon'], { JWT_SECRET: SECRET }),
        serve({ DATA_DIR: join(dir, 'data'), AUTH_MODE: 'jwt', JWT_SECRET_FILE: secretFile, ...claims }),
      ]);
      const key = new TextEncoder().encode(SECRET);

      expect(admin.code, admin.stderr).toBe(0);
      const adminToken = admin.stdout.trim();
      const verified = await jwtVerify(adminToken, key, {
        algorithms: ['HS256'],
        issuer: claims.JWT_ISSUER,
        audience: claims.JWT_AUDIENCE,
      });
      expect(verified.payload).toMatchObject({ sub: 'alice', role: 'admin' });
      expect(verified.payload.exp! - issuedAt).toBeGreaterThanOrEqual(115);
      expect(verified.payload.exp! - issuedAt).toBeLessThanOrEqual(120 + 60);

      expect(fromFile.code, fromFile.stderr).toBe(0);
      const plain = await jwtVerify(fromFile.stdout.trim(), key, { algorithms: ['HS256'] });
      expect(plain.payload.sub).toBe('bob');
      expect(plain.payload.role).toBeUndefined();
      expect(plain.payload.iss).toBeUndefined();
      expect(plain.payload.exp! - plain.payload.iat!).toBe(3600);

      expect(noSecret.code).not.toBe(0);
      expect(noSecret.stdout).toBe('');
      expect(noSecret.stderr).toContain('Set JWT_SECRET');
      expect(badTtl.code).not.toBe(0);
      expect(badTtl.stderr).toContain('--ttl must be a positive number of seconds');

      const me = await getJson(`${server.url}/api/v1/me`, { authorization: `Bearer ${adminToken}` });
      expect(me).toMatchObject({ status: 200, body: { userId: 'alice', admin: true, authMode: 'jwt' } });
      expect((await getJson(`${server.url}/api/v1/me`)).status).toBe(401);
      // bob's token has no issuer or audience, which this server requires.
      const other = await getJson(`${server.url}/api/v1/me`, {
        authorization: `Bearer ${fromFile.stdout.trim()}`,
      });
      expect(other.status).toBe(401);
      expect((await stopWith(server, 'SIGTERM')).code).toBe(0);
    },
    STORY_TIMEOUT,
  );

  it(
    'migrate status, up and down on PGlite',
    async ({ expect }) => {
      const dataDir = tempDir();
      await migrateStory(expect, { DATA_DIR: dataDir }, { engine: 'pglite', dataDir });
      expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    },
    STORY_TIMEOUT,
  );

  describeWithService('postgres', 'on the shared PostgreSQL', () => {
    it(
      'migrate status, up and down on PostgreSQL',
      async ({ expect }) => {
        const url = await createPostgresDatabase(sharedPostgresUrl(), 'cli_migrate');
        await migrateStory(
          expect,
          { DATABASE_URL: url },
          { engine: 'postgres', url, poolSize: 1, queryTimeoutMs: 10_000, connectTimeoutMs: 2_000 },
        );
      },
      STORY_TIMEOUT,
    );
  });
});
