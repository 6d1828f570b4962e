// Throwaway Redis servers for tests: the machine's redis-server on a free loopback port, in a temp dir.
// Invariants:
// - No persistence (--save '' --appendonly no): a restart always comes back empty, like a lost cache.
// - 1000 database indexes, handed out by createDatabase() from a counter in index 0, so that test files sharing
//   one server can each flush their own.
// - The server is a direct child of this process, never daemonized, so its pid and exit are known exactly;
//   process exit and a watchdog (see proc.ts) kill it if a test forgets stop() or the process dies.
// - start() resolves only once PING answers, and stopping always thaws a paused server first.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.ts';
import {
  isAlive,
  makeTempDir,
  onProcessExit,
  probeTcp,
  sh,
  signal,
  startWatchdog,
  waitForExit,
  waitUntil,
} from './proc.ts';

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** URL of a database index no other caller of createDatabase() on this server gets (empty unless reused). */
  createDatabase(): Promise<string>;
  /** Graceful stop (nothing is saved) and removal of the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SHUTDOWN NOSAVE: the server goes away at once, as in a crash; start() brings it back, empty. */
  shutdownNoSave(): Promise<void>;
  /** Starts again on the same port after shutdownNoSave(). */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/** Database indexes per server; index 0 is kept for the allocation counter. */
const DATABASES = 1000;
const COUNTER_KEY = 'test-harness:next-database';

/**
 * Allocates a database index on a server started by this harness (for example the shared one from the global
 * setup) and returns its URL. The counter lives in the server itself, so concurrent test files never get the
 * same index; it wraps after DATABASES - 1 allocations.
 */
export async function createRedisDatabase(serverUrl: string): Promise<string> {
  const { Redis: Client } = await import('ioredis');
  const client = new Client(serverUrl, {
    db: 0,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
  });
  try {
    await client.connect();
    const n = await client.incr(COUNTER_KEY);
    const url = new URL(serverUrl);
    url.pathname = `/${((n - 1) % (DATABASES - 1)) + 1}`;
    return url.toString();
  } finally {
    client.disconnect();
  }
}

let cachedBinary: string | null | undefined;

/** Path of redis-server (TEST_REDIS_SERVER overrides), or undefined. Synchronous, cached. */
export function redisServerBinary(): string | undefined {
  if (cachedBinary !== undefined) return cachedBinary ?? undefined;
  const override = process.env.TEST_REDIS_SERVER;
  const candidates = override
    ? [override]
    : [
        ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'redis-server')),
        '/usr/bin/redis-server',
      ];
  const found = candidates.find(
    (c) => existsSync(c) && spawnSync(c, ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0,
  );
  cachedBinary = found ?? null;
  return found;
}

class Redis implements RedisServer {
  port: number;
  private child: ChildProcess | undefined;
  private paused = false;
  private stopping: Promise<void> | undefined;
  private readonly pidFile: string;
  private readonly watchdog;
  private readonly unregisterExit: () => void;

  constructor(
    private readonly binary: string,
    private readonly dir: string,
    port: number,
  ) {
    this.port = port;
    this.pidFile = join(dir, 'redis.pid');
    this.watchdog = startWatchdog(
      `P=$(cat ${sh(this.pidFile)} 2>/dev/null); [ -n "$P" ] && kill -9 "$P" 2>/dev/null; rm -rf ${sh(dir)}`,
    );
    this.unregisterExit = onProcessExit(() => {
      if (this.child?.pid !== undefined) signal(this.child.pid, 'SIGKILL');
      rmSync(this.dir, { recursive: true, force: true });
      this.watchdog.cancel();
    });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private get running(): boolean {
    return this.child?.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** First start: a port taken between freePort() and the bind makes redis-server exit; retry on a new one. */
  async firstStart(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        this.port = await freePort();
      }
    }
  }

  async start(): Promise<void> {
    if (this.stopping) throw new Error('this Redis server was stopped for good (stop() removes it)');
    if (this.running) return;
    // Clear the pid file first so that the watchdog never kills a pid the old server left behind.
    rmSync(this.pidFile, { force: true });
    const args = [
      ...['--port', String(this.port), '--bind', '127.0.0.1', '--daemonize', 'no'],
      ...['--save', '', '--appendonly', 'no', '--dir', this.dir, '--databases', String(DATABASES)],
      ...['--pidfile', this.pidFile, '--logfile', join(this.dir, 'redis.log')],
    ];
    const child = spawn(this.binary, args, { stdio: 'ignore' });
    this.child = child;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', () => undefined);
    let ok = false;
    await waitUntil(`Redis PING on port ${this.port}`, 15_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) return true;
      ok = await probeTcp(this.port, { send: 'PING\r\n', expect: /\+PONG\r\n/ });
      return ok;
    });
    if (!ok) {
      await exited;
      throw new Error(
        `redis-server exited during start (port ${this.port}); see ${join(this.dir, 'redis.log')}`,
      );
    }
  }

  createDatabase(): Promise<string> {
    return createRedisDatabase(this.url);
  }

  async pause(): Promise<void> {
    if (!this.running || this.child?.pid === undefined) throw new Error('Redis is not running');
    signal(this.child.pid, 'SIGSTOP');
    this.paused = true;
  }

  async resume(): Promise<void> {
    if (this.child?.pid !== undefined) signal(this.child.pid, 'SIGCONT');
    this.paused = false;
  }

  async shutdownNoSave(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    if (this.paused) await this.resume();
    await probeTcp(this.port, { send: 'SHUTDOWN NOSAVE\r\n', expect: /^-/, timeoutMs: 2000 });
    if (!(await waitForExit(child, 10_000)) && child.pid !== undefined) {
      signal(child.pid, 'SIGKILL');
      await waitForExit(child, 5000);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopForGood();
    return this.stopping;
  }

  private async stopForGood(): Promise<void> {
    try {
      const child = this.child;
      if (child?.pid !== undefined && this.running) {
        if (this.paused) await this.resume();
        signal(child.pid, 'SIGTERM');
        if (!(await waitForExit(child, 10_000)) && isAlive(child.pid)) {
          signal(child.pid, 'SIGKILL');
          await waitForExit(child, 5000);
        }
      }
      await rm(this.dir, { recursive: true, force: true });
    } finally {
      this.unregisterExit();
      this.watchdog.cancel();
    }
  }
}

/** Starts a throwaway Redis server on a free loopback port; resolves once PING answers. */
export async function startRedis(): Promise<RedisServer> {
  const binary = redisServerBinary();
  if (!binary) throw new Error('no redis-server: install the Debian package redis-server');
  const dir = await makeTempDir('tt-redis');
  const server = new Redis(binary, dir, await freePort());
  try {
    await server.firstStart();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
