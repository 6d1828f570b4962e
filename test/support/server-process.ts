/**
 * Child processes for tests and benchmarks: the real API server (`thread-tracker serve`) and the bare node:http
 * ceiling. A server is healthy (GET /health) before the promise resolves; stop() sends SIGTERM and waits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../harness/free-port.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** The last 20 kB the process wrote (stdout and stderr). */
  output(): string;
  rssMb(): Promise<number>;
  stop(): Promise<void>;
}

async function waitForHealth(
  url: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${log()}`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not become healthy within ${timeoutMs} ms:\n${log()}`);
}

function track(child: ChildProcess): () => string {
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => output;
}

async function rssOf(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  try {
    const { readFile } = await import('node:fs/promises');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return 0;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Starts `thread-tracker serve`; each server gets a data directory of its own unless DATA_DIR is given. */
export async function startApiServer(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const ownDataDir = env.DATA_DIR ? undefined : await mkdtemp(join(tmpdir(), 'thread-tracker-server-'));
  const child = spawn(process.execPath, [resolve(ROOT, 'bin/thread-tracker.js'), 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      HOST: '127.0.0.1',
      PORT: String(port),
      ...(ownDataDir ? { DATA_DIR: ownDataDir } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, log);
  return {
    url,
    port,
    child,
    output: log,
    rssMb: () => rssOf(child.pid),
    stop: async () => {
      await stopChild(child);
      if (ownDataDir) await rm(ownDataDir, { recursive: true, force: true });
    },
  };
}

/** The ceiling: node:http answering every request with the same JSON text from a Map. */
export async function startBareServer(body: string): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [resolve(ROOT, 'bin/run-ts.js'), resolve(ROOT, 'bench/lib/bare-server.ts')],
    {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), BODY: body },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const log = track(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, child, log);
  return { url, port, child, output: log, rssMb: () => rssOf(child.pid), stop: () => stopChild(child) };
}
