import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutageJournal } from './outage-journal.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const open = (dir: string, options: { maxBytes?: number; maxAgeMs?: number; now?: () => number } = {}) =>
  OutageJournal.open<{ n: number }>({
    dir,
    maxBytes: options.maxBytes ?? 1 << 20,
    maxAgeMs: options.maxAgeMs ?? 3_600_000,
    ...(options.now ? { now: options.now } : {}),
  });

describe('OutageJournal', () => {
  it('keeps appended records across a reopen, in order, and drops them once acknowledged', async () => {
    const dir = tempDir();
    const journal = await open(dir);
    const records = await Promise.all(Array.from({ length: 50 }, (_, n) => journal.append({ n })));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(journal.depth).toBe(50);
    await journal.close();

    const reopened = await open(dir);
    expect(reopened.pending().map((r) => r.payload.n)).toEqual(Array.from({ length: 50 }, (_, n) => n));
    for (const record of reopened.pending().slice(0, 20)) reopened.acknowledge(record.seq);
    await reopened.close();

    const third = await open(dir);
    expect(third.pending().map((r) => r.payload.n)).toEqual(Array.from({ length: 30 }, (_, n) => n + 20));
    // Sequence numbers continue after the last one ever written, even once everything is replayed.
    for (const record of [...third.pending()]) third.acknowledge(record.seq);
    expect((await third.append({ n: 99 })).seq).toBe(51);
    await third.close();
  });

  it('refuses acknowledgements out of order', async () => {
    const journal = await open(tempDir());
    await journal.append({ n: 1 });
    const second = await journal.append({ n: 2 });
    expect(() => journal.acknowledge(second.seq)).toThrow(/in order/);
    await journal.close();
  });

  it('cuts off a torn last record (a crash during a write that was never acknowledged)', async () => {
    const dir = tempDir();
    const journal = await open(dir);
    await journal.append({ n: 1 });
    await journal.append({ n: 2 });
    await journal.close();
    appendFileSync(join(dir, 'journal.ndjson'), '{"crc":12,"r":{"seq":3,"at":"2026');
    const reopened = await open(dir);
    expect(reopened.pending().map((r) => r.payload.n)).toEqual([1, 2]);
    expect((await reopened.append({ n: 3 })).seq).toBe(3);
    await reopened.close();
    const third = await open(dir);
    expect(third.pending().map((r) => r.payload.n)).toEqual([1, 2, 3]);
    await third.close();
  });

  it('stops at a damaged record in the middle and keeps the damaged file for inspection', async () => {
    const dir = tempDir();
    const journal = await open(dir);
    for (let n = 1; n <= 3; n++) await journal.append({ n });
    await journal.close();
    const path = join(dir, 'journal.ndjson');
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"n":2', '"n":7');
    writeFileSync(path, lines.join('\n'));
    const reopened = await open(dir);
    expect(reopened.pending().map((r) => r.payload.n)).toEqual([1]);
    expect(readdirSync(dir).some((f) => f.startsWith('journal.ndjson.damaged-'))).toBe(true);
    await reopened.close();
  });

  it('refuses new records beyond its size, and beyond the age of its oldest record', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const small = await open(tempDir(), { maxBytes: 400, now: () => now });
    await small.append({ n: 1 });
    await small.append({ n: 2 });
    await expect(
      (async () => {
        for (let n = 3; n < 20; n++) await small.append({ n });
      })(),
    ).rejects.toMatchObject({ code: 'JOURNAL_FULL' });
    await small.close();

    const aged = await open(tempDir(), { maxAgeMs: 60_000, now: () => now });
    await aged.append({ n: 1 });
    now += 61_000;
    await expect(aged.append({ n: 2 })).rejects.toMatchObject({ code: 'JOURNAL_FULL', status: 503 });
    aged.acknowledge(1);
    await expect(aged.append({ n: 3 })).resolves.toMatchObject({ payload: { n: 3 } });
    await aged.close();
  });

  it('finds a pending record by its content', async () => {
    const journal = await open(tempDir());
    await journal.append({ n: 1 });
    await journal.append({ n: 2 });
    expect(journal.find((p) => p.n === 2)?.seq).toBe(2);
    expect(journal.find((p) => p.n === 5)).toBeUndefined();
    await journal.close();
  });

  const canMount = process.getuid?.() === 0;
  it.skipIf(!canMount)(
    'on a full disk refuses the write, acknowledges nothing, leaves the file well formed, and recovers',
    async () => {
      const dir = tempDir();
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12k', 'tmpfs', dir]);
      try {
        const journal = await open(dir, { maxBytes: 1 << 30 });
        const accepted: number[] = [];
        let refused = 0;
        for (let n = 0; n < 200; n++) {
          try {
            await journal.append({ n, pad: 'x'.repeat(200) } as { n: number });
            accepted.push(n);
          } catch (error) {
            expect(error).toMatchObject({ code: 'JOURNAL_FULL', status: 503 });
            refused++;
          }
        }
        expect(refused).toBeGreaterThan(0);
        expect(journal.pending().map((r) => r.payload.n)).toEqual(accepted);
        await journal.close();
        const reopened = await open(dir, { maxBytes: 1 << 30 });
        expect(reopened.pending().map((r) => r.payload.n)).toEqual(accepted);
        // Space comes back once the queued writes are replayed.
        for (const record of [...reopened.pending()]) reopened.acknowledge(record.seq);
        await new Promise((r) => setTimeout(r, 50));
        await expect(reopened.append({ n: 1000 })).resolves.toMatchObject({ payload: { n: 1000 } });
        await reopened.close();
      } finally {
        execFileSync('umount', [dir]);
      }
    },
  );
});
