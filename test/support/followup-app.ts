/**
 * The follow-up engine for one test file, on top of the mail sync stack (test/support/mail-sync-app.ts): its
 * repositories, the mailboxes over the real providers (Gmail emulator, Dovecot), the drafter (templates, or a model
 * at an OpenAI-compatible URL), the worker and the API routes, all on a clock the test moves.
 */
import type { FastifyInstance } from 'fastify';
import { OpenAiDrafter } from '../../src/ai/openai-drafter.ts';
import { TemplateDrafter } from '../../src/ai/template-drafter.ts';
import { buildApp } from '../../src/api/build-app.ts';
import { followupRoutes } from '../../src/api/routes/followups.ts';
import { trackingRoutes } from '../../src/api/routes/tracking.ts';
import type { GoogleSettings } from '../../src/mail/gmail/gmail-client.ts';
import { DefaultMailConnector } from '../../src/mail/mail-connector.ts';
import { AesGcmSecretBox } from '../../src/mail/secret-box.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { FollowupMailboxes } from '../../src/ports/followup-mailbox.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import type { OutgoingMessage } from '../../src/ports/mail-provider.ts';
import { AccountMailboxes } from '../../src/service/followup-mailboxes.ts';
import { FollowupService } from '../../src/service/followup-service.ts';
import { FollowupWorker, type FollowupWorkerSettings } from '../../src/service/followup-worker.ts';
import { Jobs } from '../../src/service/job-runs.ts';
import { KyselyOpenTrackingRepository } from '../../src/store/followup-open-tracking-repository.ts';
import {
  accountOfThread,
  KyselyFollowupJobRepository,
  KyselyFollowupPlanRepository,
  KyselyFollowupPolicyRepository,
} from '../../src/store/followup-repository.ts';
import { createMailSyncApp, type MailSyncApp, TEST_TOKEN_KEY } from './mail-sync-app.ts';
import type { EngineChoice } from './test-app.ts';

