/**
 * Writes accepted while the database is unavailable: durable in the outage journal (fsync before the 202), shown
 * to their user on this instance through an overlay until they are replayed, and replayed as soon as the database
 * answers again.
 *
 * Order is kept per thread: a new write to a thread with queued writes queues behind them (the service asks
 * `hasPending`), and the replay applies the writes of one thread strictly in the order they were accepted. Writes
 * to different threads commute, so the replay runs up to `replayConcurrency` of them at once (their commits share
 * the database's fsyncs) and acknowledges them in journal order.
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
  readonly #replayConcurrency: number;
  #replayed = 0;
  #conflicts = 0;

  constructor(
    journal: OutageJournal<QueuedWrite>,
    logger?: Logger,
    options: { replayConcurrency?: number } = {},
  ) {
    this.journal = journal;
    this.#log = logger;
    this.#replayConcurrency = options.replayConcurrency ?? 16;
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

  /** Whether any of these threads of the user has queued writes (a new write to it must queue behind them). */
  hasPending(userId: string, threadIds: string[]): boolean {
    return threadIds.some((threadId) => this.#overlay.has(overlayKey(userId, threadId)));
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
    // A sliding window over the journal: up to `replayConcurrency` records in flight, a new one started as soon as
    // any finishes, acknowledged in journal order. The records in flight are always the first ones still pending.
    const pending = this.journal.pending();
    const inFlight: {
      record: JournalRecord<QueuedWrite>;
      outcome: Promise<ReplayOutcome>;
      result?: ReplayOutcome;
    }[] = [];
    // Each record waits for the latest earlier record in flight that touches one of its threads; if that one
    // could not be applied now, neither is this one (it would overtake it).
    const last = new Map<string, Promise<ReplayOutcome>>();
    let stopping = false;
    while (!stopping || inFlight.some((e) => e.result === undefined)) {
      while (!stopping && inFlight.length < this.#replayConcurrency && inFlight.length < pending.length) {
        const record = pending[inFlight.length]!;
        const keys = threadIdsOf(record.payload.op).map((t) => overlayKey(record.payload.userId, t));
        const before = keys
          .map((k) => last.get(k))
          .filter((p): p is Promise<ReplayOutcome> => p !== undefined);
        const outcome =
          before.length === 0
            ? apply(record)
            : Promise.all(before).then((earlier) =>
                earlier.includes('retry-later') ? ('retry-later' as const) : apply(record),
              );
        const entry: (typeof inFlight)[number] = { record, outcome };
        inFlight.push(entry);
        for (const key of keys) last.set(key, outcome);
        void outcome.then(
          (result) => {
            entry.result = result;
            for (const key of keys) if (last.get(key) === outcome) last.delete(key);
          },
          () => {},
        );
      }
      if (inFlight.length === 0) break;
      // Until one more finishes (a failed apply ends the replay with its error).
      const running = inFlight.filter((e) => e.result === undefined).map((e) => e.outcome);
      if (running.length > 0) await Promise.race(running);
      if (inFlight.some((e) => e.result === 'retry-later')) stopping = true;
      while (inFlight[0]?.result !== undefined && inFlight[0].result !== 'retry-later') {
        const { record, result } = inFlight.shift()!;
        if (result === 'conflict') this.#conflicts++;
        this.#replayed++;
        this.journal.acknowledge(record.seq);
        this.#removeFromOverlay(record);
      }
    }
    if (stopping) {
      // Records after the first one put off may have been applied already; replaying them again is a no-op.
      this.#log?.warn({ left: this.journal.depth }, 'replay paused: the database is unavailable again');
      return;
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
