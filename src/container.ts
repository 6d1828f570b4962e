/**
 * The one place that knows every adapter: builds them from the configuration and wires them into the service.
 * Closing the container closes everything it opened, in reverse order.
 */

import { join } from 'node:path';
import type { Logger as PinoLogger } from 'pino';
import { OpenAiDrafter } from './ai/openai-drafter.ts';
import { TemplateDrafter } from './ai/template-drafter.ts';
import { type Authenticator, JwtAuthenticator, LocalAuthenticator } from './api/auth/authenticator.ts';
import { type AppDeps, buildApp } from './api/build-app.ts';
import { mailAccountPublicRoutes, mailAccountRoutes } from './api/routes/accounts.ts';
import { followupRoutes } from './api/routes/followups.ts';
import { trackingRoutes } from './api/routes/tracking.ts';
import { createCache } from './cache/create-cache.ts';
import { TieredCache } from './cache/tiered-cache.ts';
import type { Config } from './config.ts';
import { LocalEventBus } from './events/local-event-bus.ts';
import { RedisEventBus } from './events/redis-event-bus.ts';
import { createLogger } from './logger.ts';
import { GmailPushVerifier } from './mail/gmail/gmail-push.ts';
import { DefaultMailConnector } from './mail/mail-connector.ts';
import { AesGcmSecretBox, loadOrCreateKey } from './mail/secret-box.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { createJobMetrics, registerOperationsMetrics } from './metrics/ops-metrics.ts';
import { createQueryObserver } from './metrics/query-metrics.ts';
import type { Cache } from './ports/cache.ts';
import { type Clock, systemClock } from './ports/clock.ts';
import type { EventBus } from './ports/event-bus.ts';
import type { MailAccountRepository, MailMirrorRepository } from './ports/mail-account-store.ts';
import type { MailConnector } from './ports/mail-provider.ts';
import type { SecretBox } from './ports/secret-box.ts';
import type { Store } from './ports/store.ts';
import type { BackupStore, ThreadExportStore, ThreadImportStore } from './ports/thread-archive.ts';
import { CacheWarmer } from './service/cache-warmer.ts';
import { CleanupService } from './service/cleanup-service.ts';
import { AccountMailboxes } from './service/followup-mailboxes.ts';
import { FollowupService } from './service/followup-service.ts';
import { FollowupWorker } from './service/followup-worker.ts';
import { cacheCheck, databaseCheck, HealthService, replicasCheck } from './service/health-service.ts';
import { backgroundCheck } from './service/job-loops.ts';
import { currentJobLogger, Jobs } from './service/job-runs.ts';
import { LeadService } from './service/lead-service.ts';
import { OutageQueue, type QueuedWrite } from './service/outage-queue.ts';
import { SyncAccountService } from './service/sync-account-service.ts';
import { SyncEngine } from './service/sync-engine.ts';
import { SyncRunner } from './service/sync-runner.ts';
import { isDatabaseUnavailable, ThreadTrackingService } from './service/thread-tracking-service.ts';
import { KyselyBackupStore } from './store/backup-import-export.ts';
import { lockDataDir } from './store/data-dir-lock.ts';
import { type DatabaseHandle, type DatabaseOptions, openDatabase } from './store/database.ts';
import type { QueryObserver } from './store/drivers/query-observer.ts';
import { KyselyOpenTrackingRepository } from './store/followup-open-tracking-repository.ts';
import {
  accountOfThread,
  KyselyFollowupJobRepository,
  KyselyFollowupPlanRepository,
  KyselyFollowupPolicyRepository,
} from './store/followup-repository.ts';
import { OutageJournal } from './store/journal/outage-journal.ts';
import { KyselyStore } from './store/kysely-store.ts';
import {
  KyselyMailAccountRepository,
  KyselyMailMirrorRepository,
  KyselyMailThreadExistence,
} from './store/mail-account-repository.ts';
import { KyselyMaintenanceStore } from './store/maintenance-repository.ts';
import { migrations } from './store/migrations/index.ts';
import { Migrator } from './store/migrator.ts';
import { parsePostgresError } from './store/parse-postgres-error.ts';
import { ReplicaRoutingStore } from './store/replica-router.ts';
import { ResilientStore } from './store/resilient-store.ts';
import { KyselyThreadExporter } from './store/thread-export.ts';
import { KyselyThreadImporter } from './store/thread-import.ts';
import { primaryInsertLsn, replicaReplayLsn } from './store/wal-position.ts';

