/**
 * `thread-tracker backup [--out file]`: leads, threads and their history as of one moment (one REPEATABLE READ
 * transaction), as NDJSON with a header line; safe while the service runs on PostgreSQL. See docs/operations.md.
 */
import { openDataTools } from '../container.ts';
import { writeBackup } from '../service/backup-service.ts';
import { commandConfig, commandLogger, formatCount, openOutput } from './command-io.ts';

export async function backup(options: { out?: string }): Promise<void> {
  const config = commandConfig();
  const tools = await openDataTools(config, { logger: commandLogger(config) });
  let output: Awaited<ReturnType<typeof openOutput>> | undefined;
  try {
    const { current } = await tools.migrator.status();
    if (current === 0) throw new Error('the database has no thread-tracker schema: nothing to back up');
    output = await openOutput(options.out);
    const stream = output.stream;
    const started = performance.now();
    const counts = await writeBackup(
      tools.backups,
      (text) =>
        new Promise<void>((resolve, reject) => {
          stream.write(text, (error) => (error ? reject(error) : resolve()));
        }),
      { createdAt: new Date().toISOString(), schemaVersion: current, engine: tools.engine },
    );
    await output.commit();
    process.stderr.write(
      `backed up ${Object.entries(counts)
        .map(([table, n]) => `${formatCount(n)} ${table}`)
        .join(
          ', ',
        )} at schema version ${current}${options.out ? ` to ${options.out}` : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
  } catch (error) {
    await output?.discard();
    throw error;
  } finally {
    await tools.close();
  }
}
