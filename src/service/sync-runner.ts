/**
 * The background sync loop of `serve`, and the runs `thread-tracker sync` and the API ask for.
 *
 * - One run per account at a time: in this process (a map of runs in flight) and across processes (a lease in the
 *   account row, renewed while the run lasts; a lease held by a process of this host that no longer exists is
 *   taken over at once, so a sync killed with SIGKILL does not block the next one).
 * - While the database is unavailable no run starts; the loop resumes by itself when it answers again.
 * - Outcomes are stored on the account (last sync, last error, throttled until, progress) for the API:
 *   a revoked authorization makes the account `needs_reconnect` (no more runs until it is reconnected); a rate limit
 *   waits as told, inline when short, else until `throttledUntil`; other failures retry with a growing delay. A run
 *   always resumes from the last committed cursor: a stop never loses a position nor repeats one.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { AppError } from '../domain/errors.ts';
import type { MailAccountStatus, SyncProgress } from '../domain/mail-sync.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { MailAccount, MailAccountRepository } from '../ports/mail-account-store.ts';
import type { MailConnector, MailCredentials, MailProvider } from '../ports/mail-provider.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import type { LoopHandle } from './job-loops.ts';
import type { Jobs } from './job-runs.ts';
import type { RunResult, SyncEngine } from './sync-engine.ts';

export interface SyncRunnerSettings {
  /** How often each account is synced by the loop; 0: only when asked (API, command line, push). */
  intervalMs: number;
  /** Accounts synced at once. */
  maxParallel: number;
  /** How long a run holds its lease without renewing it. */
  leaseMs: number;
  /** Rate-limit waits up to this long happen within the run; longer ones end it until `throttledUntil`. */
  maxInlineWaitMs: number;
  /** Gmail push: the Pub/Sub topic users.watch publishes to (renewed daily). */
  pushTopic?: string | undefined;
}

export interface SyncRunnerDeps {
  accounts: MailAccountRepository;
  engine: SyncEngine;
  connector: MailConnector;
  secrets: SecretBox;
  jobs: Jobs;
  clock: Clock;
  logger: Logger;
  databaseAvailable: () => boolean;
  settings: SyncRunnerSettings;
}

export type SyncOutcome =
  | { status: 'synced'; result: RunResult }
  | { status: 'busy' }
  | { status: 'failed'; code: string; message: string; retryAt: string | null };

export interface SyncHooks {
  onProgress?: (progress: SyncProgress) => void;
}

const TICK_MS = 1000;
const MAX_BACKOFF_MS = 3_600_000;
const PUSH_RENEW_BEFORE_MS = 6 * 86_400_000;

