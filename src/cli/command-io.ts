/**
 * What the data commands share: configuration with quiet logs on stderr (stdout may be the data itself), files
 * opened for streaming, and a progress bar on stderr that shows only in a terminal.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import pino, { type Logger } from 'pino';
import { type Config, loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';

/** The configuration, with warn as the default log level (a command reports its results itself). */
export function commandConfig(): Readonly<Config> {
  return loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
}

/** JSON log lines on stderr. */
export function commandLogger(config: Readonly<Config>): Logger {
  return createLogger({
    level: config.LOG_LEVEL,
    format: 'json',
    destination: pino.destination({ fd: 2, sync: true }),
  });
}

/** Text of a file (or of stdin for `-`), and how many bytes have been read so far. */
export async function openInput(path: string): Promise<{
  text: AsyncIterable<string>;
  size: number | undefined;
  bytesRead: () => number;
}> {
  const stream = path === '-' ? process.stdin : createReadStream(path);
  const size = path === '-' ? undefined : (await stat(path)).size;
  let bytes = 0;
  const decoder = new TextDecoder('utf-8');
  const text = (async function* () {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      yield decoder.decode(chunk, { stream: true });
    }
    const rest = decoder.decode();
    if (rest !== '') yield rest;
  })();
  return { text, size, bytesRead: () => bytes };
}

/**
 * A file written under a temporary name and renamed into place by `commit()`, so a failed or interrupted run never
 * leaves a partial file under the final name; stdout for `-` or no path. Opening fails at once on a bad path.
 */
export async function openOutput(path: string | undefined): Promise<{
  stream: Writable;
  commit(): Promise<void>;
  discard(): Promise<void>;
}> {
  if (path === undefined || path === '-') {
    // `export | head`: the reader has gone, which is not an error of the export.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    return { stream: process.stdout, commit: async () => {}, discard: async () => {} };
  }
  const partial = `${path}.partial`;
  const file = await open(partial, 'w', 0o600);
  const stream = file.createWriteStream();
  return {
    stream,
    commit: async () => {
      stream.end();
      await finished(stream);
      await rename(partial, path);
    },
    discard: async () => {
      stream.destroy();
      await rm(partial, { force: true });
    },
  };
}

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  /** Prints a line above the bar (or on stderr when there is no bar). */
  log(line: string): void;
  stop(): void;
}

/** A progress bar on stderr when it is a terminal and the total is known; otherwise nothing is drawn. */
export function progressBar(options: {
  total: number | undefined;
  label: string;
  format?: string;
}): Progress {
  if (!process.stderr.isTTY || !options.total) {
    return { update: () => {}, log: (line) => void process.stderr.write(`${line}\n`), stop: () => {} };
  }
  const bars = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format: `${options.label} [{bar}] {percentage}% | ${options.format ?? '{value}/{total}'} | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(options.total, 0, {});
  return {
    update: (value, payload) => bar.update(value, payload ?? {}),
    log: (line) => bars.log(`${line}\n`),
    stop: () => bars.stop(),
  };
}

/** "12,345" */
export const formatCount = (n: number) => n.toLocaleString('en-US');

/** Records per second, rounded. */
export const ratePerSecond = (count: number, ms: number) =>
  ms > 0 ? Math.round((count * 1000) / ms) : count;
