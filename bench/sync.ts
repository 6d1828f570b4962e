/**
 * `npm run bench:sync`: mail sync throughput and latency, through the real wiring (createContainer, the accounts
 * service, the runner) on the embedded database (PGlite) and, when installed, on a durable PostgreSQL.
 *
 * The mailbox: 10,000 messages in 2,000 threads (each: sent, reply, sent, reply, sent), in Dovecot (Sent and
 * INBOX, over IMAP) and in the Gmail API emulator (the real @googleapis/gmail client over HTTP).
 * - first sync: wall time of one `sync` from an empty database, messages per second;
 * - incremental: one new reply delivered, then one sync: wall time until the thread is updated, 20 times (p50, p95).
 * Options: --threads <n> (2000), --increments <n> (20), --engines pglite,postgres. Results also go to
 * bench/results/sync-*.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { type Container, createContainer } from '../src/container.ts';
import { GmailEmulator } from '../test/emulators/gmail/gmail-emulator.ts';
import { type DovecotServer, dovecotInstalled, startDovecot } from '../test/harness/dovecot.ts';
import {
  createPostgresDatabase,
  type PostgresServer,
  postgresBinaries,
  startPostgres,
} from '../test/harness/postgres.ts';
import { buildCorpus, type Corpus, replyTo, USER } from '../test/support/mail-corpus.ts';
import { appendToDovecot, loadIntoEmulator, loopbackServers } from '../test/support/mail-fixtures.ts';
import { startSmtpRelay } from '../test/support/smtp-relay.ts';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2000' },
    increments: { type: 'string', default: '20' },
    engines: { type: 'string', default: 'pglite,postgres' },
  },
});
const THREADS = Number(args.threads);
const INCREMENTS = Number(args.increments);
const PASSWORD = 'bench-password';
const CLIENT = { clientId: 'bench-client', clientSecret: 'bench-secret' };

interface Row {
  provider: 'imap' | 'gmail';
  database: string;
  messages: number;
  firstSyncSeconds: number;
  messagesPerSecond: number;
  incrementalP50Ms: number;
  incrementalP95Ms: number;
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

async function withContainer<T>(
  env: Record<string, string>,
  work: (container: Container) => Promise<T>,
): Promise<T> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tt-bench-sync-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    MAIL_SYNC_INTERVAL_S: '0',
    MAIL_SYNC_INITIAL_DAYS: '3650',
    METRICS_ENABLED: 'false',
    ...env,
  });
  const container = await createContainer(config, { logger: pino({ level: 'warn' }) });
  try {
    return await work(container);
  } finally {
    await container.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function measure(
  container: Container,
  accountId: string,
  corpus: Corpus,
  deliver: (raw: string, at: Date) => Promise<void>,
): Promise<Omit<Row, 'provider' | 'database'>> {
  const started = performance.now();
  const first = await container.mail.accounts.syncNow(null, accountId);
  const seconds = (performance.now() - started) / 1000;
  if (first.status !== 'synced') throw new Error(`first sync failed: ${JSON.stringify(first)}`);
  const latencies: number[] = [];
  for (let i = 0; i < INCREMENTS; i++) {
    const reply = replyTo(corpus, (i * 97) % corpus.threads.length, new Date(), {
      id: `<bench-${i}-${Date.now()}@contacts.test>`,
    });
    await deliver(reply.raw, new Date());
    const t0 = performance.now();
    const outcome = await container.mail.accounts.syncNow(null, accountId);
    latencies.push(performance.now() - t0);
    if (outcome.status !== 'synced' || outcome.result.messages < 1) {
      throw new Error(`incremental sync failed: ${JSON.stringify(outcome)}`);
    }
  }
  return {
    messages: first.result.messages,
    firstSyncSeconds: Math.round(seconds * 100) / 100,
    messagesPerSecond: Math.round(first.result.messages / seconds),
    incrementalP50Ms: Math.round(quantile(latencies, 0.5) * 10) / 10,
    incrementalP95Ms: Math.round(quantile(latencies, 0.95) * 10) / 10,
  };
}

async function imapRow(
  dovecot: DovecotServer,
  corpus: Corpus,
  database: string,
  env: Record<string, string>,
) {
  const relay = await startSmtpRelay(dovecot);
  try {
    return await withContainer(env, async (container) => {
      const { account } = await container.mail.accounts.addImap(container.config.LOCAL_USER_ID, {
        email: USER,
        ...loopbackServers(dovecot, relay),
        password: PASSWORD,
      });
      const row = await measure(container, account.id, corpus, async (raw, at) => {
        await dovecot.deliver(USER, raw, { date: at });
      });
      return { provider: 'imap' as const, database, ...row };
    });
  } finally {
    await relay.close();
  }
}

async function gmailRow(corpus: Corpus, database: string, env: Record<string, string>) {
  const emulator = await GmailEmulator.start(CLIENT);
  try {
    emulator.consentAs(USER);
    loadIntoEmulator(emulator, corpus);
    const redirect = 'http://127.0.0.1:3000/api/v1/accounts/gmail/callback';
    const google = emulator.settings(redirect);
    return await withContainer(
      {
        ...env,
        GOOGLE_CLIENT_ID: CLIENT.clientId,
        GOOGLE_CLIENT_SECRET: CLIENT.clientSecret,
        GOOGLE_REDIRECT_URI: redirect,
        GOOGLE_AUTH_URL: google.authUrl,
        GOOGLE_TOKEN_URL: google.tokenUrl,
        GMAIL_API_URL: google.apiUrl,
      },
      async (container) => {
        const consent = await fetch(container.mail.accounts.gmailConsentUrl(container.config.LOCAL_USER_ID), {
          redirect: 'manual',
        });
        const back = new URL(consent.headers.get('location')!);
        const { account } = await container.mail.accounts.completeGmail(
          back.searchParams.get('state')!,
          back.searchParams.get('code')!,
        );
        const row = await measure(container, account.id, corpus, async (raw, at) => {
          emulator.deliver(USER, raw, { labels: ['INBOX'], internalDate: at });
        });
        return { provider: 'gmail' as const, database, ...row };
      },
    );
  } finally {
    await emulator.close();
  }
}

async function main(): Promise<void> {
  const engines = args.engines.split(',');
  const corpus = buildCorpus({
    threads: THREADS,
    start: new Date(Date.now() - 60 * 86_400_000),
    uniform: true,
    newsletters: 0,
  });
  console.log(`mailbox: ${corpus.messages.length} messages in ${corpus.threads.length} threads`);
  let postgres: PostgresServer | undefined;
  let dovecot: DovecotServer | undefined;
  const rows: Row[] = [];
  try {
    const databases: [string, Record<string, string>][] = [];
    if (engines.includes('pglite')) databases.push(['PGlite (embedded)', {}]);
    if (engines.includes('postgres') && postgresBinaries()) {
      postgres = await startPostgres({ durable: true });
      databases.push(['PostgreSQL 15 (durable)', { DATABASE_URL: postgres.url }]);
    }
    if (dovecotInstalled()) {
      dovecot = await startDovecot({ users: [{ user: USER, password: PASSWORD }] });
      const appendStarted = performance.now();
      await appendToDovecot(dovecot, corpus, 8);
      const seconds = (performance.now() - appendStarted) / 1000;
      console.log(`Dovecot: appended in ${seconds.toFixed(1)} s`);
    } else {
      console.log('no Dovecot (dovecot-imapd): IMAP rows skipped');
    }
    for (const [database, env] of databases) {
      if (dovecot)
        rows.push(await imapRow(dovecot, corpus, database, await freshDatabase(env, postgres, 'imap')));
      rows.push(await gmailRow(corpus, database, await freshDatabase(env, postgres, 'gmail')));
    }
  } finally {
    await dovecot?.stop();
    await postgres?.stop();
  }
  printTable(rows);
  const dir = resolve(import.meta.dirname, 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `sync-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ threads: THREADS, increments: INCREMENTS, rows }, null, 2));
  console.log(`\nwritten to ${file}`);
}

/** A database of its own for each row (the first sync must start empty). */
async function freshDatabase(
  env: Record<string, string>,
  postgres: PostgresServer | undefined,
  name: string,
) {
  if (!env.DATABASE_URL || !postgres) return env;
  return { ...env, DATABASE_URL: await createPostgresDatabase(postgres.url, `bench_sync_${name}`) };
}

function printTable(rows: Row[]): void {
  const header = [
    'provider',
    'database',
    'messages',
    'first sync (s)',
    'messages/s',
    'incremental p50 (ms)',
    'incremental p95 (ms)',
  ];
  const lines = rows.map((r) => [
    r.provider === 'imap' ? 'IMAP (Dovecot)' : 'Gmail API (emulator)',
    r.database,
    String(r.messages),
    r.firstSyncSeconds.toFixed(2),
    String(r.messagesPerSecond),
    r.incrementalP50Ms.toFixed(1),
    r.incrementalP95Ms.toFixed(1),
  ]);
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const line of lines) console.log(`| ${line.join(' | ')} |`);
}

await main();