/** The sealing context of an account's credentials (they open for that account only). */
export const credentialsContext = (accountId: string) => `mail-account:${accountId}`;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Whether a process of this host with this pid exists. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class SyncRunner {
  readonly #deps: SyncRunnerDeps;
  readonly #owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #running = new Map<string, { promise: Promise<SyncOutcome>; abort: AbortController }>();
  readonly #requested = new Set<string>();
  /** After a failure: when the loop tries the account again, and how many failures in a row. */
  readonly #retry = new Map<string, { at: number; failures: number }>();
  readonly #loops = new Map<string, LoopHandle>();
  #timer: NodeJS.Timeout | undefined;
  #tickLoop: LoopHandle | undefined;
  #ticking = false;
  #paused = false;
  #stopped = false;

  constructor(deps: SyncRunnerDeps) {
    this.#deps = deps;
  }

  /** Starts the loop (serve). */
  start(): void {
    if (this.#timer) return;
    this.#stopped = false;
    this.#tickLoop = this.#deps.jobs.loops.register('sync', { intervalMs: TICK_MS, staleAfterMs: 60_000 });
    this.#timer = setInterval(() => void this.#tick(), TICK_MS);
    this.#timer.unref();
    void this.#tick();
  }

  /** Stops the loop and the runs in flight (they stop after their current page). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tickLoop?.stop();
    for (const loop of this.#loops.values()) loop.stop();
    this.#loops.clear();
    for (const run of this.#running.values()) run.abort.abort();
    await Promise.allSettled([...this.#running.values()].map((r) => r.promise));
  }

  /** Asks for a run of the account as soon as possible (the API's "Sync now", a Gmail push). */
  requestSync(accountId: string): void {
    this.#requested.add(accountId);
    this.#retry.delete(accountId);
    if (this.#timer) setImmediate(() => void this.#tick());
  }

  /** Whether this process is syncing the account now. */
  isRunning(accountId: string): boolean {
    return this.#running.has(accountId);
  }

  /** The status the API shows: `syncing` while a run (of any process) holds the account. */
  statusOf(account: MailAccount): MailAccountStatus {
    if (account.status === 'needs_reconnect') return account.status;
    // A lease held by a process of this host that is gone is not a sync in progress.
    const leased =
      account.syncLeaseUntil !== null &&
      Date.parse(account.syncLeaseUntil) > this.#deps.clock.now().getTime() &&
      this.#deadOwner(account.syncOwner) === undefined;
    return this.#running.has(account.id) || leased ? 'syncing' : account.status;
  }

  /** Runs a sync of the account now and waits for it (the command line); joins a run already in flight. */
  syncNow(account: MailAccount, hooks: SyncHooks = {}): Promise<SyncOutcome> {
    return this.#running.get(account.id)?.promise ?? this.#start(account, hooks);
  }

  /** Stops the account's run and loop (the account is being removed). */
  async forget(accountId: string): Promise<void> {
    const run = this.#running.get(accountId);
    run?.abort.abort();
    await run?.promise.catch(() => undefined);
    this.#loops.get(accountId)?.stop();
    this.#loops.delete(accountId);
    this.#requested.delete(accountId);
    this.#retry.delete(accountId);
    this.#deps.engine.forget(accountId);
    this.#deps.jobs.metrics.syncedUpTo(accountId, null);
  }

  // ---------------------------------------------------------------------------------------------------------

  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    const { logger, databaseAvailable, settings } = this.#deps;
    try {
      if (!databaseAvailable()) {
        if (!this.#paused) logger.warn('mail sync paused: the database is unavailable');
        this.#paused = true;
        return;
      }
      if (this.#paused) logger.info('mail sync resumed: the database answers again');
      this.#paused = false;
      const now = this.#deps.clock.now().getTime();
      for (const account of await this.#deps.accounts.list(null)) {
        if (this.#running.size >= settings.maxParallel) break;
        if (this.#running.has(account.id) || !this.#due(account, now)) continue;
        this.#requested.delete(account.id);
        void this.#start(account, {});
      }
      this.#tickLoop?.tick();
    } catch (error) {
      this.#tickLoop?.tick({ error });
      logger.warn({ err: error }, 'mail sync loop: could not list the accounts');
    } finally {
      this.#ticking = false;
    }
  }

  #due(account: MailAccount, now: number): boolean {
    if (account.status === 'needs_reconnect') {
      this.#requested.delete(account.id);
      return false;
    }
    if (account.throttledUntil !== null && Date.parse(account.throttledUntil) > now) return false;
    const retry = this.#retry.get(account.id);
    if (retry && retry.at > now) return false;
    if (this.#requested.has(account.id) || retry) return true;
    const interval = this.#deps.settings.intervalMs;
    return interval > 0 && (account.lastSyncAt === null || Date.parse(account.lastSyncAt) + interval <= now);
  }

  #start(account: MailAccount, hooks: SyncHooks): Promise<SyncOutcome> {
    const abort = new AbortController();
    // A run never rejects: whatever escapes it (the database gone while taking the lease) becomes its outcome.
    const promise = this.#run(account, hooks, abort.signal)
      .catch((error: unknown) => {
        this.#deps.logger.warn({ err: error, account: account.id }, 'mail sync could not run');
        return this.#outcome(error);
      })
      .finally(() => this.#running.delete(account.id));
    this.#running.set(account.id, { promise, abort });
    return promise;
  }

  /** The lease holder to take over: a process of this host that is gone. */
  #deadOwner(owner: string | null): string | undefined {
    if (!owner || owner === this.#owner) return undefined;
    const [host, pid] = owner.split(':');
    if (host !== hostname() || !pid || !/^\d+$/.test(pid) || Number(pid) === process.pid) return undefined;
    return processAlive(Number(pid)) ? undefined : owner;
  }

  async #claim(account: MailAccount): Promise<boolean> {
    const now = this.#deps.clock.now().getTime();
    return this.#deps.accounts.claim(
      account.id,
      this.#owner,
      new Date(now).toISOString(),
      new Date(now + this.#deps.settings.leaseMs).toISOString(),
      this.#deadOwner(account.syncOwner),
    );
  }

  async #run(initial: MailAccount, hooks: SyncHooks, signal: AbortSignal): Promise<SyncOutcome> {
    const { accounts, engine, jobs, settings, logger } = this.#deps;
    if (!(await this.#claim(initial))) return { status: 'busy' };
    const renew = setInterval(
      () => void this.#claim(initial).catch(() => undefined),
      Math.max(1000, settings.leaseMs / 3),
    );
    renew.unref();
    let provider: MailProvider | undefined;
    try {
      const credentials = this.#credentials(initial);
      provider = this.#deps.connector.open(
        {
          id: initial.id,
          email: initial.email,
          provider: initial.provider,
          settings: initial.settings,
          credentials,
        },
        (renewed) => void this.#storeCredentials(initial.id, renewed),
      );
      const loop = this.#loopOf(initial.id);
      for (let attempt = 0; ; attempt++) {
        // Read again under the lease: another process may have moved the cursor since the account was listed.
        const account = (await accounts.get(null, initial.id)) ?? initial;
        try {
          const result = await jobs.run(
            'sync',
            { account: account.id, provider: account.provider },
            ({ log }) =>
              engine.run(account, provider!, {
                signal,
                log,
                ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
              }),
            loop ? { loop } : {},
          );
          const now = this.#deps.clock.now();
          await accounts.update(account.id, {
            status: 'active',
            lastSyncAt: now.toISOString(),
            lastError: null,
            lastErrorCode: null,
            throttledUntil: null,
            progress: null,
          });
          this.#retry.delete(account.id);
          jobs.metrics.syncedUpTo(account.id, now);
          jobs.metrics.items('sync', 'messages', result.messages);
          jobs.metrics.items('sync', 'threads', result.threadsWritten);
          await this.#renewPush(account, provider);
          return { status: 'synced', result };
        } catch (error) {
          const wait =
            error instanceof AppError && error.code === 'MAIL_RATE_LIMITED'
              ? (error.retryAfter ?? 60) * 1000
              : undefined;
          if (wait !== undefined && wait <= settings.maxInlineWaitMs && attempt < 5 && !signal.aborted) {
            // Short waits within the run: the position is the committed cursor, nothing is lost or repeated.
            await this.#recordFailure(account, error);
            logger.info(
              { account: account.id, waitMs: wait },
              'mail sync rate limited: waiting, then resuming',
            );
            await sleep(wait, signal);
            if (signal.aborted) return this.#outcome(error);
            continue;
          }
          return await this.#failed(account, error);
        }
      }
    } catch (error) {
      return await this.#failed(initial, error);
    } finally {
      clearInterval(renew);
      await provider?.close().catch(() => undefined);
      await accounts.release(initial.id, this.#owner).catch(() => undefined);
    }
  }

  #credentials(account: MailAccount): MailCredentials {
    if (!account.sealedCredentials) throw new AppError('MAIL_AUTH_REVOKED', 'The account has no credentials');
    let text: string;
    try {
      text = this.#deps.secrets.open(account.sealedCredentials, credentialsContext(account.id));
    } catch (error) {
      throw new AppError(
        'MAIL_PERMANENT',
        `The stored credentials cannot be read: ${(error as Error).message}`,
      );
    }
    return JSON.parse(text) as MailCredentials;
  }

  async #storeCredentials(accountId: string, credentials: MailCredentials): Promise<void> {
    try {
      const sealed = this.#deps.secrets.seal(JSON.stringify(credentials), credentialsContext(accountId));
      await this.#deps.accounts.update(accountId, { sealedCredentials: sealed });
    } catch (error) {
      this.#deps.logger.warn({ err: error, account: accountId }, 'could not store renewed credentials');
    }
  }

  #loopOf(accountId: string): LoopHandle | undefined {
    const interval = this.#deps.settings.intervalMs;
    if (interval <= 0) return undefined;
    let loop = this.#loops.get(accountId);
    if (!loop) {
      loop = this.#deps.jobs.loops.register(`sync:${accountId}`, { intervalMs: interval });
      this.#loops.set(accountId, loop);
    }
    return loop;
  }

  async #renewPush(account: MailAccount, provider: MailProvider): Promise<void> {
    const topic = this.#deps.settings.pushTopic;
    if (!topic || !provider.renewPush) return;
    const now = this.#deps.clock.now().getTime();
    if (account.pushExpiresAt !== null && Date.parse(account.pushExpiresAt) - now > PUSH_RENEW_BEFORE_MS)
      return;
    try {
      const watch = await provider.renewPush(topic);
      await this.#deps.accounts.update(account.id, { pushExpiresAt: watch.expiresAt });
    } catch (error) {
      // Polling goes on; the next run tries again.
      this.#deps.logger.warn({ err: error, account: account.id }, 'Gmail push could not be renewed');
    }
  }

  #outcome(error: unknown, retryAt: string | null = null): SyncOutcome {
    const code = error instanceof AppError ? error.code : 'INTERNAL';
    const message = error instanceof Error ? error.message : String(error);
    return { status: 'failed', code, message, retryAt };
  }

  async #recordFailure(account: MailAccount, error: unknown): Promise<string | null> {
    const now = this.#deps.clock.now().getTime();
    const code = error instanceof AppError ? error.code : 'INTERNAL';
    const message = (error instanceof AppError ? error.message : 'Sync failed unexpectedly').slice(0, 500);
    const previous = this.#retry.get(account.id)?.failures ?? 0;
    const backoff = Math.min(
      MAX_BACKOFF_MS,
      Math.max(this.#deps.settings.intervalMs, 30_000) * 2 ** previous,
    );
    let retryAt = now + backoff;
    let status: MailAccount['status'] | undefined;
    let throttledUntil: string | null | undefined;
    if (code === 'MAIL_AUTH_REVOKED') {
      status = 'needs_reconnect';
      this.#loops.get(account.id)?.stop();
      this.#loops.delete(account.id);
    } else if (code === 'MAIL_RATE_LIMITED') {
      retryAt = now + ((error as AppError).retryAfter ?? 60) * 1000;
      throttledUntil = new Date(retryAt).toISOString();
    } else if (code === 'MAIL_PERMANENT' || code === 'INTERNAL') {
      status = 'error';
    }
    this.#retry.set(account.id, { at: retryAt, failures: previous + 1 });
    if (code === 'DB_UNAVAILABLE' || code === 'DB_TIMEOUT') return new Date(retryAt).toISOString();
    await this.#deps.accounts
      .update(account.id, {
        lastError: message,
        lastErrorCode: code,
        progress: null,
        ...(status ? { status } : {}),
        ...(throttledUntil !== undefined ? { throttledUntil } : {}),
      })
      .catch((e) => this.#deps.logger.warn({ err: e }, 'could not record the sync failure'));
    return new Date(retryAt).toISOString();
  }

  async #failed(account: MailAccount, error: unknown): Promise<SyncOutcome> {
    const retryAt = await this.#recordFailure(account, error);
    const level = error instanceof AppError && error.status < 500 ? 'info' : 'warn';
    this.#deps.logger[level](
      { account: account.id, code: error instanceof AppError ? error.code : 'INTERNAL', retryAt },
      'mail sync stopped',
    );
    return this.#outcome(error, retryAt);
  }
}
