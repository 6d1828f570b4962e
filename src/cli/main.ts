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

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(`error: ${(error as Error).message}`);
  process.exitCode = 1;
}
