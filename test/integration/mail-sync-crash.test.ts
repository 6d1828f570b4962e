/**
 * Sync survives a crash: `thread-tracker sync` runs as a child process and is killed with SIGKILL in the middle of
 * its pages, then run again; the final state must equal the mailbox exactly (no thread missing, none doubled,
 * every count exact, every reply, auto-reply and bounce event recorded once). The same after the provider forces
 * a restart of the position: a UIDVALIDITY change (IMAP, Dovecot) and an expired history id (Gmail emulator), each
 * killed in the middle of its resync too. Runs on the embedded database (PGlite, the default), in a data directory
 * the processes share one after the other.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ImapFlow } from 'imapflow';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createContainer } from '../../src/container.ts';
import { GmailEmulator } from '../emulators/gmail/gmail-emulator.ts';
import { type DovecotServer, startDovecot } from '../harness/dovecot.ts';
import { describeWithService } from '../harness/require-services.ts';
import { allThreads, expectEvents, expectMailbox, threadFor } from '../support/mail-assertions.ts';
import { buildCorpus, type Corpus, replyTo, USER } from '../support/mail-corpus.ts';
import { appendToDovecot, loadIntoEmulator } from '../support/mail-fixtures.ts';
import { type SmtpRelay, startSmtpRelay } from '../support/smtp-relay.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = resolve(ROOT, 'bin/thread-tracker.js');
const PASSWORD = 'crash-test-password';
const START = new Date(Date.now() - 30 * 86_400_000);
const TIMEOUT = 240_000;
const OWN_SETTINGS =
  /^(DATABASE_URL|REDIS_URL|DATA_DIR|HOST|PORT|AUTH_MODE|LOG_LEVEL|LOG_FORMAT)$|^(MAIL|GOOGLE|GMAIL|JWT|DB)_/;
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !OWN_SETTINGS.test(k)));

const dirs: string[] = [];
const children = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tt-crash-'));
  dirs.push(dir);
  return dir;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Progress lines seen before the end. */
  pages: number;
}

/**
 * Runs the command; with `killAfterPages`, kills it with SIGKILL once it has reported that many progress lines
 * (each one follows a committed page).
 */
async function cli(args: string[], env: Record<string, string>, killAfterPages?: number): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...baseEnv, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  let pages = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
    pages = (stderr.match(/^sync .*\d+\/(\d+|\?)$/gm) ?? []).length;
    if (killAfterPages !== undefined && pages >= killAfterPages && child.exitCode === null)
      child.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  children.delete(child);
  return { code, signal, stdout, stderr, pages };
}

async function killedThenCompleted(env: Record<string, string>, killAfterPages: number): Promise<void> {
  const killed = await cli(['sync'], env, killAfterPages);
  expect(killed.signal, `${killed.stdout}\n${killed.stderr}`).toBe('SIGKILL');
  expect(killed.pages).toBeGreaterThanOrEqual(killAfterPages);
  const again = await cli(['sync'], env);
  expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
  expect(again.stdout).toMatch(/^synced /m);
}

/** Opens the data directory the children used (they have exited) and checks it against the mailbox. */
async function expectExact(
  env: Record<string, string>,
  corpus: Corpus,
  check?: (threads: Awaited<ReturnType<typeof allThreads>>) => void,
  extraEvents = { reply: 0, auto_reply: 0, bounce: 0 },
): Promise<void> {
  const config = loadConfig({ ...baseEnv, ...env, LOG_LEVEL: 'warn' });
  const container = await createContainer(config, { logger: pino({ level: 'silent' }) });
  try {
    const threads = await allThreads(container.service, config.LOCAL_USER_ID);
    if (check) check(threads);
    else expectMailbox(threads, corpus);
    await expectEvents(container.service, corpus, extraEvents);
  } finally {
    await container.close();
  }
}

