/**
 * `thread-tracker cleanup [--dry-run]`: one cleanup run now (what `serve` runs every CLEANUP_INTERVAL_S), recorded
 * in maintenance_runs like the scheduled ones. A dry run counts what each step would do and changes nothing.
 * Exit code 0 when the run succeeded, 1 when a step failed or another run is in progress.
 */
import { createContainer } from '../container.ts';
import { commandConfig, commandLogger } from './command-io.ts';

export async function cleanup(options: { dryRun?: boolean }): Promise<void> {
  const config = commandConfig();
  const container = await createContainer(config, { logger: commandLogger(config) });
  try {
    const report = await container.cleanup.runOnce({ trigger: 'manual', dryRun: options.dryRun ?? false });
    if (!report) throw new Error('another cleanup run is in progress; nothing was done');
    console.log(
      `cleanup run ${report.run.id} ${options.dryRun ? '(dry run, nothing changed) ' : ''}${report.run.status}`,
    );
    for (const [step, result] of Object.entries(report.steps))
      console.log(`  ${step}: ${JSON.stringify(result)}`);
    if (report.run.status !== 'succeeded') process.exitCode = 1;
  } finally {
    await container.close();
  }
}
