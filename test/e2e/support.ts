// Shared plumbing of the end-to-end tests: build the web app once, run the real server as a child process on a
// fresh PGlite data directory, seed it through the public API, drive Debian's Chromium with playwright-core.
// Invariants:
// - Each test file owns its server and browser and stops both in afterAll (SIGTERM, then waits for the exit).
// - Concurrent test files never build web/dist at the same time (a lock directory serializes the build step, and
//   the build script itself skips work when web/dist is current).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { freePort } from '../harness/free-port.ts';
import { onProcessExit, sleep, waitForExit, waitUntil } from '../harness/proc.ts';
import { chromiumPath } from '../harness/require-services.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SCREENSHOTS = join(ROOT, 'test-artifacts', 'screenshots');

const BUILD_LOCK = join(
  tmpdir(),
  `thread-tracker-web-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`,
);

/** Builds web/dist when its sources changed (bin/build-web.js decides), one test file at a time. */
export async function ensureWebBuild(): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch {
      // A lock older than the longest build is left over from a killed run.
      try {
        if (Date.now() - statSync(BUILD_LOCK).mtimeMs > 120_000)
          rmSync(BUILD_LOCK, { recursive: true, force: true });
      } catch {
        // It was just released.
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the web build lock ${BUILD_LOCK}`);
      await sleep(200);
    }
  }
  try {
    const result = spawnSync(process.execPath, [join(ROOT, 'bin/build-web.js')], {
      cwd: ROOT,
      // The test runner's NODE_ENV=test must not leak into the bundle.
      env: { ...process.env, NODE_ENV: 'production' },
      encoding: 'utf8',
      timeout: 170_000,
    });
    if (result.status !== 0) {
      throw new Error(`building the web app failed:\n${result.stdout}\n${result.stderr}`);
    }
  } finally {
    rmSync(BUILD_LOCK, { recursive: true, force: true });
  }
}

export interface RunningServer {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  /** Output of the server so far (for failure messages). */
  output(): string;
}

/** Starts `thread-tracker serve` on a free port with its own PGlite data directory. */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'thread-tracker-e2e-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    let output = '';
    const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/thread-tracker.js'), 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'production',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const unregister = onProcessExit(() => child.kill('SIGKILL'));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(`the server on ${url}`, 90_000, async () => {
        if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${output}`);
        try {
          return (await fetch(`${url}/health`)).ok;
        } catch {
          return false;
        }
      });
    } catch (error) {
      child.kill('SIGKILL');
      await waitForExit(child, 10_000);
      unregister();
      // Another process may have taken the port between freePort() and listen(): try a fresh one.
      if (attempt < 2 && /EADDRINUSE/.test(output)) continue;
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
    return {
      url,
      port,
      dataDir,
      output: () => output,
      async stop() {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 20_000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
        unregister();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
}

/** A tiny client for seeding through the public API (problem+json errors become thrown Errors). */
export function apiClient(baseUrl: string, token?: string) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${baseUrl}/api/v1${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
    put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
    delete: <T>(path: string) => call<T>('DELETE', path),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

export interface SeedThread {
  threadId: string;
  subject: string;
  participants: string[];
  emailType: 'application' | 'followup' | 'manual' | 'auto_followup' | null;
  status?: 'active' | 'archived' | 'spam';
  hidden?: boolean;
  systemGenerated?: boolean;
  leadId?: string | null;
  lastActivity: string;
  messageCount: number;
  followupCount: number;
  responseTimeHours: number | null;
  replyRate?: number | null;
  openRate?: number | null;
}

const COMPANIES = [
  'Acme',
  'Globex',
  'Initech',
  'Umbrella',
  'Hooli',
  'Stark Industries',
  'Wayne Enterprises',
  'Cyberdyne',
  'Soylent',
  'Tyrell',
  'Wonka',
  'Vandelay',
];
const ROLES = [
  'Senior Frontend Engineer',
  'Staff Software Engineer',
  'Product Designer',
  'Engineering Manager',
  'Data Scientist',
  'Platform Engineer',
  'Developer Advocate',
];
const TYPE_CYCLE = [
  'application',
  'application',
  'followup',
  'manual',
  'application',
  'auto_followup',
  'followup',
] as const;
const FIRST = ['ana', 'ben', 'chloe', 'dev', 'emma', 'felix', 'grace', 'hugo', 'iris', 'jon', 'kai', 'lena'];

/**
 * Deterministic, realistic threads: applications and sales outreach over the last `days` days, about a third
 * replied, a few archived, hidden or sent by the system.
 */
export function makeThreads(
  count: number,
  options: { now?: number; days?: number; prefix?: string; leadIds?: string[] } = {},
) {
  const now = options.now ?? Date.now();
  const days = options.days ?? 28;
  const prefix = options.prefix ?? 't';
  const threads: SeedThread[] = [];
  for (let i = 0; i < count; i++) {
    const company = COMPANIES[i % COMPANIES.length]!;
    const role = ROLES[(i * 5) % ROLES.length]!;
    const person = FIRST[(i * 7) % FIRST.length]!;
    const domain = `${company.toLowerCase().replace(/[^a-z]/g, '')}.example`;
    const emailType = TYPE_CYCLE[i % TYPE_CYCLE.length]!;
    const subject =
      emailType === 'application'
        ? `Application: ${role} at ${company}`
        : emailType === 'manual'
          ? `Quick question about ${company}'s roadmap`
          : `Following up: ${role} at ${company}`;
    const replied = (i * 37) % 100 < 35;
    const lastActivity = new Date(now - ((i * 7919) % (days * 24 * 60)) * 60_000 - 5 * 60_000).toISOString();
    threads.push({
      threadId: `${prefix}${String(i).padStart(5, '0')}`,
      subject,
      participants: [`${person}@${domain}`, ...(i % 5 === 0 ? [`hiring@${domain}`] : [])],
      emailType,
      status: i % 17 === 5 ? 'archived' : i % 41 === 7 ? 'spam' : 'active',
      hidden: i % 23 === 11,
      systemGenerated: emailType === 'auto_followup',
      leadId: options.leadIds?.length && i % 3 === 0 ? options.leadIds[i % options.leadIds.length]! : null,
      lastActivity,
      messageCount: 1 + (i % 4),
      followupCount: i % 6 === 0 ? 2 : i % 3 === 0 ? 1 : 0,
      responseTimeHours: replied ? [0, 2, 6, 30, 80, 200][i % 6]! : null,
      openRate: (i * 13) % 101,
      replyRate: replied ? 100 : 0,
    });
  }
  return threads;
}

/** Seeds through POST /threads/batch, 100 at a time (the server's batch limit). */
export async function seedThreads(api: ApiClient, threads: SeedThread[]): Promise<void> {
  for (let i = 0; i < threads.length; i += 100) {
    await api.post('/threads/batch', { threads: threads.slice(i, i + 100) });
  }
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's Chromium; playwright gives every launch a fresh temporary profile (user-data-dir). */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('no Chromium (install the Debian package chromium)');
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 });
}

export const DESKTOP = { width: 1360, height: 860 } as const;
export const PHONE = { width: 375, height: 780 } as const;

/** Saves a full-page screenshot to test-artifacts/screenshots/<name>.png. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Let fonts, charts and the last fetch settle so that the picture shows the finished page.
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

/** Collects page errors (uncaught exceptions) so a test can assert the app never crashed. */
export function trackPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}