describeWithService('dovecot', 'IMAP: a killed sync resumes to the exact mailbox', () => {
  let dovecot: DovecotServer;
  let relay: SmtpRelay;
  let corpus: Corpus;
  let env: Record<string, string>;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ user: USER, password: PASSWORD }] });
    relay = await startSmtpRelay(dovecot);
    corpus = buildCorpus({ threads: 150, start: START });
    await appendToDovecot(dovecot, corpus);
    const dir = tempDir();
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    env = { DATA_DIR: join(dir, 'data'), MAIL_SYNC_PAGE_SIZE: '15', MAIL_SYNC_INITIAL_DAYS: '365' };
    const added = await cli(
      [
        'accounts',
        'add-imap',
        '--email',
        USER,
        '--imap-host',
        '127.0.0.1',
        '--imap-port',
        String(dovecot.port),
        '--no-imap-tls',
        '--smtp-port',
        String(relay.port),
        '--no-smtp-tls',
        '--password-file',
        passwordFile,
      ],
      env,
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^added alice@alice\.test \(/);
  }, TIMEOUT);
  afterAll(async () => {
    await relay?.close();
    await dovecot?.stop();
  });

  it(
    'first sync killed after a few pages, then run again: exact',
    async () => {
      await killedThenCompleted(env, 4);
      await expectExact(env, corpus);
      const list = await cli(['accounts', 'list'], env);
      expect(list.stdout).toContain('status active');
      expect(list.stdout).not.toContain(PASSWORD);
    },
    TIMEOUT,
  );

  it(
    'a UIDVALIDITY change, with new replies, resynced and killed halfway: exact',
    async () => {
      const client = new ImapFlow(dovecot.clientOptions(USER));
      await client.connect();
      const path = (await client.list()).find((b) => b.specialUse === '\\Sent')!.path;
      await client.mailboxOpen(path);
      const messages = await client.fetchAll('1:*', { source: true, internalDate: true });
      await client.mailboxClose();
      await client.mailboxDelete(path);
      await client.mailboxCreate(path);
      for (const m of messages) await client.append(path, m.source!, ['\\Seen'], m.internalDate as Date);
      await client.logout();
      const late = [0, 7, 10];
      for (const t of late) await dovecot.deliver(USER, replyTo(corpus, t, new Date()).raw);

      await killedThenCompleted(env, 3);
      await expectExact(
        env,
        corpus,
        (threads) => {
          // Each of them had no answer: now one reply, answered.
          const answered = { replyRate: 100, responseTimeHours: expect.any(Number) };
          expectMailbox(
            threads,
            corpus,
            Object.fromEntries(
              late.map((t) => [t, { messageCount: corpus.threads[t]!.messageCount + 1, ...answered }]),
            ),
          );
          for (const t of late)
            expect(threadFor(threads, corpus, t)!.responseTimeHours).toBeGreaterThan(24 * 20);
        },
        { reply: late.length, auto_reply: 0, bounce: 0 },
      );
    },
    TIMEOUT,
  );
});

describe('Gmail: a killed sync resumes to the exact mailbox', () => {
  const CLIENT = { clientId: 'crash-client', clientSecret: 'crash-secret' };
  const REDIRECT = 'http://127.0.0.1:3000/api/v1/accounts/gmail/callback';
  let emulator: GmailEmulator;
  let corpus: Corpus;
  let env: Record<string, string>;

  beforeAll(async () => {
    emulator = await GmailEmulator.start(CLIENT);
    corpus = buildCorpus({ threads: 150, start: START });
    emulator.consentAs(USER);
    loadIntoEmulator(emulator, corpus);
    const google = emulator.settings(REDIRECT);
    env = {
      DATA_DIR: join(tempDir(), 'data'),
      MAIL_SYNC_PAGE_SIZE: '5',
      MAIL_SYNC_INITIAL_DAYS: '365',
      GOOGLE_CLIENT_ID: CLIENT.clientId,
      GOOGLE_CLIENT_SECRET: CLIENT.clientSecret,
      GOOGLE_REDIRECT_URI: REDIRECT,
      GOOGLE_AUTH_URL: google.authUrl,
      GOOGLE_TOKEN_URL: google.tokenUrl,
      GMAIL_API_URL: google.apiUrl,
    };
    // Connect as the web app would: consent URL, Google's redirect, callback (in this process, then closed).
    const container = await createContainer(loadConfig({ ...baseEnv, ...env, LOG_LEVEL: 'warn' }), {
      logger: pino({ level: 'silent' }),
    });
    try {
      const consent = await fetch(container.mail.accounts.gmailConsentUrl('me'), { redirect: 'manual' });
      const back = new URL(consent.headers.get('location')!);
      await container.mail.accounts.completeGmail(
        back.searchParams.get('state')!,
        back.searchParams.get('code')!,
      );
    } finally {
      await container.close();
    }
  }, TIMEOUT);
  afterAll(async () => {
    await emulator?.close();
  });

  it(
    'first sync killed in its listing, then run again: exact, each thread listed from the page it stopped at',
    async () => {
      await killedThenCompleted(env, 5);
      await expectExact(env, corpus);
      // 150 threads, 5 a page: 30 listing pages; at most the page in flight at the kill is listed twice.
      const listed = emulator.calls.get('GET threads') ?? 0;
      expect(listed).toBeGreaterThanOrEqual(30);
      expect(listed).toBeLessThanOrEqual(31);
    },
    TIMEOUT,
  );

  it(
    'an expired history id, with changes meanwhile, resynced in full and killed halfway: exact',
    async () => {
      const late = [1, 9];
      for (const t of late) emulator.deliver(USER, replyTo(corpus, t, new Date()).raw, { labels: ['INBOX'] });
      emulator.expireHistory(USER);
      await killedThenCompleted(env, 4);
      await expectExact(
        env,
        corpus,
        (threads) =>
          expectMailbox(
            threads,
            corpus,
            Object.fromEntries(late.map((t) => [t, { messageCount: corpus.threads[t]!.messageCount + 1 }])),
          ),
        { reply: late.length, auto_reply: 0, bounce: 0 },
      );
    },
    TIMEOUT,
  );
});
