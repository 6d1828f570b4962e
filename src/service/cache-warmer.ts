/**
 * Cache warming (the spec's phase 3): loads the most recently active threads and the first list pages of the most
 * recently active users into the cache, in the background, within a time budget and a row budget, so a cold cache
 * after a start or a Redis restart does not send every first request to the database. Warming never replaces a
 * newer cached version (versioned writes) and never delays readiness.
 */
import type { Cache } from '../ports/cache.ts';
import type { Logger } from '../ports/logger.ts';
import type { Store } from '../ports/store.ts';
import { threadKey, versionOf } from './thread-cache.ts';
import type { ThreadTrackingService } from './thread-tracking-service.ts';

export interface WarmLimits {
  threads: number;
  users: number;
  timeBudgetMs: number;
}

export interface WarmResult {
  threads: number;
  lists: number;
  ms: number;
  stoppedEarly: boolean;
}

/** The list queries the web app opens first: everything, and active visible threads. */
const FIRST_PAGES = [
  { sort: 'lastActivity', order: 'desc', limit: 50 },
  { sort: 'lastActivity', order: 'desc', limit: 50, status: 'active', hidden: false },
] as const;

export class CacheWarmer {
  readonly #store: Store;
  readonly #cache: Cache;
  readonly #service: ThreadTrackingService;
  readonly #limits: WarmLimits;
  readonly #ttlSeconds: number;
  readonly #log: Logger | undefined;
  #running: Promise<WarmResult> | undefined;

  constructor(deps: {
    store: Store;
    cache: Cache;
    service: ThreadTrackingService;
    limits: WarmLimits;
    ttlSeconds: number;
    logger?: Logger;
  }) {
    this.#store = deps.store;
    this.#cache = deps.cache;
    this.#service = deps.service;
    this.#limits = deps.limits;
    this.#ttlSeconds = deps.ttlSeconds;
    this.#log = deps.logger;
  }

  /** Starts warming unless a run is in progress; resolves with what was loaded. Never rejects. */
  warm(): Promise<WarmResult> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<WarmResult> {
    const started = performance.now();
    const deadline = started + this.#limits.timeBudgetMs;
    const result: WarmResult = { threads: 0, lists: 0, ms: 0, stoppedEarly: false };
    try {
      const threads = await this.#store.threads.recent(this.#limits.threads);
      const users: string[] = [];
      for (const thread of threads) {
        if (performance.now() > deadline) {
          result.stoppedEarly = true;
          break;
        }
        await this.#cache.setVersioned(
          threadKey(thread.userId, thread.threadId),
          JSON.stringify(thread),
          versionOf(thread.updatedAt),
          this.#ttlSeconds,
        );
        result.threads++;
        if (users.length < this.#limits.users && !users.includes(thread.userId)) users.push(thread.userId);
      }
      for (const userId of users) {
        for (const query of FIRST_PAGES) {
          if (performance.now() > deadline) {
            result.stoppedEarly = true;
            break;
          }
          await this.#service.listThreadsResult(userId, { ...query });
          result.lists++;
        }
      }
    } catch (error) {
      this.#log?.warn({ err: error }, 'cache warming stopped by an error');
      result.stoppedEarly = true;
    }
    result.ms = Math.round(performance.now() - started);
    this.#log?.info(result, 'cache warmed');
    return result;
  }
}