/** A clock the test sets and moves. */
export class TestClock implements Clock {
  #now: number;
  constructor(start: string) {
    this.#now = Date.parse(start);
  }
  now(): Date {
    return new Date(this.#now);
  }
  set(iso: string): void {
    this.#now = Date.parse(iso);
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export interface FollowupHarnessOptions {
  clock: TestClock;
  database?: EngineChoice;
  google?: GoogleSettings;
  /** An OpenAI-compatible base URL: the model drafts (else templates only). */
  openaiBaseURL?: string;
  settings?: Partial<FollowupWorkerSettings>;
  openGraceSeconds?: number;
}

export interface FollowupHarness {
  mail: MailSyncApp;
  clock: TestClock;
  worker: FollowupWorker;
  /** Every message the worker handed to a mailbox (sent or drafted), as it handed it. */
  outgoing: OutgoingMessage[];
  /** Another worker on the same database and drafter (other mailboxes or settings). */
  newWorker(overrides?: {
    mailboxes?: FollowupMailboxes;
    settings?: Partial<FollowupWorkerSettings>;
  }): FollowupWorker;
  followups: FollowupService;
  jobs: KyselyFollowupJobRepository;
  plans: KyselyFollowupPlanRepository;
  policies: KyselyFollowupPolicyRepository;
  tracking: KyselyOpenTrackingRepository;
  /** The worker's mailboxes: over the real providers, recording what the worker hands them (`outgoing`). */
  mailboxes: FollowupMailboxes;
  /** The API with the follow-up and pixel routes (and the thread routes), through app.inject(). */
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function createFollowupHarness(options: FollowupHarnessOptions): Promise<FollowupHarness> {
  const { clock } = options;
  const mail = await createMailSyncApp({
    clock,
    ...(options.database ? { database: options.database } : {}),
    ...(options.google ? { google: options.google } : {}),
    initialDays: 3650,
  });
  const db = mail.test.handle.db;
  const jobs = new KyselyFollowupJobRepository(db);
  const plans = new KyselyFollowupPlanRepository(db);
  const policies = new KyselyFollowupPolicyRepository(db);
  const tracking = new KyselyOpenTrackingRepository(db);
  const mailboxes = new AccountMailboxes({
    accounts: mail.accounts,
    mirror: mail.mirror,
    connector: new DefaultMailConnector({
      google: options.google,
      clock,
      pageSize: 50,
      concurrency: 4,
      timeoutMs: 5000,
    }),
    secrets: new AesGcmSecretBox(TEST_TOKEN_KEY),
    accountOf: (userId, threadId) => accountOfThread(db, userId, threadId),
  });
  const drafter = new TemplateDrafter({
    model: options.openaiBaseURL
      ? new OpenAiDrafter({
          baseURL: options.openaiBaseURL,
          model: 'test-model',
          timeoutMs: 5000,
          maxRetries: 1,
          baseBackoffMs: 10,
        })
      : undefined,
  });
  const outgoing: OutgoingMessage[] = [];
  const recording: FollowupMailboxes = {
    users: () => mailboxes.users(),
    close: async () => {},
    open: async (userId, threadId) => {
      const box = await mailboxes.open(userId, threadId);
      if (!box) return box;
      return {
        ...box,
        send: (m) => {
          outgoing.push(m);
          return box.send(m);
        },
        createDraft: (m) => {
          outgoing.push(m);
          return box.createDraft(m);
        },
      };
    },
  };
  const newWorker = (
    overrides: { mailboxes?: FollowupMailboxes; settings?: Partial<FollowupWorkerSettings> } = {},
  ) =>
    new FollowupWorker({
      store: mail.test.store,
      service: mail.test.service,
      policies,
      jobs,
      plans,
      tracking,
      mailboxes: overrides.mailboxes ?? recording,
      drafter,
      events: mail.test.events,
      clock,
      background: new Jobs({ logger: silentLogger, clock }),
      databaseAvailable: () => true,
      settings: {
        intervalMs: 100,
        leaseMs: 30_000,
        concurrency: 4,
        maxAttempts: 5,
        planLimit: 100,
        workerId: 'test-worker',
        trackingBaseUrl: 'https://tracker.example',
        ...options.settings,
        ...overrides.settings,
      },
    });
  const worker = newWorker();
  const followups = new FollowupService({
    store: mail.test.store,
    service: mail.test.service,
    policies,
    plans,
    tracking,
    drafter,
    events: mail.test.events,
    clock,
    openGraceSeconds: options.openGraceSeconds ?? 60,
  });
  const app = await buildApp({
    service: mail.test.service,
    leads: mail.test.leads,
    health: mail.test.health,
    authenticator: mail.test.authenticator,
    apiPlugins: [followupRoutes(followups)],
    publicApiPlugins: [trackingRoutes(followups)],
  });
  await app.ready();
  return {
    mail,
    clock,
    worker,
    outgoing,
    newWorker,
    followups,
    jobs,
    plans,
    policies,
    tracking,
    mailboxes: recording,
    app,
    close: async () => {
      await worker.stop();
      await app.close();
      await mailboxes.close();
      await mail.close();
    },
  };
}

const rfc2822 = (date: Date) => date.toUTCString().replace('GMT', '+0000');

/** A raw RFC 5322 message. */
export function rawMessage(
  headers: {
    from: string;
    to: string;
    subject: string;
    date: Date;
    messageId: string;
    inReplyTo?: string;
    references?: string;
    extra?: Record<string, string>;
  },
  body = 'Hello,\r\n\r\nA message.',
): string {
  const lines = [
    `From: ${headers.from}`,
    `To: ${headers.to}`,
    `Subject: ${headers.subject}`,
    `Date: ${rfc2822(headers.date)}`,
    `Message-ID: ${headers.messageId}`,
    ...(headers.inReplyTo ? [`In-Reply-To: ${headers.inReplyTo}`] : []),
    ...(headers.references ? [`References: ${headers.references}`] : []),
    ...Object.entries(headers.extra ?? {}).map(([k, v]) => `${k}: ${v}`),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}\r\n`;
}
