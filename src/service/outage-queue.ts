/**
 * Writes accepted while the database is unavailable: durable in the outage journal (fsync before the 202), shown
 * to their user on this instance through an overlay until they are replayed, replayed in the order they were
 * accepted as soon as the database answers again. While anything is queued, new writes queue behind it, so nothing
 * overtakes an earlier write.
 */
import type { Thread } from '../domain/thread.ts';
import { projectNew, projectThread, threadIdsOf, type WriteOp } from '../domain/write-ops.ts';
import type { Logger } from '../ports/logger.ts';
import type { JournalRecord, OutageJournal } from '../store/journal/outage-journal.ts';

export interface QueuedWrite {
  opId: string;
  userId: string;
  op: WriteOp;
  idempotency?: { key: string; hash: string; status: number };
}

export type ReplayOutcome = 'applied' | 'conflict' | 'retry-later';

export class OutageQueue {
  readonly journal: OutageJournal<QueuedWrite>;
  readonly #log: Logger | undefined;
  /** (userId, threadId) → queued operations touching it, in order. */
  readonly #overlay = new Map<string, JournalRecord<QueuedWrite>[]>();
  #replaying: Promise<void> | undefined;
  #replayed = 0;
  #conflicts = 0;

  constructor(journal: OutageJournal<QueuedWrite>, logger?: Logger) {
    this.journal = journal;
    this.#log = logger;
    for (const record of journal.pending()) this.#addToOverlay(record);
  }

  get depth(): number {
    return this.journal.depth;
  }

  get stats(): {
    depth: number;
    bytes: number;
    oldestAt: string | null;
    replayed: number;
    conflicts: number;
  } {
    return {
      depth: this.journal.depth,
      bytes: this.journal.bytes,
      oldestAt: this.journal.oldest?.at ?? null,
      replayed: this.#replayed,
      conflicts: this.#conflicts,
    };
  }

  async enqueue(write: QueuedWrite): Promise<JournalRecord<QueuedWrite>> {
    const record = await this.journal.append(write);
    this.#addToOverlay(record);
    return record;
  }

  /** A queued write of this user with this idempotency key, if any. */
  findByIdempotencyKey(userId: string, key: string): JournalRecord<QueuedWrite> | undefined {
    return this.journal.find((w) => w.userId === userId && w.idempotency?.key === key);
  }

  pendingCount(userId: string, threadId: string): number {
    return this.#overlay.get(overlayKey(userId, threadId))?.length ?? 0;
  }

  /** The thread as this user will see it once their queued writes are applied; `base` is the stored state. */
  project(userId: string, threadId: string, base: Thread | undefined): Thread | undefined {
    const records = this.#overlay.get(overlayKey(userId, threadId));
    if (!records) return base;
    let thread = base;
    for (const record of records) {
      const ctx = { userId, opId: record.payload.opId, at: record.at };
      thread = thread
        ? projectThread(thread, record.payload.op, ctx)
        : projectNew(record.payload.op, threadId, ctx);
    }
    return thread;
  }

  /**
   * Replays queued writes in order until the journal is empty or `apply` says the database went away again.
   * Concurrent calls share one run.
   */
  replay(apply: (record: JournalRecord<QueuedWrite>) => Promise<ReplayOutcome>): Promise<void> {
    this.#replaying ??= this.#replay(apply).finally(() => {
      this.#replaying = undefined;
    });
    return this.#replaying;
  }

  async #replay(apply: (record: JournalRecord<QueuedWrite>) => Promise<ReplayOutcome>): Promise<void> {
    const started = this.journal.depth;
    if (started === 0) return;
    this.#log?.info({ queued: started }, 'replaying writes queued during the database outage');
    while (this.journal.depth > 0) {
      const record = this.journal.oldest!;
      const outcome = await apply(record);
      if (outcome === 'retry-later') {
        this.#log?.warn({ left: this.journal.depth }, 'replay paused: the database is unavailable again');
        return;
      }
      if (outcome === 'conflict') this.#conflicts++;
      this.#replayed++;
      this.journal.acknowledge(record.seq);
      this.#removeFromOverlay(record);
    }
    this.#log?.info({ replayed: started, conflicts: this.#conflicts }, 'queued writes replayed');
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  #addToOverlay(record: JournalRecord<QueuedWrite>): void {
    for (const threadId of threadIdsOf(record.payload.op)) {
      const key = overlayKey(record.payload.userId, threadId);
      const list = this.#overlay.get(key);
      if (list) list.push(record);
      else this.#overlay.set(key, [record]);
    }
  }

  #removeFromOverlay(record: JournalRecord<QueuedWrite>): void {
    for (const threadId of threadIdsOf(record.payload.op)) {
      const key = overlayKey(record.payload.userId, threadId);
      const list = this.#overlay.get(key)?.filter((r) => r.seq !== record.seq);
      if (list?.length) this.#overlay.set(key, list);
      else this.#overlay.delete(key);
    }
  }
}

const overlayKey = (userId: string, threadId: string) => `${userId.length}:${userId}:${threadId}`;
