/**
 * `thread-tracker import <file> [--format ndjson|json|csv] [--dry-run] [--user id]`: thread records from a file (or
 * stdin for `-`) into the database. Invalid records are reported on stderr by line and left out; everything else is
 * imported. Exit code 0 when every record was imported, 2 when some were left out, 1 when the import failed.
 */
import { openDataTools } from '../container.ts';
import { importThreadRecords } from '../service/thread-transfer.ts';
import {
  commandConfig,
  commandLogger,
  formatCount,
  openInput,
  progressBar,
  ratePerSecond,
} from './command-io.ts';
import { formatOf, readRecords } from './record-formats.ts';

export async function importThreads(
  file: string,
  options: { format?: string; dryRun?: boolean; user?: string },
): Promise<void> {
  const format = formatOf(file === '-' ? undefined : file, options.format);
  const config = commandConfig();
  const input = await openInput(file);
  const tools = await openDataTools(config, {
    logger: commandLogger(config),
    migrate: config.MIGRATE_ON_START,
  });
  try {
    const progress = progressBar({
      total: input.size,
      label: options.dryRun ? 'checking' : 'importing',
      format: '{records} records, {rejected} left out',
    });
    const summary = await importThreadRecords(tools.importer, readRecords(input.text, format), {
      batchSize: config.THREAD_BATCH_SIZE,
      defaultUserId: options.user ?? config.LOCAL_USER_ID,
      dryRun: options.dryRun ?? false,
      now: new Date().toISOString(),
      onIssue: (issue) => progress.log(`line ${issue.line}: ${issue.message}`),
      onProgress: ({ read, rejected }) =>
        progress.update(input.bytesRead(), { records: formatCount(read), rejected: formatCount(rejected) }),
    });
    progress.stop();
    const written = summary.created + summary.updated + summary.unchanged;
    for (const { field, firstLine } of summary.ignoredFields)
      process.stderr.write(`ignored field "${field}" (no such thread field; first on line ${firstLine})\n`);
    console.log(
      `${summary.dryRun ? 'dry run: would import' : 'imported'} ${formatCount(written)} of ${formatCount(summary.read)} records ` +
        `(${formatCount(summary.created)} new, ${formatCount(summary.updated)} updated, ${formatCount(summary.unchanged)} unchanged), ` +
        `${formatCount(summary.rejected)} left out, in ${(summary.durationMs / 1000).toFixed(1)} s ` +
        `(${formatCount(ratePerSecond(summary.read, summary.durationMs))} records/s)` +
        (summary.dryRun ? '; nothing was written' : ''),
    );
    if (summary.rejected > 0) process.exitCode = 2;
  } finally {
    await tools.close();
  }
}