export interface Container {
  config: Readonly<Config>;
  logger: PinoLogger;
  store: Store;
  cache: Cache;
  events: EventBus;
  clock: Clock;
  service: ThreadTrackingService;
  leads: LeadService;
  health: HealthService;
  authenticator: Authenticator;
  migrator: Migrator;
  warmer: CacheWarmer;
  metrics: Metrics | undefined;
  /** Background work reports here: run logs with run ids, heartbeats (readiness), job metrics. */
  jobs: Jobs;
  /** Mail accounts and their sync: `serve` starts the loop, `thread-tracker sync` runs one account. */
  mail: MailSync;
  /** The automated cleanup: `serve` schedules it, `thread-tracker cleanup` runs it once. */
  cleanup: CleanupService;
  /** Follow-ups: the worker (`serve` and `thread-tracker worker` start it) and what the API asks of them. */
  followups: Followups;
  /** Whether the database can be used now; background work pauses while it cannot. */
  databaseAvailable: () => boolean;
  queue: OutageQueue | undefined;
  buildHttpApp(extra?: Partial<AppDeps>): ReturnType<typeof buildApp>;
  close(): Promise<void>;
}

export interface ContainerOverrides {
  logger?: PinoLogger;
  clock?: Clock;
  /** Skip migrations even when MIGRATE_ON_START is set (the migrate command runs them itself). */
  skipMigrations?: boolean;
}

