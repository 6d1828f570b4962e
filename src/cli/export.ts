/** `thread-tracker export [--format ndjson|json|csv] [--user id] [--out file]`: every thread record, streamed. */
import { openDataTools } from '../container.ts';
import { exportThreadRecords } from '../service/thread-transfer.ts';
import {
  commandConfig,
  commandLogger,
  formatCount,
  openOutput,
  progressBar,
  ratePerSecond,
} from './command-io.ts';
import { createRecordWriter, formatOf } from './record-formats.ts';

const PAGE_SIZE = 1000;

export async function exportThreads(options: {
  format?: string;
  user?: string;
  out?: string;
}): Promise<void> {
  const format = formatOf(options.out, options.format);
  const config = commandConfig();
  const tools = await openDataTools(config, { logger: commandLogger(config) });
  let output: Awaited<ReturnType<typeof openOutput>> | undefined;
  try {
    output = await openOutput(options.out);
    const total = await tools.exporter.countThreads(options.user);
    const progress = progressBar({ total, label: 'exporting', format: '{value}/{total} threads' });
    const writer = createRecordWriter(format, output.stream);
    const started = performance.now();
    let count = 0;
    const records = exportThreadRecords(tools.exporter, {
      ...(options.user === undefined ? {} : { userId: options.user }),
      pageSize: PAGE_SIZE,
    });
    for await (const record of records) {
      await writer.write(record);
      if (++count % PAGE_SIZE === 0) progress.update(count);
    }
    await writer.end();
    await output.commit();
    progress.update(count);
    progress.stop();
    const ms = performance.now() - started;
    process.stderr.write(
      `exported ${formatCount(count)} threads${options.out ? ` to ${options.out}` : ''} as ${format} in ${(ms / 1000).toFixed(1)} s (${formatCount(ratePerSecond(count, ms))} records/s)\n`,
    );
  } catch (error) {
    await output?.discard();
    throw error;
  } finally {
    await tools.close();
  }
}
