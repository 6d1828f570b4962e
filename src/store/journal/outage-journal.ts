/**
 * The outage journal: writes accepted while the database is unavailable, kept on local disk until they are
 * replayed. Invariants:
 * - append() resolves only after the record is on disk (fdatasync); appends that arrive together share one write
 *   and one sync (group commit). A failed write (disk full) is cut back off the file and every append of that batch
 *   rejects: nothing is acknowledged that is not durable.
 * - Records are replayed strictly in append order; the checkpoint names the last replayed record. A crash between
 *   a replay and its checkpoint replays that record again, which the operation id makes harmless.
 * - Every line carries a CRC-32 of its content. A torn last line (crash during a write that was never
 *   acknowledged) is cut off at start-up; a damaged line in the middle stops the load there and the damaged file is
 *   kept aside for inspection.
 * - The journal is capped in bytes and in the age of its oldest record; a full journal refuses new records.
 */
import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readFile, rename, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { AppError } from '../../domain/errors.ts';
import type { Logger } from '../../ports/logger.ts';

export interface JournalRecord<T> {
  seq: number;
  /** When the write was accepted (ISO 8601). */
  at: string;
  payload: T;
}

export interface OutageJournalOptions {
  dir: string;
  maxBytes: number;
  maxAgeMs: number;
  logger?: Logger;
  /** For tests: the clock. */
  now?: () => number;
}

interface Waiter {
  line: Buffer;
  record: JournalRecord<unknown>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const FILE = 'journal.ndjson';
const CHECKPOINT = 'checkpoint';

function encode(record: JournalRecord<unknown>): Buffer {
  const body = JSON.stringify(record);
  return Buffer.from(`${JSON.stringify({ crc: crc32(body), r: record })}\n`);
}

export class OutageJournal<T> {
  readonly #options: OutageJournalOptions;
  readonly #pending: JournalRecord<T>[] = [];
  #handle!: FileHandle;
  #size = 0;
  #nextSeq = 1;
  #checkpoint = 0;
  #queue: Waiter[] = [];
  /** Bytes of the records waiting in #queue for the next flush. */
  #queuedBytes = 0;
  #flushing = false;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #checkpointDirty = false;
  #checkpointChain: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(options: OutageJournalOptions) {
    this.#options = options;
  }

  static async open<T>(options: OutageJournalOptions): Promise<OutageJournal<T>> {
    const journal = new OutageJournal<T>(options);
    await journal.#load();
    return journal;
  }

  get depth(): number {
    return this.#pending.length;
  }

  get bytes(): number {
    return this.#size;
  }

  get oldest(): JournalRecord<T> | undefined {
    return this.#pending[0];
  }

  pending(): readonly JournalRecord<T>[] {
    return this.#pending;
  }

