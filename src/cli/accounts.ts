/**
 * `thread-tracker accounts add-imap | list | remove`: mail accounts from the command line. The password is read
 * from a file, IMAP_PASSWORD or stdin, never from an argument (arguments show in `ps`).
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config.ts';
import { createContainer } from '../container.ts';
import { AppError } from '../domain/errors.ts';
import { imapAccountSchema } from '../domain/mail-sync.ts';

async function readPassword(file: unknown): Promise<string> {
  if (typeof file === 'string') return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (process.env.IMAP_PASSWORD) return process.env.IMAP_PASSWORD;
  if (process.stdin.isTTY)
    throw new Error('give the password with --password-file, IMAP_PASSWORD or on stdin');
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.replace(/\r?\n$/, '');
}

function describeError(error: unknown): Error {
  if (error instanceof AppError && error.details?.length) {
    return new Error(
      `${error.message}\n${error.details.map((d) => `  - ${d.path}: ${d.message}`).join('\n')}`,
    );
  }
  return error as Error;
}

export async function accounts(action: string, id: string | undefined, options: Record<string, unknown>) {
  if (!['add-imap', 'list', 'remove'].includes(action)) {
    throw new Error(`unknown accounts action "${action}" (add-imap, list or remove)`);
  }
  if (action === 'remove' && !id) throw new Error('accounts remove needs the account id');
  let input: ReturnType<typeof imapAccountSchema.parse> | undefined;
  if (action === 'add-imap') {
    const parsed = imapAccountSchema.safeParse({
      email: options.email,
      imapHost: options.imapHost,
      imapPort: Number(options.imapPort),
      imapSecure: options.imapTls !== false,
      smtpHost: options.smtpHost ?? options.imapHost,
      smtpPort: Number(options.smtpPort),
      smtpSecure: options.smtpTls !== false,
      username: options.username ?? options.email,
      password: await readPassword(options.passwordFile),
      ...(options.appendToSent === false ? { appendToSent: false } : {}),
    });
    if (!parsed.success) {
      throw new Error(
        `invalid account:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`,
      );
    }
    input = parsed.data;
  }
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const container = await createContainer(config);
  try {
    const userId = typeof options.user === 'string' ? options.user : config.LOCAL_USER_ID;
    const service = container.mail.accounts;
    if (action === 'add-imap') {
      const { account, created } = await service.addImap(userId, input!).catch((e) => {
        throw describeError(e);
      });
      console.log(
        `${created ? 'added' : 'reconnected'} ${account.email} (${account.id}); run "thread-tracker sync" or serve to sync it`,
      );
      return;
    }
    if (action === 'remove') {
      await service.remove(userId, id!);
      console.log(`removed ${id} (its threads stay)`);
      return;
    }
    const items = await service.list(userId);
    if (options.json) {
      console.log(JSON.stringify(items, null, 2));
      return;
    }
    if (items.length === 0) {
      console.log('no mail account');
      return;
    }
    for (const a of items) {
      const position = a.cursor ? JSON.stringify(a.cursor) : 'not synced yet';
      console.log(`${a.id}  ${a.provider.padEnd(5)} ${a.email}`);
      console.log(`    status ${a.status}; last sync ${a.lastSyncAt ?? 'never'}; position ${position}`);
      if (a.throttledUntil) console.log(`    throttled until ${a.throttledUntil}`);
      if (a.lastError) console.log(`    last error (${a.lastErrorCode}): ${a.lastError}`);
    }
  } finally {
    await container.close();
  }
}
