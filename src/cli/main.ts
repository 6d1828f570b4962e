/** The `thread-tracker` command. Each subcommand lives in its own file and is loaded only when used. */
import { Command } from 'commander';
import { ConfigError } from '../config.ts';

const program = new Command()
  .name('thread-tracker')
  .description('Self-hosted tracking of outreach email threads')
  .showHelpAfterError();

program
  .command('serve')
  .description('run the API and the web app (configuration from the environment; see the README)')
  .action(async () => (await import('./serve.ts')).serve());

program
  .command('migrate')
  .description('apply or revert database migrations')
  .argument('<action>', 'up | down | status')
  .option('--to <version>', 'target schema version (default: latest for up, one step back for down)')
  .action(async (action: string, options: { to?: string }) => {
    if (action !== 'up' && action !== 'down' && action !== 'status') {
      throw new Error(`unknown migrate action "${action}" (up, down or status)`);
    }
    await (await import('./migrate.ts')).migrate(action, options);
  });

program
  .command('token')
  .description('mint an access token for a user (needs JWT_SECRET)')
  .requiredOption('--user <id>', 'user id (the token subject)')
  .option('--admin', 'grant the admin role')
  .option('--ttl <seconds>', 'lifetime in seconds', '3600')
  .action(async (options: { user: string; admin?: boolean; ttl?: string }) =>
    (await import('./token.ts')).token(options),
  );

program
  .command('export')
  .description('write every thread record (of one user, or all) as NDJSON, a JSON array or CSV')
  .option('--format <format>', 'ndjson | json | csv (default: from the --out extension, else ndjson)')
  .option('--user <id>', "only this user's threads")
  .option('--out <file>', 'write to a file (default: stdout)')
  .action(async (options: { format?: string; user?: string; out?: string }) =>
    (await import('./export.ts')).exportThreads(options),
  );

program
  .command('import')
  .description(
    'import thread records (NDJSON, JSON array or CSV; snake_case or camelCase fields); - reads stdin',
  )
  .argument('<file>', 'the file to import')
  .option('--format <format>', 'ndjson | json | csv (default: from the extension, else ndjson)')
  .option('--dry-run', 'validate and write in transactions that are rolled back: report, change nothing')
  .option('--user <id>', 'user of records that name none (default: LOCAL_USER_ID)')
  .action(async (file: string, options: { format?: string; dryRun?: boolean; user?: string }) =>
    (await import('./import.ts')).importThreads(file, options),
  );

program
  .command('backup')
  .description(
    'a consistent copy of leads, threads and their history (NDJSON); safe while serving on PostgreSQL',
  )
  .option('--out <file>', 'write to a file (default: stdout)')
  .action(async (options: { out?: string }) => (await import('./backup.ts')).backup(options));

program
  .command('restore')
  .description('restore a backup into an empty database (one transaction)')
  .argument('<file>', 'the backup file; - reads stdin')
  .action(async (file: string) => (await import('./restore.ts')).restore(file));

program
  .command('cleanup')
  .description('run the automated cleanup once (purges, expired keys, old history, orphaned threads)')
  .option('--dry-run', 'count what each step would do; change nothing')
  .action(async (options: { dryRun?: boolean }) => (await import('./cleanup.ts')).cleanup(options));

program
  .command('worker')
  .description('run the follow-up worker in this process (any number of them on one PostgreSQL database)')
  .option('--once', 'one pass over every follow-up due, then exit')
  .action(async (options: { once?: boolean }) => (await import('./worker.ts')).worker(options));

program
  .command('accounts')
  .description('mail accounts: add-imap, list, remove')
  .argument('<action>', 'add-imap | list | remove')
  .argument('[id]', 'account id (remove)')
  .option('--user <id>', 'the user the account belongs to (default: LOCAL_USER_ID)')
  .option('--email <address>', 'add-imap: the mailbox address')
  .option('--imap-host <host>', 'add-imap: IMAP server')
  .option('--imap-port <port>', 'add-imap: IMAP port', '993')
  .option('--no-imap-tls', 'add-imap: IMAP without implicit TLS (STARTTLS when offered)')
  .option('--smtp-host <host>', 'add-imap: SMTP server (default: the IMAP server)')
  .option('--smtp-port <port>', 'add-imap: SMTP port', '465')
  .option('--no-smtp-tls', 'add-imap: SMTP without implicit TLS (STARTTLS when offered)')
  .option('--username <name>', 'add-imap: login (default: the address)')
  .option(
    '--password-file <path>',
    'add-imap: read the password from this file (default: IMAP_PASSWORD, or stdin)',
  )
  .option('--no-append-to-sent', 'add-imap: the server files sent mail in Sent itself')
  .option('--json', 'list: JSON output')
  .action(async (action: string, id: string | undefined, options: Record<string, unknown>) =>
    (await import('./accounts.ts')).accounts(action, id, options),
  );

program
  .command('sync')
  .description('sync mail accounts now, with a progress bar')
  .option('--account <id>', 'only this account (default: every account of the user)')
  .option('--user <id>', 'the user whose accounts to sync (default: LOCAL_USER_ID)')
  .option('--all', 'every account of every user')
  .action(async (options: { account?: string; user?: string; all?: boolean }) =>
    (await import('./sync.ts')).sync(options),
  );

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(`error: ${(error as Error).message}`);
  process.exitCode = 1;
}
