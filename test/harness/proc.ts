// Process plumbing shared by the server starters (postgres.ts, redis.ts, dovecot.ts).
// Invariants kept here:
// - A throwaway server never outlives the Node process that started it: every server registers a synchronous
//   cleanup for the process 'exit' event AND a detached shell watchdog that runs the same cleanup once the
//   Node process is gone, which covers SIGKILL, crashes and Ctrl-C, where no 'exit' event fires.
// - Daemons refuse to run as root or must drop privileges, so commands can be run as another user via runuser
//   when (and only when) we are root.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Quotes one word for /bin/sh. */
export function sh(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export interface RunOptions {
  /** Run as this user through runuser when we are root; ignored otherwise. */
  asUser?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Working directory; set it to a directory the other user can enter, or some tools complain. */
  cwd?: string;
}

/** argv for a command, prefixed with runuser when it must run as another user. */
export function commandAs(asUser: string | undefined, cmd: string, args: string[]): [string, string[]] {
  if (asUser && isRoot) return ['runuser', ['-u', asUser, '--', cmd, ...args]];
  return [cmd, args];
}

/** Runs a command to completion; rejects with its output when it fails, so setup errors are readable. */
export function run(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const [file, argv] = commandAs(opts.asUser, cmd, args);
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      {
        timeout: opts.timeoutMs ?? 60_000,
        env: opts.env ?? process.env,
        cwd: opts.cwd,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) {
          const text = `${String(stderr).trim()}\n${String(stdout).trim()}`.trim();
          reject(new Error(`${[file, ...argv].join(' ')} failed: ${err.message}${text ? `\n${text}` : ''}`));
        } else {
          resolve({ stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
  });
}

export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

/**
 * Direct children of a process, read from /proc on every call (a server forks new children all the time).
 * Synchronous so that the process 'exit' cleanup can use it too.
 */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may contain spaces and parentheses; the fields after the last ')' are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(name));
    } catch {
      // The process exited while we were listing.
    }
  }
  return out;
}

/** Whether a process is running; a zombie (exited, not yet reaped by its parent or init) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Freezes a process and all its current children. The parent is stopped first so that it cannot fork new
 * children meanwhile, and the children are listed twice to catch one forked just before the stop.
 */
export function freezeTree(pid: number): void {
  signal(pid, 'SIGSTOP');
  const seen = new Set<number>();
  for (let pass = 0; pass < 2; pass++) {
    for (const child of childPids(pid)) {
      if (seen.has(child)) continue;
      seen.add(child);
      signal(child, 'SIGSTOP');
    }
  }
}

/** Thaws a process and all its current children (children first, so that none misses the parent's signals). */
export function thawTree(pid: number): void {
  for (const child of childPids(pid)) signal(child, 'SIGCONT');
  signal(pid, 'SIGCONT');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until check() is true; the error names what was awaited so a slow start is diagnosable. */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * One probe of a TCP server: connects, optionally sends a line, and resolves true when the received text matches
 * `expect` (or, without `expect`, as soon as the connection opens).
 */
export function probeTcp(port: number, opts: { send?: string; expect?: RegExp; timeoutMs?: number } = {}) {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs ?? 1000);
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.once('connect', () => {
      if (!opts.expect) return done(true);
      if (opts.send) socket.write(opts.send);
    });
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      if (opts.expect?.test(received)) done(true);
    });
  });
}

export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/** Registers a synchronous cleanup for process exit; returns its unregistration. */
export function onProcessExit(cleanup: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const fn of exitCleanups) {
        try {
          fn();
        } catch {
          // Best effort: the process is exiting anyway.
        }
      }
    });
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

export interface Watchdog {
  cancel(): void;
}

/**
 * Starts a detached shell that runs `cleanupScript` once this Node process has died. It lives in its own
 * session so that Ctrl-C on the test run does not kill it before it has cleaned up.
 */
export function startWatchdog(cleanupScript: string): Watchdog {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${cleanupScript}`;
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return {
    cancel() {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    },
  };
}
