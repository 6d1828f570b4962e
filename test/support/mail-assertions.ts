/**
 * What a synced mailbox must look like: the threads of a corpus, exactly (none missing, none doubled, each with the
 * counts and figures the corpus says), read through the ThreadTrackingService as the API would.
 */
import { expect } from 'vitest';
import type { Thread } from '../../src/domain/thread.ts';
import type { ThreadTrackingService } from '../../src/service/thread-tracking-service.ts';
import { allThreads } from './all-threads.ts';
import type { Corpus } from './mail-corpus.ts';

export { allThreads };

/** Finds a corpus thread among synced ones by its subject and contact. */
export function threadFor(threads: Thread[], corpus: Corpus, index: number): Thread | undefined {
  const expected = corpus.threads[index]!;
  return threads.find(
    (t) => t.subject === expected.subject && t.participants.join(',') === `c${expected.index}@contacts.test`,
  );
}

export function expectMailbox(
  threads: Thread[],
  corpus: Corpus,
  overrides: Record<number, Partial<Thread>> = {},
) {
  const seen = new Set<string>();
  for (const t of threads) {
    const key = `${t.subject}|${t.participants.join(',')}`;
    expect(seen.has(key), `duplicated thread ${key}`).toBe(false);
    seen.add(key);
  }
  expect(threads).toHaveLength(corpus.threads.length);
  for (const expected of corpus.threads) {
    const thread = threadFor(threads, corpus, expected.index);
    expect(thread, `thread ${expected.index} (${expected.subject}) is missing`).toBeDefined();
    expect(thread, `thread ${expected.index}`).toMatchObject({
      messageCount: expected.messageCount,
      responseTimeHours: expected.responseTimeHours,
      replyRate: expected.replyRate,
      tracked: true,
      status: 'active',
      ...overrides[expected.index],
    });
  }
}

/** Events of each kind must be exactly what the corpus holds (each recorded once). */
export async function expectEvents(
  service: ThreadTrackingService,
  corpus: Corpus,
  extra = { reply: 0, auto_reply: 0, bounce: 0 },
) {
  const events = await service.listEvents('me', { limit: 100_000 });
  const count = (type: string) => events.filter((e) => e.type === type).length;
  const sum = (k: 'reply' | 'auto_reply' | 'bounce') =>
    corpus.threads.reduce((n, t) => n + t.events[k], 0) + extra[k];
  expect(count('reply_detected')).toBe(sum('reply'));
  expect(count('auto_reply_received')).toBe(sum('auto_reply'));
  expect(count('bounce_received')).toBe(sum('bounce'));
}
