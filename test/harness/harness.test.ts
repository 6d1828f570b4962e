// Tests of the test harness itself, against real servers. Each server is started once per describe to keep the
// file fast; the last test of a describe may stop it. The "no leftovers" suite kills a child Node process that
// holds servers and checks that the exit hooks and watchdogs remove them, since a run must never leave servers
// behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DovecotServer, startDovecot } from './dovecot.ts';
import { freePort } from './free-port.ts';
import {
  createPostgresDatabase,
  type PostgresServer,
  replicaSupported,
  startPostgres,
  startReplica,
} from './postgres.ts';
import { isAlive, sleep, waitUntil } from './proc.ts';
import { createRedisDatabase, type RedisServer, startRedis } from './redis.ts';
import {
  describeWithService,
  servicesRequired,
  sharedPostgresUrl,
  sharedRedisUrl,
  skipUnlessService,
} from './require-services.ts';

const TIMED_OUT = 'timed out (client-side)';

/** Client-side timeout: a frozen server never answers, and a server-side timeout cannot fire there. */
function within<T>(ms: number, promise: Promise<T>): Promise<T | typeof TIMED_OUT> {
  return Promise.race([promise, sleep(ms).then((): typeof TIMED_OUT => TIMED_OUT)]);
}

function pgClient(url: string) {
  return postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

describe('freePort', () => {
  it('returns a loopback port that can be bound', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('servicesRequired', () => {
  it('follows REQUIRE_SERVICES', () => {
    vi.stubEnv('REQUIRE_SERVICES', '1');
    expect(servicesRequired()).toBe(true);
    vi.stubEnv('REQUIRE_SERVICES', '');
    expect(servicesRequired()).toBe(false);
    vi.unstubAllEnvs();
  });
});

describeWithService('postgres', 'shared servers from the global setup', () => {
  it('PostgreSQL: a database of our own on the shared server', async () => {
    const url = await createPostgresDatabase(sharedPostgresUrl(), 'harness');
    const sql = pgClient(url);
    try {
      const [row] = await sql<{ db: string }[]>`select current_database() as db`;
      expect(url).toContain(`/${row?.db}`);
    } finally {
      await sql.end();
    }
  });

  it('Redis: distinct database indexes on the shared server', async (ctx) => {
    skipUnlessService(ctx, 'redis');
    const [a, b] = await Promise.all([
      createRedisDatabase(sharedRedisUrl()),
      createRedisDatabase(sharedRedisUrl()),
    ]);
    expect(a).not.toBe(b);
    const client = new Redis(a ?? '', { commandTimeout: 2000 });
    try {
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });
});

describeWithService('postgres', 'startPostgres (non-durable)', () => {
  let pg: PostgresServer;
  let sql: postgres.Sql;

  beforeAll(async () => {
    pg = await startPostgres();
    sql = pgClient(pg.url);
  });

  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await pg?.stop();
  });

  it('answers select 1 on the advertised URL', async () => {
    expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
    const [row] = await sql<{ one: number }[]>`select 1 as one`;
    expect(row?.one).toBe(1);
  });

  it('runs with the fast, replication-ready settings', async () => {
    const rows = await sql<{ name: string; setting: string }[]>`
      select name, setting from pg_settings
      where name in ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'wal_level',
                     'max_wal_senders', 'listen_addresses')`;
    expect(Object.fromEntries(rows.map((r) => [r.name, r.setting]))).toEqual({
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '200',
      wal_level: 'replica',
      max_wal_senders: '5',
      listen_addresses: '127.0.0.1',
    });
  });

  it('createDatabase gives fresh, isolated databases with unique names', async () => {
    const [a, b] = await Promise.all([pg.createDatabase('same'), pg.createDatabase('same')]);
    expect(a).not.toBe(b);
    const sqlA = pgClient(a);
    const sqlB = pgClient(b);
    try {
      await sqlA`create table only_in_a (id int)`;
      const [found] = await sqlB<{ n: number }[]>`
        select count(*)::int as n from information_schema.tables where table_name = 'only_in_a'`;
      expect(found?.n).toBe(0);
    } finally {
      await Promise.all([sqlA.end(), sqlB.end()]);
    }
  });

  it('pause makes queries hang until resume', async () => {
    await sql`select 1`; // the pooled connection is open before the freeze
    await pg.pause();
    let pending: Promise<unknown> | undefined;
    try {
      pending = sql`select 2 as two`.then((rows) => rows);
      expect(await within(500, pending)).toBe(TIMED_OUT);
      // A new connection hangs too: children and postmaster are all frozen.
      const fresh = pgClient(pg.url);
      const connecting = fresh`select 3`.catch((err: unknown) => err);
      expect(await within(300, connecting)).toBe(TIMED_OUT);
      await pg.resume();
      expect(await within(5000, pending)).toEqual([{ two: 2 }]);
      expect(await within(5000, connecting)).toEqual([{ '?column?': 3 }]);
      await fresh.end();
    } finally {
      await pg.resume();
    }
  });

  it.runIf(replicaSupported() || servicesRequired())(
    'a streaming replica receives rows from the primary',
    async () => {
      const replica = await startReplica(pg);
      const rsql = pgClient(replica.url);
      try {
        expect(replica.port).not.toBe(pg.port);
        const [rec] = await rsql<{ r: boolean }[]>`select pg_is_in_recovery() as r`;
        expect(rec?.r).toBe(true);
        await sql`create table replicated (v text)`;
        await sql`insert into replicated values ('from the primary')`;
        await waitUntil('the row on the replica', 10_000, async () => {
          const rows = await rsql`select v from replicated`.catch(() => []);
          return rows.length === 1;
        });
      } finally {
        await rsql.end({ timeout: 1 });
        await replica.stop();
      }
      expect(existsSync(replica.dataDir)).toBe(false);
    },
  );
});

describeWithService('postgres', 'startPostgres (durable)', () => {
  let pg: PostgresServer;

  beforeAll(async () => {
    pg = await startPostgres({ durable: true });
  });

  afterAll(async () => {
    await pg?.stop();
  });

  it('keeps committed rows across stopImmediate + start, on the same port', async () => {
    const port = pg.port;
    const sql = pgClient(pg.url);
    try {
      const [fsync] = await sql<{ f: string }[]>`select current_setting('fsync') as f`;
      expect(fsync?.f).toBe('on');
      await sql`create table t (id int primary key)`;
      for (let i = 0; i < 50; i++) await sql`insert into t values (${i})`;
      await pg.stopImmediate();
      expect(
        await within(
          3000,
          sql`select 1`.catch(() => 'refused'),
        ),
      ).toBe('refused');
      await pg.start();
      expect(pg.port).toBe(port);
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from t`;
      expect(row?.n).toBe(50);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('stop removes the data dir and is idempotent', async () => {
    await pg.stop();
    await pg.stop();
    expect(existsSync(pg.dataDir)).toBe(false);
    await expect(pg.start()).rejects.toThrow(/stopped for good/);
  });
});

describeWithService('redis', 'startRedis', () => {
  let redis: RedisServer;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { commandTimeout: 300, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on('error', () => {}); // reconnect attempts while the server is down are expected here
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('answers PING, SET and GET', async () => {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await client.ping()).toBe('PONG');
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
  });

  it('createDatabase hands out distinct database indexes', async () => {
    const urls = await Promise.all([redis.createDatabase(), redis.createDatabase(), redis.createDatabase()]);
    expect(new Set(urls).size).toBe(3);
    expect(urls.every((u) => /^redis:\/\/127\.0\.0\.1:\d+\/\d+$/.test(u))).toBe(true);
  });

  it('pause makes commands time out until resume', async () => {
    await redis.pause();
    try {
      await expect(client.get('k')).rejects.toThrow(/timed out/i);
    } finally {
      await redis.resume();
    }
    expect(await client.get('k')).toBe('v');
  });

  it('shutdownNoSave drops everything; start comes back empty on the same port', async () => {
    const port = redis.port;
    await redis.shutdownNoSave();
    await expect(client.get('k')).rejects.toThrow();
    await redis.start();
    expect(redis.port).toBe(port);
    await waitUntil(
      'the client to reconnect',
      5000,
      async () => (await client.ping().catch(() => '')) === 'PONG',
    );
    expect(await client.get('k')).toBeNull();
  });
});

describeWithService('dovecot', 'startDovecot', () => {
  let dovecot: DovecotServer;
  const users = [
    { user: 'alice', password: 'alice-secret' },
    { user: 'bob', password: 'bob-secret' },
  ];
  const message = (subject: string) =>
    [
      'From: Alice <alice@example.test>',
      'To: Bob <bob@example.test>',
      `Subject: ${subject}`,
      `Message-ID: <${subject.replaceAll(' ', '-')}@example.test>`,
      'Date: Tue, 02 Dec 2025 10:00:00 +0000',
      '',
      'Hello.',
      '',
    ].join('\r\n');

  beforeAll(async () => {
    dovecot = await startDovecot({ users });
  });

  afterAll(async () => {
    await dovecot?.stop();
  });

  async function subjects(user: string, pick: (boxes: { path: string; specialUse?: string }[]) => string) {
    const client = new ImapFlow(dovecot.clientOptions(user));
    await client.connect();
    try {
      const path = pick(await client.list());
      const lock = await client.getMailboxLock(path);
      try {
        const out: string[] = [];
        const status = await client.status(path, { messages: true });
        if (status === false || !status.messages) return out;
        for await (const msg of client.fetch('1:*', { envelope: true }))
          out.push(msg.envelope?.subject ?? '');
        return out;
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  }

  it('logs in with imapflow and lists the special-use folders', async () => {
    expect(dovecot.host).toBe('127.0.0.1');
    const client = new ImapFlow(dovecot.clientOptions('alice'));
    await client.connect();
    try {
      const special = (await client.list()).map((box) => box.specialUse).filter(Boolean);
      expect(special.sort()).toEqual(['\\Drafts', '\\Inbox', '\\Junk', '\\Sent', '\\Trash']);
    } finally {
      await client.logout();
    }
  });

  it('rejects a wrong password', async () => {
    const client = new ImapFlow({
      ...dovecot.clientOptions('alice'),
      auth: { user: 'alice', pass: 'wrong' },
    });
    await expect(client.connect()).rejects.toThrow();
    client.close();
  });

  it('delivers into INBOX and into the \\Sent folder, per user', async () => {
    const inbox = await dovecot.deliver('alice', message('first reply'));
    expect(inbox.uid).toBe(1);
    await dovecot.deliver('alice', message('our outreach'), { folder: 'Sent' });
    expect(await subjects('alice', () => 'INBOX')).toEqual(['first reply']);
    expect(
      await subjects('alice', (boxes) => boxes.find((b) => b.specialUse === '\\Sent')?.path ?? ''),
    ).toEqual(['our outreach']);
    expect(await subjects('bob', () => 'INBOX')).toEqual([]);
  });
});

// Services a child process starts before it is killed; harness paths are passed in, the child prints its pids.
const CHILD_SCRIPT = `
const dir = process.env.HARNESS_DIR;
const { startPostgres } = await import(dir + '/postgres.ts');
const { startRedis } = await import(dir + '/redis.ts');
const { startDovecot } = await import(dir + '/dovecot.ts');
const { readFileSync } = await import('node:fs');
const [pg, redis, dovecot] = await Promise.all([
  startPostgres(),
  startRedis(),
  startDovecot({ users: [{ user: 'u', password: 'p' }] }),
]);
if (process.env.PAUSE === '1') { await pg.pause(); await redis.pause(); }
const pgPid = Number(readFileSync(pg.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0]);
const ports = [pg.port, redis.port, dovecot.port];
console.log(JSON.stringify({ pgPid, ports }));
if (process.env.MODE === 'exit') process.exit(0);
setInterval(() => {}, 1000);
`;

describeWithService('postgres', 'no servers left behind', () => {
  const harnessDir = dirname(fileURLToPath(import.meta.url));
  const repoRoot = join(harnessDir, '..', '..');
  let scriptDir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    scriptDir = await mkdtemp(join(tmpdir(), 'tt-harness-test-'));
    await chmod(scriptDir, 0o755);
    await writeFile(join(scriptDir, 'child.mts'), CHILD_SCRIPT);
  });

  afterAll(async () => {
    // If an assertion failed before the kill, the children's own watchdogs clean up once they are gone.
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (scriptDir) await rm(scriptDir, { recursive: true, force: true });
  });

  async function runChild(mode: 'kill' | 'exit') {
    // A private TMPDIR shows exactly which temp dirs the child's servers leave behind. It must be enterable by
    // the postgres and nobody users, like /tmp.
    const childTmp = join(scriptDir, mode);
    await mkdir(childTmp);
    await chmod(childTmp, 0o755);
    const child = spawn(process.execPath, ['--import', 'tsx', join(scriptDir, 'child.mts')], {
      cwd: repoRoot,
      env: {
        ...process.env,
        TMPDIR: childTmp,
        HARNESS_DIR: harnessDir,
        MODE: mode,
        PAUSE: mode === 'kill' ? '1' : '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    await waitUntil('the child to start its servers', 30_000, async () => {
      if (child.exitCode !== null && !out.includes('\n'))
        throw new Error(`child exited with ${child.exitCode}`);
      return out.includes('\n');
    });
    const info = JSON.parse(out) as { pgPid: number; ports: number[] };
    if (mode === 'kill') child.kill('SIGKILL');
    await new Promise((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve),
    );
    return { ...info, childTmp };
  }

  async function leftovers(dir: string): Promise<string[]> {
    return (await readdir(dir)).filter((name) => name.startsWith('tt-'));
  }

  async function portClosed(port: number): Promise<boolean> {
    const server = createServer();
    return new Promise((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  }

  async function expectNothingLeft(info: { pgPid: number; ports: number[]; childTmp: string }, ms: number) {
    await waitUntil('PostgreSQL to go away', ms, async () => !isAlive(info.pgPid));
    for (const port of info.ports) await waitUntil(`port ${port} to close`, ms, () => portClosed(port));
    await waitUntil(
      'the temp dirs to go away',
      ms,
      async () => (await leftovers(info.childTmp)).length === 0,
    );
  }

  // One test running both children at once: each waits mostly on process start-up and the watchdog's poll.
  it('exit hooks (normal exit) and watchdogs (SIGKILL, paused servers) stop every server', async (ctx) => {
    skipUnlessService(ctx, 'redis');
    skipUnlessService(ctx, 'dovecot');
    const [exited, killed] = await Promise.all([runChild('exit'), runChild('kill')]);
    await Promise.all([expectNothingLeft(exited, 10_000), expectNothingLeft(killed, 15_000)]);
  });
});
