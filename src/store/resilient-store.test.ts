import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../domain/errors.ts';
import type { Store } from '../ports/store.ts';
import { ResilientStore } from './resilient-store.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A store whose thread reads are answered by `get`; nothing else is used here. */
function innerStore(get: () => Promise<unknown>): Store {
  return {
    threads: { get },
    leads: {},
    idempotency: {},
    transaction: async () => undefined,
    ping: async () => 0,
    poolStats: () => ({ engine: 'postgres', size: 1, inUse: 0, idle: 1, waiting: 0 }),
    close: async () => {},
  } as unknown as Store;
}

describe('ResilientStore', () => {
  let store: ResilientStore | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('keeps nothing of a call once it has answered', async () => {
    store = new ResilientStore(
      innerStore(async () => 'x'.repeat(64 * 1024) + Math.random()),
      { retryAttempts: 0, heartbeat: async () => {}, heartbeatIntervalMs: 60_000 },
    );
    const read = () => store!.threads.get('user', 'thread');
    for (let i = 0; i < 100; i++) await read();
    gc();
    const before = process.memoryUsage().heapUsed;
    // 20,000 calls: anything a call leaves behind adds up (a reaction left on a long-lived promise is ~800 bytes,
    // 16 MB here, and can hold the answer with it: 64 kB each).
    for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: 100 }, read));
    gc();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(2 * 1024 * 1024);
  });

  it('abandons the calls in flight when the breaker opens, and later calls are refused at once', async () => {
    let calls = 0;
    store = new ResilientStore(
      innerStore(() => {
        calls++;
        return new Promise(() => {});
      }),
      { retryAttempts: 3, heartbeat: async () => {}, heartbeatIntervalMs: 60_000 },
    );
    const pending = Promise.allSettled([store.threads.get('u', 'a'), store.threads.get('u', 'b')]);
    store.breaker.trip();
    const settled = await pending;
    for (const outcome of settled) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(AppError);
      expect(((outcome as PromiseRejectedResult).reason as AppError).code).toBe('DB_UNAVAILABLE');
    }
    await expect(store.threads.get('u', 'c')).rejects.toMatchObject({ code: 'DB_UNAVAILABLE' });
    expect(calls).toBe(2);
  });
});
