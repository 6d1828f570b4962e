// Builders for web tests: threads as the API returns them, and fake API services whose calls tests can steer.
import { vi } from 'vitest';
import type { Api } from '../api/index.ts';
import type { LiveThreadEvent, Thread } from '../api/types.ts';

let sequence = 0;

export function makeThread(overrides: Partial<Thread> = {}): Thread {
  sequence += 1;
  const n = String(sequence).padStart(4, '0');
  return {
    id: `00000000-0000-4000-8000-00000000${n}`,
    userId: 'me',
    threadId: `thread-${n}`,
    leadId: null,
    tracked: true,
    hidden: false,
    systemGenerated: false,
    emailType: 'application',
    status: 'active',
    subject: `Application ${n}`,
    participants: [`person${n}@example.com`],
    messageCount: 1,
    lastActivity: `2026-11-${String(28 - (sequence % 27)).padStart(2, '0')}T10:00:00.000000Z`,
    aiGenerated: false,
    followupScheduled: false,
    followupScheduledAt: null,
    followupCount: 0,
    openRate: null,
    replyRate: null,
    responseTimeHours: null,
    createdAt: '2026-11-01T09:00:00.000000Z',
    updatedAt: '2026-11-01T09:00:00.000000Z',
    hiddenAt: null,
    archivedAt: null,
    ...overrides,
  };
}

/** `count` threads, newest activity first (the server's default order). */
export function makeThreads(count: number, overrides: Partial<Thread> = {}): Thread[] {
  const base = Date.parse('2026-12-01T12:00:00Z');
  return Array.from({ length: count }, (_, i) =>
    makeThread({ lastActivity: new Date(base - i * 3_600_000).toISOString(), ...overrides }),
  );
}

export function makeEvent(overrides: Partial<LiveThreadEvent> & { threadId: string }): LiveThreadEvent {
  return {
    id: String(++sequence),
    userId: 'me',
    type: 'updated',
    data: {},
    createdAt: '2026-12-01T12:00:00.000000Z',
    ...overrides,
  };
}

/** A promise with its resolve/reject exposed, to hold a fake response until the test releases it. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const notImplemented = (name: string) =>
  vi.fn(() => Promise.reject(new Error(`${name} is not faked in this test`)));

/** Every API call as a vi.fn; tests override what they use. */
export function fakeApi(): { [K in keyof Api]: { [M in keyof Api[K]]: ReturnType<typeof vi.fn> } } & Api {
  const api = {
    threads: {
      list: vi.fn(() => Promise.resolve({ items: [], nextCursor: null })),
      get: notImplemented('threads.get'),
      hide: notImplemented('threads.hide'),
      unhide: notImplemented('threads.unhide'),
      archive: notImplemented('threads.archive'),
      unarchive: notImplemented('threads.unarchive'),
      bulk: notImplemented('threads.bulk'),
      scheduleFollowup: notImplemented('threads.scheduleFollowup'),
      cancelFollowup: notImplemented('threads.cancelFollowup'),
      previewFollowup: notImplemented('threads.previewFollowup'),
      events: vi.fn(() => Promise.resolve({ items: [] })),
    },
    leads: {
      list: vi.fn(() => Promise.resolve({ items: [] })),
      get: notImplemented('leads.get'),
    },
    analytics: { get: notImplemented('analytics.get') },
    accounts: {
      list: notImplemented('accounts.list'),
      connectGmail: notImplemented('accounts.connectGmail'),
      addImap: notImplemented('accounts.addImap'),
      sync: notImplemented('accounts.sync'),
      remove: notImplemented('accounts.remove'),
    },
    followups: { list: notImplemented('followups.list') },
    system: {
      config: vi.fn(() => Promise.resolve({ authMode: 'local' as const })),
      me: vi.fn(() => Promise.resolve({ userId: 'me', admin: false, authMode: 'local' as const })),
    },
  };
  return api as never;
}
