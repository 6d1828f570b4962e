/**
 * The mail sync stack for one test file, on the test app's database and ThreadTrackingService: the account and
 * mirror repositories, a secret box, the real connector (IMAP to Dovecot, Gmail to the emulator), engine, runner,
 * the accounts service and a Fastify app with the accounts routes (used through app.inject()).
 */
import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { buildApp } from '../../src/api/build-app.ts';
import { mailAccountPublicRoutes, mailAccountRoutes } from '../../src/api/routes/accounts.ts';
import type { EmailTypeRule } from '../../src/domain/detection.ts';
import type { ThreadEvent } from '../../src/domain/thread.ts';
import type { GoogleSettings } from '../../src/mail/gmail/gmail-client.ts';
import { GmailPushVerifier } from '../../src/mail/gmail/gmail-push.ts';
import { DefaultMailConnector } from '../../src/mail/mail-connector.ts';
import { AesGcmSecretBox } from '../../src/mail/secret-box.ts';
import { type Clock, systemClock } from '../../src/ports/clock.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { Jobs } from '../../src/service/job-runs.ts';
import { SyncAccountService } from '../../src/service/sync-account-service.ts';
import { SyncEngine } from '../../src/service/sync-engine.ts';
import { SyncRunner, type SyncRunnerSettings } from '../../src/service/sync-runner.ts';
import {
  KyselyMailAccountRepository,
  KyselyMailMirrorRepository,
} from '../../src/store/mail-account-repository.ts';
import { createTestApp, type EngineChoice, type TestApp } from './test-app.ts';

export interface MailSyncAppOptions {
  database?: EngineChoice;
  clock?: Clock;
  google?: GoogleSettings;
  push?: { jwksUrl: string; audience: string };
  pageSize?: number;
  concurrency?: number;
  initialDays?: number;
  runner?: Partial<SyncRunnerSettings>;
  rules?: EmailTypeRule[];
  databaseAvailable?: () => boolean;
  /** A pino logger for the app and the runner (default: silent). */
  logger?: PinoLogger;
}

export interface MailSyncApp {
  test: TestApp;
  accounts: KyselyMailAccountRepository;
  mirror: KyselyMailMirrorRepository;
  engine: SyncEngine;
  runner: SyncRunner;
  service: SyncAccountService;
  jobs: Jobs;
  app: FastifyInstance;
  /** Every event published on the bus (what the live feed would push). */
  published: ThreadEvent[];
  close(): Promise<void>;
}

export const TEST_TOKEN_KEY = Buffer.alloc(32, 42);

export async function createMailSyncApp(options: MailSyncAppOptions = {}): Promise<MailSyncApp> {
  const clock = options.clock ?? systemClock;
  const test = await createTestApp({ ...(options.database ? { database: options.database } : {}), clock });
  const published: ThreadEvent[] = [];
  test.events.subscribe((event) => published.push(event));
  const accounts = new KyselyMailAccountRepository(test.handle.db);
  const mirror = new KyselyMailMirrorRepository(test.handle.db);
  const secrets = new AesGcmSecretBox(TEST_TOKEN_KEY);
  const connector = new DefaultMailConnector({
    google: options.google,
    clock,
    pageSize: options.pageSize ?? 50,
    concurrency: options.concurrency ?? 4,
    timeoutMs: 5000,
  });
  const engine = new SyncEngine({
    service: test.service,
    store: test.store,
    mirror,
    accounts,
    events: test.events,
    clock,
    settings: {
      initialDays: options.initialDays ?? 365,
      batchSize: 100,
      ...(options.rules ? { rules: options.rules } : {}),
    },
  });
  const jobs = new Jobs({ logger: options.logger ?? silentLogger, clock });
  const runner = new SyncRunner({
    accounts,
    engine,
    connector,
    secrets,
    jobs,
    clock,
    logger: options.logger ?? silentLogger,
    databaseAvailable: options.databaseAvailable ?? (() => true),
    settings: { intervalMs: 0, maxParallel: 2, leaseMs: 60_000, maxInlineWaitMs: 5_000, ...options.runner },
  });
  const service = new SyncAccountService({
    accounts,
    connector,
    secrets,
    runner,
    clock,
    push: options.push ? new GmailPushVerifier(options.push) : undefined,
  });
  const app = await buildApp({
    service: test.service,
    leads: test.leads,
    health: test.health,
    authenticator: test.authenticator,
    ...(options.logger ? { logger: options.logger } : {}),
    apiPlugins: [mailAccountRoutes(service)],
    publicApiPlugins: [mailAccountPublicRoutes(service)],
  });
  await app.ready();
  return {
    test,
    accounts,
    mirror,
    engine,
    runner,
    service,
    jobs,
    app,
    published,
    close: async () => {
      await runner.stop();
      await app.close();
      await test.close();
    },
  };
}