  /** Appends a record; resolves once it is durable. */
  append(payload: T): Promise<JournalRecord<T>> {
    if (this.#closed)
      return Promise.reject(new AppError('JOURNAL_UNAVAILABLE', 'The write journal is closed'));
    const now = this.#now();
    const oldest = this.#pending[0];
    if (oldest && now - Date.parse(oldest.at) > this.#options.maxAgeMs) {
      return Promise.reject(
        new AppError('JOURNAL_FULL', 'The database has been unavailable too long to queue more writes', {
          retryAfter: 30,
        }),
      );
    }
    const record: JournalRecord<T> = { seq: this.#nextSeq++, at: new Date(now).toISOString(), payload };
    const line = encode(record);
    if (this.#size + this.#queuedBytes + line.length > this.#options.maxBytes) {
      return Promise.reject(
        new AppError('JOURNAL_FULL', 'The write journal is full; the write was not accepted', {
          retryAfter: 30,
        }),
      );
    }
    return new Promise<JournalRecord<T>>((resolve, reject) => {
      this.#queue.push({ line, record, resolve: () => resolve(record), reject });
      this.#queuedBytes += line.length;
      if (!this.#flushing) setImmediate(() => void this.#flush());
    });
  }

  /** Marks the oldest pending record as replayed (records are replayed in order). */
  acknowledge(seq: number): void {
    const first = this.#pending[0];
    if (!first || first.seq !== seq)
      throw new Error(`journal records are replayed in order: expected ${first?.seq}, got ${seq}`);
    this.#pending.shift();
    this.#checkpoint = seq;
    this.#checkpointDirty = true;
    if (this.#pending.length === 0) void this.#saveCheckpoint();
    else this.#checkpointTimer ??= setTimeout(() => void this.#saveCheckpoint(), 100);
  }

  /** Finds a pending record by a predicate (e.g. the same idempotency key). */
  find(predicate: (payload: T) => boolean): JournalRecord<T> | undefined {
    return this.#pending.find((r) => predicate(r.payload));
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing || this.#queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.#saveCheckpoint();
    await this.#handle.close();
  }

  // ---------------------------------------------------------------------------------------------------------

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        this.#queuedBytes = 0;
        const data = Buffer.concat(batch.map((w) => w.line));
        const start = this.#size;
        try {
          let written = 0;
          while (written < data.length) {
            const { bytesWritten } = await this.#handle.write(
              data,
              written,
              data.length - written,
              start + written,
            );
            written += bytesWritten;
          }
          await this.#handle.datasync();
          this.#size = start + data.length;
          for (const waiter of batch) {
            this.#pending.push(waiter.record as JournalRecord<T>);
            waiter.resolve();
          }
        } catch (error) {
          // Nothing of this batch is acknowledged: cut whatever reached the file back off.
          await this.#handle.truncate(start).catch(() => {});
          await this.#handle.datasync().catch(() => {});
          const code = (error as NodeJS.ErrnoException).code;
          this.#options.logger?.error({ err: error }, 'write journal append failed; the writes were refused');
          const refusal = new AppError(
            code === 'ENOSPC' ? 'JOURNAL_FULL' : 'JOURNAL_UNAVAILABLE',
            code === 'ENOSPC'
              ? 'The disk holding the write journal is full; the write was not accepted'
              : 'The write journal cannot be written; the write was not accepted',
            { cause: error, retryAfter: 30 },
          );
          for (const waiter of batch) waiter.reject(refusal);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * Saves the checkpoint; saves never overlap. A failed save (a full disk) is logged and retried with the next
   * one: until then a restart replays a few records again, which their operation ids make harmless.
   */
  #saveCheckpoint(): Promise<void> {
    if (this.#checkpointTimer) clearTimeout(this.#checkpointTimer);
    this.#checkpointTimer = undefined;
    this.#checkpointChain = this.#checkpointChain
      .then(() => this.#persistCheckpoint())
      .catch((error: unknown) => {
        this.#checkpointDirty = true;
        this.#options.logger?.warn({ err: error }, 'write journal checkpoint not saved; will retry');
      });
    return this.#checkpointChain;
  }

  async #persistCheckpoint(): Promise<void> {
    if (!this.#checkpointDirty) return;
    this.#checkpointDirty = false;
    const dir = this.#options.dir;
    const tmp = join(dir, `${CHECKPOINT}.tmp`);
    await writeFile(tmp, String(this.#checkpoint), { flush: true });
    await rename(tmp, join(dir, CHECKPOINT));
    // Fully replayed: the file can start over (the checkpoint keeps the sequence going).
    if (this.#pending.length === 0 && this.#queue.length === 0 && !this.#flushing && this.#size > 0) {
      await this.#handle.truncate(0);
      await this.#handle.datasync();
      this.#size = 0;
    }
  }

  async #load(): Promise<void> {
    const { dir } = this.#options;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, FILE);
    try {
      this.#checkpoint = Number((await readFile(join(dir, CHECKPOINT), 'utf8')).trim()) || 0;
    } catch {
      this.#checkpoint = 0;
    }
    let content = Buffer.alloc(0);
    try {
      content = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let offset = 0;
    let goodEnd = 0;
    let maxSeq = this.#checkpoint;
    while (offset < content.length) {
      const newline = content.indexOf(10, offset);
      const end = newline === -1 ? content.length : newline + 1;
      const text = content.subarray(offset, newline === -1 ? content.length : newline).toString('utf8');
      const record = newline === -1 ? undefined : decode(text);
      if (!record) {
        if (end < content.length) {
          const aside = join(dir, `${FILE}.damaged-${Date.now()}`);
          await writeFile(aside, content);
          this.#options.logger?.error(
            { offset, kept: aside },
            'write journal damaged: loading the records before it',
          );
        } else {
          this.#options.logger?.warn(
            { offset },
            'write journal: cutting off a torn last record (never acknowledged)',
          );
        }
        break;
      }
      maxSeq = Math.max(maxSeq, record.seq);
      if (record.seq > this.#checkpoint) this.#pending.push(record as JournalRecord<T>);
      offset = end;
      goodEnd = end;
    }
    if (goodEnd < content.length) await truncate(path, goodEnd);
    this.#nextSeq = maxSeq + 1;
    // Not append mode: positional writes are needed to cut a failed batch back off, and Linux ignores positions in
    // append mode. Create the file first, and make its directory entry durable.
    await (await open(path, 'a')).close();
    const dirHandle = await open(dir, 'r');
    await dirHandle.sync().finally(() => dirHandle.close());
    this.#handle = await open(path, 'r+');
    this.#size = (await stat(path)).size;
  }
}

function decode(text: string): JournalRecord<unknown> | undefined {
  try {
    const parsed = JSON.parse(text) as { crc: number; r: JournalRecord<unknown> };
    if (crc32(JSON.stringify(parsed.r)) !== parsed.crc) return undefined;
    if (typeof parsed.r?.seq !== 'number') return undefined;
    return parsed.r;
  } catch {
    return undefined;
  }
}
