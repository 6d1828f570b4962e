/**
 * `thread-tracker restore <file>`: a backup into an empty database, in one transaction. The schema is brought to the
 * backup's version first (never past it: migrate up afterwards if this build is newer). See docs/operations.md.
 */
import { openDataTools } from '../container.ts';
import { RestoreError, restoreBackup } from '../service/backup-service.ts';
import { commandConfig, commandLogger, formatCount, openInput } from './command-io.ts';
import { readRecords } from './record-formats.ts';

export async function restore(file: string): Promise<void> {
  const config = commandConfig();
  const input = await openInput(file);
  const tools = await openDataTools(config, { logger: commandLogger(config) });
  try {
    const { migrator } = tools;
    const started = performance.now();
    const { header, counts } = await restoreBackup(tools.backups, readRecords(input.text, 'ndjson'), {
      schemaVersion: (await migrator.status()).current,
      latestSchemaVersion: migrator.latest,
      migrateTo: async (version) => {
        await migrator.migrateTo(version);
      },
    });
    console.log(
      `restored ${Object.entries(counts)
        .map(([table, n]) => `${formatCount(n)} ${table}`)
        .join(
          ', ',
        )} from the backup of ${header.createdAt} (schema version ${header.schemaVersion}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } catch (error) {
    if (error instanceof RestoreError)
      throw new Error(`restore refused: ${error.message}; nothing was written`);
    throw error;
  } finally {
    await tools.close();
  }
}
