/**
 * Import and export of thread records (the spec's migration guide from the old in-memory tracker, and moving data
 * between installations).
 *
 * Import streams: records are validated one at a time and written in batches of `batchSize` (one batch is written
 * while the next is validated), so 100,000 records never sit in memory together. A record that does not validate is reported with its line number and left out; the
 * rest of the file is still imported. A batch the database refuses as a whole (a lead that does not exist, an id
 * already used by another thread) is retried record by record, so only the offending records are left out, each
 * reported by line. Re-running the same file is harmless: records upsert on (user_id, thread_id), and unchanged
 * rows are not written again. A dry run does everything in transactions that are rolled back.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import { parseThreadRecord, type ThreadRecord } from '../domain/thread-record.ts';
import type {
  ThreadExportStore,
  ThreadImport,
  ThreadImportCounts,
  ThreadImportStore,
} from '../ports/thread-archive.ts';

/** One record read from a file, or why it could not be read; `line` is where it starts (1-based). */
export type SourceRecord = { line: number; value: unknown } | { line: number; error: string };

export interface ImportIssue {
  line: number;
  message: string;
}

export interface ImportSummary extends ThreadImportCounts {
  dryRun: boolean;
  /** Records read from the file, valid or not. */
  read: number;
  /** Records left out (invalid, or refused by the database), each reported through onIssue. */
  rejected: number;
  /** Field names no thread column matches, with the first line they appeared on (ignored, not errors). */
  ignoredFields: { field: string; firstLine: number }[];
  durationMs: number;
}

export interface ImportOptions {
  batchSize: number;
  /** The user of records that name none. */
  defaultUserId: string;
  dryRun?: boolean;
  /** ISO 8601: the created and updated time of records that have none. */
  now: string;
  onIssue?: (issue: ImportIssue) => void;
  /** After each batch. */
  onProgress?: (progress: { read: number; written: number; rejected: number }) => void;
}

interface Pending extends ThreadImport {
  line: number;
}

const keyOf = (r: ThreadRecord) => `${r.userId}\u0000${r.threadId}`;

export async function importThreadRecords(
  store: ThreadImportStore,
  source: AsyncIterable<SourceRecord>,
  options: ImportOptions,
): Promise<ImportSummary> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const summary: ImportSummary = {
    dryRun,
    read: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    rejected: 0,
    ignoredFields: [],
    durationMs: 0,
  };
  const ignored = new Map<string, number>();
  const reject = (line: number, message: string) => {
    summary.rejected++;
    options.onIssue?.({ line, message });
  };
  const add = (counts: ThreadImportCounts) => {
    summary.created += counts.created;
    summary.updated += counts.updated;
    summary.unchanged += counts.unchanged;
  };
  const context = { defaultUserId: options.defaultUserId, now: options.now, newId: randomUUID };

  let batch: Pending[] = [];
  let keys = new Set<string>();
  const write = async (pending: Pending[]) => {
    try {
      add(await store.importThreads(pending, { dryRun }));
    } catch (error) {
      if (!isRecordError(error)) throw error;
      // Find the records the database refuses; the others go in one by one.
      for (const item of pending) {
        try {
          add(await store.importThreads([item], { dryRun }));
        } catch (recordError) {
          if (!isRecordError(recordError)) throw recordError;
          reject(item.line, describeRecordError(recordError));
        }
      }
    }
    options.onProgress?.({
      read: summary.read,
      written: summary.created + summary.updated + summary.unchanged,
      rejected: summary.rejected,
    });
  };
  // One batch is written while the next is read and validated; writes stay one at a time, in file order.
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    if (batch.length === 0) return;
    const pending = batch;
    batch = [];
    keys = new Set();
    await writing;
    writing = write(pending);
    // A failure surfaces at the next flush, or at the end.
    writing.catch(() => {});
  };

  for await (const item of source) {
    summary.read++;
    if ('error' in item) {
      reject(item.line, item.error);
      continue;
    }
    const parsed = parseThreadRecord(item.value, context);
    for (const field of parsed.ignoredFields) if (!ignored.has(field)) ignored.set(field, item.line);
    if (!parsed.ok) {
      reject(item.line, parsed.errors.join('; '));
      continue;
    }
    // One statement cannot write a row twice: a thread seen again in the same batch starts a new one, so the
    // later record wins, as it would have record by record.
    const key = keyOf(parsed.record);
    if (keys.has(key)) await flush();
    batch.push({ line: item.line, record: parsed.record, fields: parsed.fields });
    keys.add(key);
    if (batch.length >= options.batchSize) await flush();
  }
  await flush();
  await writing;
  summary.ignoredFields = [...ignored].map(([field, firstLine]) => ({ field, firstLine }));
  summary.durationMs = Math.round(performance.now() - started);
  return summary;
}

/** Errors that belong to the records of a batch (not to the database being unavailable). */
function isRecordError(error: unknown): boolean {
  if (error instanceof AppError) return error.code === 'LEAD_NOT_FOUND' || error.code === 'CONFLICT';
  // Data exceptions (22xxx) and integrity violations (23xxx) the parser has no code for.
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

function describeRecordError(error: unknown): string {
  const cause = (error as { cause?: { constraint?: string; constraint_name?: string } }).cause;
  const constraint = cause?.constraint ?? cause?.constraint_name;
  if (error instanceof AppError && error.code === 'LEAD_NOT_FOUND')
    return 'leadId: no lead with this id exists (import the leads first, or leave leadId empty)';
  if (constraint === 'thread_tracking_pkey') return 'id: already used by another thread';
  return (error as Error).message;
}

/** Every thread (of one user, or of all), a page at a time, in id order. */
export async function* exportThreadRecords(
  store: ThreadExportStore,
  options: { userId?: string; pageSize: number },
): AsyncIterable<ThreadRecord> {
  let afterId: string | undefined;
  for (;;) {
    const page = await store.exportPage({
      ...(options.userId === undefined ? {} : { userId: options.userId }),
      ...(afterId === undefined ? {} : { afterId }),
      limit: options.pageSize,
    });
    yield* page;
    if (page.length < options.pageSize) return;
    afterId = page.at(-1)!.id;
  }
}
