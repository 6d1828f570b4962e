/**
 * The `thread-tracker` command in real child processes, as an operator runs it: one-shot commands (`cli`) and
 * servers (`serve`, healthy before it resolves). Settings of the environment running the tests never leak into the
 * processes under test. `cleanup()` (in afterAll) stops whatever is left and removes the temporary directories.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ServerProcess, startApiServer } from './server-process.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
const BIN = resolve(ROOT, 'bin/thread-tracker.js');

/** Settings of the environment running the tests must not leak into the processes under test. */
const OWN_SETTINGS =
  /^(DATABASE_URL|REDIS_URL|DATA_DIR|HOST|PORT|AUTH_MODE|LOCAL_USER_ID|LOG_LEVEL|LOG_FORMAT|MIGRATE_ON_START|METRICS_ENABLED|EVENT_RETENTION_DAYS)$|^(JWT|SUPABASE|DB|CACHE|THREAD|CLEANUP)_/;
export const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !OWN_SETTINGS.test(k)),
) as Record<string, string>;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

export function cliRunner(options: { prefix?: string } = {}) {
  const children = new Set<ChildProcess>();
  const servers = new Set<ServerProcess>();
  const tempDirs: string[] = [];

  return {
    tempDir(): string {
      const dir = mkdtempSync(join(tmpdir(), options.prefix ?? 'tt-cli-'));
      tempDirs.push(dir);
      return dir;
    },

    /** Runs one command to completion (killed after `timeoutMs`, which fails the test that waited for it). */
    async cli(
      args: string[],
      env: Record<string, string> = {},
      io: { stdin?: string; timeoutMs?: number } = {},
    ): Promise<CliResult> {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: ROOT,
        env: { ...baseEnv, LOG_FORMAT: 'json', ...env },
        stdio: [io.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      children.add(child);
      if (io.stdin !== undefined) child.stdin!.end(io.stdin);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), io.timeoutMs ?? 60_000);
      const [code] = (await once(child, 'close')) as [number | null];
      clearTimeout(timer);
      children.delete(child);
      return { code, stdout, stderr, pid: child.pid ?? 0 };
    },

    /** `serve` until healthy, with the test's own data directory and settings. */
    async serve(env: Record<string, string>): Promise<ServerProcess> {
      const server = await startApiServer({ ...baseEnv, LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env });
      servers.add(server);
      return server;
    },

    async stopServer(server: ServerProcess): Promise<void> {
      await server.stop();
      servers.delete(server);
    },

    forget(server: ServerProcess): void {
      servers.delete(server);
    },

    async cleanup(): Promise<void> {
      await Promise.all([...servers].map((s) => s.stop()));
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
      }
      for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}
