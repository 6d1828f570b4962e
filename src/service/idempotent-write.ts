/**
 * Idempotency keys for every service that writes: with a key, the key's claim, the write and the stored response
 * commit in one transaction, so a retried request is answered with the first response and never applied twice; the
 * same key with another request is refused.
 */
import { AppError } from '../domain/errors.ts';
import type { Store, StoreScope } from '../ports/store.ts';

export interface WriteOptions {
  /** With a key, the write and its response commit together; a retry with the same key replays the response. */
  idempotencyKey?: string;
  /** Hash of the request (method, route, body): the same key with another request is refused. */
  requestHash?: string;
  /** HTTP status stored with the response, for replays. */
  responseStatus?: number;
  /** Called when the response is a replay of an earlier request with the same key. */
  onReplay?: () => void;
  /** Called when the write was queued in the outage journal instead of applied (the database is unavailable). */
  onQueued?: (opId: string) => void;
}

export async function runIdempotent<T>(
  store: Store,
  userId: string,
  options: WriteOptions,
  work: (scope: StoreScope) => Promise<T>,
): Promise<{ value: T; replayed: boolean }> {
  const key = options.idempotencyKey;
  if (!key) return { value: await work(store), replayed: false };
  const requestHash = options.requestHash ?? '';
  return store.transaction(async (scope) => {
    const claim = await scope.idempotency.claim(userId, key, requestHash);
    if (claim.state !== 'claimed' && claim.requestHash !== requestHash) throw keyReused();
    if (claim.state === 'in_progress') {
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_USE',
        'A request with this Idempotency-Key is still in progress',
        {
          retryAfter: 1,
        },
      );
    }
    if (claim.state === 'completed') return { value: claim.response.body as T, replayed: true };
    const value = await work(scope);
    await scope.idempotency.complete(userId, key, { status: options.responseStatus ?? 200, body: value });
    return { value, replayed: false };
  });
}

export const keyReused = () =>
  new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request');
