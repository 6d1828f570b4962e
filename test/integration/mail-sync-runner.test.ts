/**
 * The sync runner: the background loop pauses while the database is unavailable and resumes by itself, the API's
 * "sync now" answers 202 and the account shows `syncing` while a run holds it, one run per account at a time (in
 * one process, and across processes through the lease, taken over at once from a process that died), and the
 * cleanup's view of threads sync found gone.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultMailConnector } from '../../src/mail/mail-connector.ts';
import { AesGcmSecretBox } from '../../src/mail/secret-box.ts';
import { systemClock } from '../../src/ports/clock.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { SyncRunner } from '../../src/service/sync-runner.ts';
import { KyselyMailThreadExistence } from '../../src/store/mail-account-repository.ts';
import { GmailEmulator } from '../emulators/gmail/gmail-emulator.ts';
import { allThreads, threadFor } from '../support/mail-assertions.ts';
import { buildCorpus, type Corpus, replyTo, USER } from '../support/mail-corpus.ts';
import { loadIntoEmulator } from '../support/mail-fixtures.ts';
import { createMailSyncApp, type MailSyncApp, TEST_TOKEN_KEY } from '../support/mail-sync-app.ts';

const CLIENT = { clientId: 'runner-client', clientSecret: 'runner-secret' };
const REDIRECT = 'http://127.0.0.1:3000/api/v1/accounts/gmail/callback';

describe('the sync runner', () => {
  let emulator: GmailEmulator;
  let ctx: MailSyncApp;
  let corpus: Corpus;
  let accountId: string;
  let available = true;

  beforeAll(async () => {
    emulator = await GmailEmulator.start(CLIENT);
    corpus = buildCorpus({ threads: 30, start: new Date(Date.now() - 10 * 86_400_000) });
    emulator.consentAs(USER);
    loadIntoEmulator(emulator, corpus);
    ctx = await createMailSyncApp({
      google: emulator.settings(REDIRECT),
      pageSize: 5,
      databaseAvailable: () => available,
      runner: { intervalMs: 0, maxInlineWaitMs: 10_000 },
    });
    const consent = await fetch(ctx.service.gmailConsentUrl('me'), { redirect: 'manual' });
    const back = new URL(consent.headers.get('location')!);
    const { account } = await ctx.service.completeGmail(
      back.searchParams.get('state')!,
      back.searchParams.get('code')!,
    );
    accountId = account.id;
  });
  afterAll(async () => {
    await ctx?.close();
    await emulator?.close();
  });

  const accountView = async () =>
    (await ctx.app.inject({ method: 'GET', url: `/api/v1/accounts/${accountId}` })).json();

  it('waits while the database is unavailable, then syncs by itself', async () => {
    available = false;
    ctx.runner.start();
    try {
      const res = await ctx.app.inject({
        method: 'POST',
        url: `/api/v1/accounts/${accountId}/sync`,
        payload: {},
      });
      expect(res.statusCode).toBe(202);
      await new Promise((r) => setTimeout(r, 1500));
      expect(emulator.calls.get('GET profile') ?? 0).toBe(1); // the connect step only
      expect((await accountView()).lastSyncAt).toBeNull();
      available = true;
      await expect.poll(async () => (await accountView()).lastSyncAt, { timeout: 15_000 }).not.toBeNull();
      expect((await allThreads(ctx.test.service)).length).toBe(corpus.threads.length);
      expect(ctx.jobs.loops.snapshot().map((l) => l.name)).toContain('sync');
    } finally {
      available = true;
      await ctx.runner.stop();
    }
  });

  it('shows syncing while a run holds the account, and a second request joins that run', async () => {
    emulator.deliver(USER, replyTo(corpus, 0, new Date()).raw, { labels: ['INBOX'] });
    emulator.throttle({ status: 429, retryAfterSeconds: 2, path: /history/, calls: 1 });
    const historyBefore = emulator.calls.get('GET history') ?? 0;
    const first = ctx.service.syncNow('me', accountId);
    const second = ctx.service.syncNow('me', accountId);
    await expect.poll(async () => (await accountView()).status, { timeout: 5_000 }).toBe('syncing');
    const [a, b] = await Promise.all([first, second]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: 'synced' });
    // One run: the throttled history call and its retry.
    expect((emulator.calls.get('GET history') ?? 0) - historyBefore).toBe(2);
    expect((await accountView()).status).toBe('active');
  });

  it('another process holding the lease makes a run wait its turn; a dead one is taken over', async () => {
    const other = new SyncRunner({
      accounts: ctx.accounts,
      engine: ctx.engine,
      connector: new DefaultMailConnector({
        google: emulator.settings(REDIRECT),
        clock: systemClock,
        pageSize: 5,
        concurrency: 2,
      }),
      secrets: new AesGcmSecretBox(TEST_TOKEN_KEY),
      jobs: ctx.jobs,
      clock: systemClock,
      logger: silentLogger,
      databaseAvailable: () => true,
      settings: { intervalMs: 0, maxParallel: 1, leaseMs: 60_000, maxInlineWaitMs: 1000 },
    });
    const held = (owner: string) =>
      sql`update mail_accounts set sync_owner = ${owner}, sync_lease_until = now() + interval '1 minute'
          where id = ${accountId}::uuid`.execute(ctx.test.handle.db);
    const account = async () => (await ctx.accounts.get('me', accountId))!;

    // A live process of this host (our parent) holds it.
    await held(`${hostname()}:${process.ppid}:other`);
    expect(await other.syncNow(await account())).toEqual({ status: 'busy' });
    expect((await accountView()).status).toBe('syncing');

    // A process that exited holds it: taken over at once, and not shown as syncing meanwhile.
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    await held(`${hostname()}:${gone}:dead`);
    expect((await accountView()).status).toBe('active');
    expect(await other.syncNow(await account())).toMatchObject({ status: 'synced' });
    expect((await account()).syncOwner).toBeNull();
    await other.stop();
  });

  it('tells the cleanup which threads sync found gone but are still live (and leaves restored ones)', async () => {
    const existence = new KyselyMailThreadExistence(ctx.test.handle.db);
    expect(await existence.usersWithMailbox()).toEqual(['me']);
    const gone = corpus.threads[3]!;
    const thread = threadFor(await allThreads(ctx.test.service), corpus, 3)!;
    for (const id of gone.messageIds) emulator.deleteMessage(USER, emulator.findByMessageId(USER, id)!.id);
    await ctx.service.syncNow('me', accountId);
    expect((await ctx.test.service.getThread('me', thread.threadId)).status).toBe('deleted');
    const live = (await allThreads(ctx.test.service)).map((t) => t.threadId);
    // Deleted by sync: not live, so not asked about.
    expect(await existence.missingThreads('me', [...live, thread.threadId])).toEqual([]);
    // A deletion that did not land (the row live, unchanged since sync decided): reported.
    await sql`update mail_threads set updated_at = now() + interval '1 hour' where thread_id = ${thread.threadId}`.execute(
      ctx.test.handle.db,
    );
    await sql`update thread_tracking set status = 'active' where thread_id = ${thread.threadId}`.execute(
      ctx.test.handle.db,
    );
    expect(await existence.missingThreads('me', [thread.threadId, 'manual-thread'])).toEqual([
      thread.threadId,
    ]);
    expect(await existence.missingThreads('someone-else', [thread.threadId])).toEqual([]);
    // Restored by the user after that: left alone.
    await sql`update mail_threads set updated_at = now() - interval '1 hour' where thread_id = ${thread.threadId}`.execute(
      ctx.test.handle.db,
    );
    await ctx.test.service.updateThread('me', thread.threadId, { subject: 'Restored by hand' });
    expect(await existence.missingThreads('me', [thread.threadId])).toEqual([]);
  });
});
