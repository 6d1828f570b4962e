import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutageJournal } from '../store/journal/outage-journal.ts';
import { OutageQueue, type QueuedWrite, type ReplayOutcome } from './outage-queue.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function queueOf(writes: number, threads: number): Promise<OutageQueue> {
  const dir = mkdtempSync(join(tmpdir(), 'outage-queue-test-'));
  dirs.push(dir);
  const journal = await OutageJournal.open<QueuedWrite>({ dir, maxBytes: 1 << 24, maxAgeMs: 3_600_000 });
  const queue = new OutageQueue(journal, undefined, { replayConcurrency: 8 });
  for (let i = 0; i < writes; i++) {
    await queue.enqueue({
      opId: `op-${i}`,
      userId: 'u',
      op: { kind: 'command', command: { type: i % 2 ? 'hide' : 'unhide', threadId: `t${i % threads}` } },
    });
  }
  return queue;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const threadOf = (w: QueuedWrite) => (w.op as { command: { threadId: string } }).command.threadId;

describe('OutageQueue replay', () => {
  it('applies the writes of each thread in order, several threads at once, and empties the journal', async () => {
    const queue = await queueOf(300, 7);
    const applied = new Map<string, number[]>();
    let running = 0;
    let most = 0;
    await queue.replay(async (record) => {
      running++;
      most = Math.max(most, running);
      await sleep(Math.random() * 4);
      const thread = threadOf(record.payload);
      applied.set(thread, [...(applied.get(thread) ?? []), record.seq]);
      running--;
      return 'applied';
    });
    expect(queue.depth).toBe(0);
    expect(queue.stats.replayed).toBe(300);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(7);
    for (const seqs of applied.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect([...applied.values()].flat().sort((a, b) => a - b)).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    expect(queue.pendingCount('u', 't0')).toBe(0);
  });

  it('stops at a write the database cannot take now, keeping it and everything after it, in order', async () => {
    const queue = await queueOf(40, 40);
    const outcomes: Record<number, ReplayOutcome> = {};
    await queue.replay(async (record) => {
      await sleep(Math.random() * 3);
      outcomes[record.seq] = record.seq === 10 ? 'retry-later' : 'applied';
      return outcomes[record.seq]!;
    });
    // Acknowledged: exactly the writes before the one put off.
    expect(queue.journal.pending()[0]?.seq).toBe(10);
    expect(queue.stats.replayed).toBe(9);
    // A later replay goes on from there (writes applied already are applied again, idempotently).
    const second: number[] = [];
    await queue.replay(async (record) => {
      second.push(record.seq);
      return 'applied';
    });
    expect(queue.depth).toBe(0);
    expect(second[0]).toBe(10);
    expect(second.sort((a, b) => a - b)).toEqual(Array.from({ length: 31 }, (_, i) => i + 10));
  });
});
