/** `thread-tracker migrate up|down|status`: schema changes on their own, with the same lock as at start-up. */
import { loadConfig } from '../config.ts';
import { createContainer } from '../container.ts';

export async function migrate(action: 'up' | 'down' | 'status', options: { to?: string }): Promise<void> {
  // Number('') is 0: an empty --to (an unset shell variable) must not mean "revert everything".
  if (options.to !== undefined && !/^\d{1,9}$/.test(options.to)) {
    throw new Error(`--to must be a schema version number, not "${options.to}"`);
  }
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const container = await createContainer(config, { skipMigrations: true });
  try {
    const { migrator } = container;
    if (action === 'status') {
      const status = await migrator.status();
      console.log(`current version: ${status.current} (latest ${migrator.latest})`);
      for (const m of status.migrations) {
        console.log(
          `  ${String(m.version).padStart(4, '0')} ${m.name.padEnd(32)} ${m.appliedAt ?? 'pending'}`,
        );
      }
      return;
    }
    const status = await migrator.status();
    const target =
      options.to !== undefined
        ? Number(options.to)
        : action === 'up'
          ? migrator.latest
          : Math.max(0, status.current - 1);
    if (action === 'up' && target < status.current)
      throw new Error(`--to ${target} is below the current version`);
    if (action === 'down' && target > status.current)
      throw new Error(`--to ${target} is above the current version`);
    const result = await migrator.migrateTo(target);
    for (const step of result.applied) {
      console.log(`${step.direction === 'up' ? 'applied ' : 'reverted'} ${step.version} ${step.name}`);
    }
    console.log(`schema version ${result.from} -> ${result.to}`);
  } finally {
    await container.close();
  }
}
