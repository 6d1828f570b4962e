/**
 * `thread-tracker sync [--account id] [--user id | --all]`: syncs now and waits, with a progress bar on stderr in
 * a terminal (plain progress lines otherwise). SIGINT/SIGTERM stop after the page in progress: the position is
 * committed with each page, so the next sync goes on from there.
 */
import cliProgress from 'cli-progress';
import { loadConfig } from '../config.ts';
import { createContainer } from '../container.ts';
import type { SyncProgress } from '../domain/mail-sync.ts';

export async function sync(options: { account?: string; user?: string; all?: boolean }): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const container = await createContainer(config);
  const stop = () => void container.mail.runner.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let failed = 0;
  try {
    const service = container.mail.accounts;
    // --account names any user's account (the operator's machine); --all takes every user's.
    const accounts = options.account
      ? [await service.get(options.user ?? null, options.account)]
      : await service.list(options.all ? null : (options.user ?? config.LOCAL_USER_ID));
    if (accounts.length === 0) {
      console.log(
        'no mail account to sync (add one with "thread-tracker accounts add-imap" or in the web app)',
      );
      return;
    }
    for (const account of accounts) {
      const started = performance.now();
      const tty = process.stderr.isTTY === true;
      const bar = tty
        ? new cliProgress.SingleBar(
            {
              format: `${account.email} [{bar}] {percentage}% | {phase} {value}/{total}`,
              stream: process.stderr,
              hideCursor: true,
              clearOnComplete: false,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      let barStarted = false;
      const onProgress = (p: SyncProgress) => {
        const total = p.total ?? Math.max(p.done, 1);
        if (bar) {
          if (!barStarted) bar.start(total, p.done, { phase: p.phase });
          barStarted = true;
          bar.setTotal(total);
          bar.update(p.done, { phase: p.phase });
        } else {
          process.stderr.write(`sync ${account.email}: ${p.phase} ${p.done}/${p.total ?? '?'}\n`);
        }
      };
      const outcome = await service.syncNow(null, account.id, { onProgress });
      if (barStarted) bar?.stop();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (outcome.status === 'synced') {
        const r = outcome.result;
        console.log(
          `synced ${account.email}: ${r.messages} messages in ${r.pages} pages, ${r.threadsWritten} thread writes, ${r.events} events (${seconds} s)`,
        );
      } else if (outcome.status === 'busy') {
        console.log(`skipped ${account.email}: another process is syncing it`);
      } else {
        failed++;
        console.error(
          `failed ${account.email}: ${outcome.code}: ${outcome.message}${outcome.retryAt ? ` (retry after ${outcome.retryAt})` : ''}`,
        );
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await container.close();
  }
  if (failed > 0) process.exitCode = 1;
}