export async function createContainer(
  config: Readonly<Config>,
  overrides: ContainerOverrides = {},
): Promise<Container> {
  const logger = overrides.logger ?? createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      try {
        await closer();
      } catch (error) {
        logger.error({ err: error }, 'error while shutting down');
      }
    }
  };
  try {
    // One process per data directory: it holds the embedded database and the outage journal.
    closers.push(lockDataDir(config.dataDir));
    const metrics = config.METRICS_ENABLED ? createMetrics() : undefined;
    const onQuery = createQueryObserver({
      ...(metrics ? { histogram: metrics.dbQueryDuration } : {}),
      logger,
      slowQueryMs: config.DB_SLOW_QUERY_MS,
      contextLogger: currentJobLogger,
    });
    const handle = await openDatabase(databaseOptions(config, onQuery));
    const migrator = new Migrator(handle.db, migrations);
    let migrated = !config.MIGRATE_ON_START || overrides.skipMigrations === true;
    const migrate = async () => {
      if (migrated) return;
      const result = await migrator.migrateTo();
      migrated = true;
      if (result.applied.length > 0) logger.info({ migrations: result.applied }, 'database migrated');
    };
    const baseStore = new KyselyStore(handle);
    let onDatabaseBack: () => void = () => {};
    const primaryStore =
      handle.heartbeat === undefined
        ? baseStore
        : new ResilientStore(baseStore, {
            retryAttempts: config.DB_RETRY_ATTEMPTS,
            heartbeat: handle.heartbeat,
            heartbeatIntervalMs: config.DB_HEARTBEAT_INTERVAL_MS,
            heartbeatTimeoutMs: config.DB_HEARTBEAT_TIMEOUT_MS,
            // Migrations first: nothing (a queued write included) may reach a schema that is not current.
            beforeRecover: migrate,
            onStateChange: (state, previous) => {
              if (state === 'open' && previous === 'closed') handle.recyclePool?.();
              logger[state === 'closed' ? 'info' : 'warn'](
                { breaker: 'database', state, previous },
                'database circuit breaker changed state',
              );
              if (state === 'closed') onDatabaseBack();
            },
            logger,
          });
    // Reads on replicas when configured (read-your-writes for the writing user), everything else on the primary.
    const store: Store = config.DATABASE_READ_URL
      ? await withReplicas(primaryStore, handle, config.DATABASE_READ_URL, config, logger)
      : primaryStore;
    closers.push(() => store.close());
    try {
      await migrate();
    } catch (error) {
      if (!(primaryStore instanceof ResilientStore) || !isDatabaseUnavailable(parsePostgresError(error)))
        throw error;
      // Start without the database: reads come from the cache, writes are queued, and migrations run as soon
      // as it answers.
      logger.error({ err: error }, 'the database is unavailable at start-up; starting degraded');
      primaryStore.breaker.trip();
    }
    const databaseAvailable = () =>
      !(primaryStore instanceof ResilientStore) || (primaryStore.available && migrated);
    const writesQueued =
      (config.DB_OUTAGE_WRITES ?? (config.database.engine === 'postgres' ? 'journal' : 'reject')) ===
      'journal';
    const queue = writesQueued
      ? new OutageQueue(
          await OutageJournal.open<QueuedWrite>({
            dir: join(config.dataDir, 'journal'),
            maxBytes: config.JOURNAL_MAX_BYTES,
            maxAgeMs: config.JOURNAL_MAX_AGE_S * 1000,
            logger,
          }),
          logger,
        )
      : undefined;
    if (queue) closers.push(() => queue.close());

    const cache = await createCache({
      ttlSeconds: config.THREAD_CACHE_TTL,
      staleRetentionSeconds: config.STALE_READ_MAX_AGE_S,
      maxSize: config.CACHE_MAX_SIZE,
      cleanupIntervalMs: config.CACHE_CLEANUP_INTERVAL_MS,
      ...(config.REDIS_URL
        ? {
            redis: {
              url: config.REDIS_URL,
              commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
              degradedTtlSeconds: config.CACHE_DEGRADED_TTL,
              l1Enabled: config.CACHE_L1_ENABLED,
            },
          }
        : {}),
      logger,
    });
    closers.push(() => cache.close());
    const onEventError = (error: unknown) => logger.error({ err: error }, 'event listener failed');
    // With Redis, events reach the live feeds of every instance; without, only this one's.
    const events = config.REDIS_URL
      ? new RedisEventBus(config.REDIS_URL, onEventError)
      : new LocalEventBus(onEventError);
    closers.push(() => events.close());
    const clock = overrides.clock ?? systemClock;
    const service = new ThreadTrackingService({
      store,
      cache,
      clock,
      events,
      config: { cacheTtlSeconds: config.THREAD_CACHE_TTL, batchSize: config.THREAD_BATCH_SIZE },
      logger,
      outage: {
        databaseAvailable,
        ...(queue ? { queue } : {}),
        staleReadMaxAgeMs: config.STALE_READ_MAX_AGE_S * 1000,
      },
    });
    if (queue) {
      // Queued writes replay as soon as the database answers again, at start-up too, and are retried every second
      // while any are left (a replay stops when the database goes away again).
      const replay = () => {
        if (queue.depth > 0 && databaseAvailable()) {
          queue
            .replay((record) => service.replayQueued(record))
            .catch((error: unknown) =>
              logger.error({ err: error }, 'replaying queued writes failed; will retry'),
            );
        }
      };
      onDatabaseBack = replay;
      const timer = setInterval(replay, 1000);
      timer.unref();
      closers.push(() => clearInterval(timer));
      replay();
    }
    const leads = new LeadService(store);
    const jobs = new Jobs({
      logger,
      clock,
      ...(metrics ? { metrics: createJobMetrics(metrics, clock) } : {}),
    });
    const health = new HealthService([
      databaseCheck(store, { queue, critical: !queue, databaseAvailable }),
      cacheCheck(cache),
      backgroundCheck(jobs.loops),
    ]);
    if (store instanceof ReplicaRoutingStore) health.addCheck(replicasCheck(store));
    const warmer = new CacheWarmer({
      store,
      cache,
      service,
      ttlSeconds: config.THREAD_CACHE_TTL,
      limits: {
        // No more threads than the memory tier keeps beside the users' first pages: warming more would evict the
        // most recent ones it loaded first.
        threads: Math.min(
          config.CACHE_WARM_THREADS,
          Math.max(0, config.CACHE_MAX_SIZE - 2 * config.CACHE_WARM_USERS - 10),
        ),
        users: config.CACHE_WARM_USERS,
        timeBudgetMs: config.CACHE_WARM_BUDGET_MS,
      },
      logger,
    });
    if (cache instanceof TieredCache) {
      // A Redis that restarted has lost everything: warm it again once it answers.
      cache.onRecovered(async () => {
        if (await cache.redisRestarted()) void warmer.warm();
      });
    }
    const cleanup = new CleanupService({
      maintenance: new KyselyMaintenanceStore(handle.db),
      idempotency: store.idempotency,
      deleteThread: (userId, threadId) => service.deleteThread(userId, threadId),
      cache,
      events,
      jobs,
      clock,
      logger,
      settings: {
        purgeDeletedAfterDays: config.CLEANUP_PURGE_DELETED_AFTER_DAYS,
        eventRetentionDays: config.EVENT_RETENTION_DAYS,
        cacheTtlSeconds: config.THREAD_CACHE_TTL,
      },
      // Threads mail sync found gone from the mailbox whose deletion did not land.
      mailThreads: new KyselyMailThreadExistence(handle.db),
      databaseAvailable,
    });
    closers.push(() => cleanup.stop());
    const mail = createMailSync(config, {
      db: handle.db,
      service,
      store,
      events,
      clock,
      jobs,
      logger,
      databaseAvailable,
    });
    closers.push(() => mail.runner.stop());
    const followups = createFollowups(config, {
      db: handle.db,
      primary: baseStore,
      service,
      mail,
      events,
      clock,
      jobs,
      logger,
      databaseAvailable,
    });
    closers.push(() => followups.close());
    const authenticator = createAuthenticator(config);
    if (metrics) {
      registerComponentMetrics(metrics, { store, cache });
      registerOperationsMetrics(metrics, { queue, loops: jobs.loops, clock });
    }

    return {
      config,
      logger,
      store,
      cache,
      events,
      clock,
      service,
      leads,
      health,
      authenticator,
      migrator,
      warmer,
      metrics,
      jobs,
      mail,
      cleanup,
      followups,
      databaseAvailable,
      queue,
      buildHttpApp: (extra = {}) =>
        buildApp({
          service,
          leads,
          health,
          authenticator,
          logger,
          bodyLimit: config.BODY_LIMIT_BYTES,
          trustProxy: config.TRUST_PROXY,
          webDistDir: config.WEB_DIST_DIR,
          events,
          ...(metrics ? { metrics } : {}),
          publicConfig: {
            ...(config.SUPABASE_URL ? { supabaseUrl: config.SUPABASE_URL } : {}),
            ...(config.SUPABASE_ANON_KEY ? { supabaseAnonKey: config.SUPABASE_ANON_KEY } : {}),
          },
          ...extra,
          apiPlugins: [
            mailAccountRoutes(mail.accounts),
            followupRoutes(followups.service),
            ...(extra.apiPlugins ?? []),
          ],
          publicApiPlugins: [
            mailAccountPublicRoutes(mail.accounts),
            trackingRoutes(followups.service),
            ...(extra.publicApiPlugins ?? []),
          ],
        }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** What the data commands (export, import, backup, restore) work with. */
export interface DataTools {
  config: Readonly<Config>;
  logger: PinoLogger;
  engine: 'pglite' | 'postgres';
  migrator: Migrator;
  exporter: ThreadExportStore;
  importer: ThreadImportStore;
  backups: BackupStore;
  close(): Promise<void>;
}

/**
 * The database alone, for the data commands: no cache, no outage journal, no background work. The embedded database
 * is locked as `serve` locks it (one process at a time); on PostgreSQL these commands run beside live servers.
 * Migrations run only when `migrate` is set (a backup must never change the schema it is backing up).
 */
export async function openDataTools(
  config: Readonly<Config>,
  options: { logger: PinoLogger; migrate?: boolean },
): Promise<DataTools> {
  const { logger } = options;
  const unlock = config.database.engine === 'pglite' ? lockDataDir(config.dataDir) : () => {};
  let handle: DatabaseHandle | undefined;
  try {
    // No slow-query lines: these commands run bulk statements that are long by design.
    handle = await openDatabase(databaseOptions(config));
    const migrator = new Migrator(handle.db, migrations);
    if (options.migrate) await migrator.migrateTo();
    const opened = handle;
    return {
      config,
      logger,
      engine: opened.engine,
      migrator,
      exporter: new KyselyThreadExporter(opened.db),
      importer: new KyselyThreadImporter(opened.db),
      backups: new KyselyBackupStore(opened.db),
      close: async () => {
        await opened.close();
        unlock();
      },
    };
  } catch (error) {
    await handle?.close();
    unlock();
    throw error;
  }
}

/** Gauges read at scrape time from the components that hold the figures. */
function registerComponentMetrics(metrics: Metrics, deps: { store: Store; cache: Cache }): void {
  metrics.gauge(
    'thread_tracker_db_pool_connections',
    'Database pool connections by state',
    ['state'],
    (set) => {
      const pool = deps.store.poolStats();
      set({ state: 'in_use' }, pool.inUse);
      set({ state: 'idle' }, pool.idle);
      set({ state: 'waiting' }, pool.waiting);
      set({ state: 'size' }, pool.size);
    },
  );
  const tiers = () =>
    deps.cache instanceof TieredCache
      ? { l1: deps.cache.tierStats().l1, l2: deps.cache.tierStats().l2, all: deps.cache.stats() }
      : { l1: deps.cache.stats(), all: deps.cache.stats() };
  metrics.gauge(
    'thread_tracker_cache_lookups',
    'Cache lookups by tier and outcome (cumulative)',
    ['tier', 'outcome'],
    (set) => {
      for (const [tier, stats] of Object.entries(tiers())) {
        set({ tier, outcome: 'hit' }, stats.hits);
        set({ tier, outcome: 'miss' }, stats.misses);
      }
    },
  );
  metrics.gauge(
    'thread_tracker_cache_hit_ratio',
    'Cache hits over lookups since start, by tier',
    ['tier'],
    (set) => {
      for (const [tier, stats] of Object.entries(tiers())) {
        const lookups = stats.hits + stats.misses;
        if (lookups > 0) set({ tier }, stats.hits / lookups);
      }
    },
  );
  metrics.gauge('thread_tracker_cache_errors', 'Cache errors by tier (cumulative)', ['tier'], (set) => {
    for (const [tier, stats] of Object.entries(tiers())) set({ tier }, stats.errors);
  });
  metrics.gauge(
    'thread_tracker_circuit_breaker_state',
    'Circuit breaker state: 0 closed, 1 half-open, 2 open',
    ['breaker'],
    (set) => {
      const code = (state: string) => (state === 'closed' ? 0 : state === 'half-open' ? 1 : 2);
      if (deps.cache instanceof TieredCache) set({ breaker: 'redis' }, code(deps.cache.breakerState));
      const breaker = (deps.store as { breaker?: { state: string } }).breaker;
      if (breaker) set({ breaker: 'database' }, code(breaker.state));
    },
  );
}

/** How to open the configured database; `onQuery` observes every statement (metrics, slow-query lines). */
export function databaseOptions(config: Readonly<Config>, onQuery?: QueryObserver): DatabaseOptions {
  const observer = onQuery ? { onQuery } : {};
  if (config.database.engine === 'pglite') return { engine: 'pglite', dataDir: config.dataDir, ...observer };
  return {
    engine: 'postgres',
    url: config.database.url,
    poolSize: config.DB_POOL_SIZE,
    queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
    connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
    ...(config.DB_PREPARED_STATEMENTS === undefined ? {} : { prepare: config.DB_PREPARED_STATEMENTS }),
    ...observer,
  };
}

/** Opens every read replica and routes reads to them (see store/replica-router.ts). */
async function withReplicas(
  primary: Store,
  primaryHandle: DatabaseHandle,
  urls: string,
  config: Readonly<Config>,
  logger: PinoLogger,
): Promise<Store> {
  const replicas = await Promise.all(
    urls
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean)
      .map(async (url, i) => {
        const handle = await openDatabase({
          engine: 'postgres',
          url,
          poolSize: config.DB_POOL_SIZE,
          queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
          connectTimeoutMs: config.DB_CONNECT_TIMEOUT_MS,
          applicationName: 'thread-tracker-reader',
        });
        return {
          name: `replica-${i + 1}`,
          store: new KyselyStore(handle),
          replayLsn: () => replicaReplayLsn(handle.db),
        };
      }),
  );
  logger.info({ replicas: replicas.length }, 'reads go to read replicas when they are up to date');
  return new ReplicaRoutingStore(primary, replicas, {
    primaryLsn: () => primaryInsertLsn(primaryHandle.db),
    logger,
  });
}

export interface MailSync {
  accounts: SyncAccountService;
  runner: SyncRunner;
  /** The same repositories, secrets and connector, for the follow-up engine's mailboxes. */
  parts: {
    accounts: MailAccountRepository;
    mirror: MailMirrorRepository;
    connector: MailConnector;
    secrets: SecretBox;
  };
}

/** Mail accounts and sync: repositories, the secret box, the providers' connector, the engine and the runner. */
function createMailSync(
  config: Readonly<Config>,
  deps: {
    db: DatabaseHandle['db'];
    service: ThreadTrackingService;
    store: Store;
    events: EventBus;
    clock: Clock;
    jobs: Jobs;
    logger: PinoLogger;
    databaseAvailable: () => boolean;
  },
): MailSync {
  const { clock } = deps;
  const accounts = new KyselyMailAccountRepository(deps.db);
  const mirror = new KyselyMailMirrorRepository(deps.db);
  const secrets = new AesGcmSecretBox(loadOrCreateKey(config.TOKEN_ENCRYPTION_KEY, config.dataDir));
  const host = /^(0\.0\.0\.0|::)$/.test(config.HOST)
    ? 'localhost'
    : config.HOST.includes(':')
      ? `[${config.HOST}]`
      : config.HOST;
  const connector = new DefaultMailConnector({
    google:
      config.GOOGLE_CLIENT_ID && config.GOOGLE_CLIENT_SECRET
        ? {
            clientId: config.GOOGLE_CLIENT_ID,
            clientSecret: config.GOOGLE_CLIENT_SECRET,
            redirectUri:
              config.GOOGLE_REDIRECT_URI ?? `http://${host}:${config.PORT}/api/v1/accounts/gmail/callback`,
            authUrl: config.GOOGLE_AUTH_URL,
            tokenUrl: config.GOOGLE_TOKEN_URL,
            apiUrl: config.GMAIL_API_URL,
          }
        : undefined,
    clock,
    pageSize: config.MAIL_SYNC_PAGE_SIZE,
    concurrency: config.MAIL_SYNC_CONCURRENCY,
  });
  const engine = new SyncEngine({
    service: deps.service,
    store: deps.store,
    mirror,
    accounts,
    events: deps.events,
    clock,
    settings: {
      ...(config.MAIL_EMAIL_TYPE_RULES ? { rules: config.MAIL_EMAIL_TYPE_RULES } : {}),
      initialDays: config.MAIL_SYNC_INITIAL_DAYS,
      batchSize: config.THREAD_BATCH_SIZE,
    },
  });
  const runner = new SyncRunner({
    accounts,
    engine,
    connector,
    secrets,
    jobs: deps.jobs,
    clock,
    logger: deps.logger,
    databaseAvailable: deps.databaseAvailable,
    settings: {
      intervalMs: config.MAIL_SYNC_INTERVAL_S * 1000,
      maxParallel: config.MAIL_SYNC_MAX_PARALLEL,
      leaseMs: 120_000,
      maxInlineWaitMs: config.MAIL_SYNC_MAX_INLINE_WAIT_S * 1000,
      pushTopic: config.GMAIL_PUSH_TOPIC,
    },
  });
  const push = config.GMAIL_PUSH_AUDIENCE
    ? new GmailPushVerifier({
        jwksUrl: config.GOOGLE_JWKS_URL,
        audience: config.GMAIL_PUSH_AUDIENCE,
        serviceAccount: config.GMAIL_PUSH_SERVICE_ACCOUNT,
      })
    : undefined;
  return {
    accounts: new SyncAccountService({ accounts, connector, secrets, runner, clock, push }),
    runner,
    parts: { accounts, mirror, connector, secrets },
  };
}

export interface Followups {
  service: FollowupService;
  worker: FollowupWorker;
  close(): Promise<void>;
}

/** The follow-up engine: its repositories, the drafter (model and templates), the mailboxes, worker and service. */
function createFollowups(
  config: Readonly<Config>,
  deps: {
    db: DatabaseHandle['db'];
    /** The primary database without replicas: the worker re-checks threads where they are written. */
    primary: Store;
    service: ThreadTrackingService;
    mail: MailSync;
    events: EventBus;
    clock: Clock;
    jobs: Jobs;
    logger: PinoLogger;
    databaseAvailable: () => boolean;
  },
): Followups {
  const { db, clock, logger } = deps;
  const policies = new KyselyFollowupPolicyRepository(db);
  const plans = new KyselyFollowupPlanRepository(db);
  const tracking = new KyselyOpenTrackingRepository(db);
  const model =
    config.OPENAI_API_KEY || config.OPENAI_BASE_URL
      ? new OpenAiDrafter({
          apiKey: config.OPENAI_API_KEY,
          baseURL: config.OPENAI_BASE_URL,
          model: config.OPENAI_MODEL,
          timeoutMs: config.OPENAI_TIMEOUT_MS,
          maxRetries: config.OPENAI_MAX_RETRIES,
        })
      : undefined;
  const drafter = new TemplateDrafter({ model, logger });
  const mailboxes = new AccountMailboxes({
    ...deps.mail.parts,
    accountOf: (userId, threadId) => accountOfThread(db, userId, threadId),
    ...(config.MAIL_EMAIL_TYPE_RULES ? { rules: config.MAIL_EMAIL_TYPE_RULES } : {}),
    logger,
  });
  const worker = new FollowupWorker({
    store: deps.primary,
    service: deps.service,
    policies,
    jobs: new KyselyFollowupJobRepository(db),
    plans,
    tracking,
    mailboxes,
    drafter,
    events: deps.events,
    clock,
    background: deps.jobs,
    logger,
    databaseAvailable: deps.databaseAvailable,
    settings: {
      intervalMs: config.FOLLOWUP_POLL_INTERVAL_MS,
      leaseMs: config.FOLLOWUP_LEASE_S * 1000,
      concurrency: config.FOLLOWUP_CONCURRENCY,
      maxAttempts: config.FOLLOWUP_MAX_ATTEMPTS,
      planLimit: 100,
      trackingBaseUrl: config.PUBLIC_BASE_URL,
    },
  });
  const service = new FollowupService({
    store: deps.primary,
    service: deps.service,
    policies,
    plans,
    tracking,
    drafter,
    events: deps.events,
    clock,
    openGraceSeconds: config.OPEN_TRACKING_GRACE_S,
    logger,
  });
  return {
    service,
    worker,
    close: async () => {
      await worker.stop();
      await mailboxes.close();
    },
  };
}

export function createAuthenticator(config: Readonly<Config>): Authenticator {
  if (config.authMode === 'local') return new LocalAuthenticator(config.LOCAL_USER_ID);
  const supabase = config.SUPABASE_URL?.replace(/\/$/, '');
  return new JwtAuthenticator({
    secret: config.JWT_SECRET ?? config.SUPABASE_JWT_SECRET,
    jwksUrl: config.JWT_JWKS_URL ?? (supabase ? `${supabase}/auth/v1/.well-known/jwks.json` : undefined),
    algorithms: config.jwtAlgorithms,
    issuer: config.JWT_ISSUER ?? (supabase ? `${supabase}/auth/v1` : undefined),
    audience: config.JWT_AUDIENCE ?? (supabase ? 'authenticated' : undefined),
    adminClaim: config.JWT_ADMIN_CLAIM,
    adminValue: config.JWT_ADMIN_VALUE,
  });
}
