/**
 * Idempotency keys live in the same transaction as the write they protect: the claim (an INSERT on the primary
 * key) makes a concurrent retry wait for this transaction, and the stored response commits with the write. A key
 * older than its time to live may be claimed again.
 */
import { type Kysely, sql } from 'kysely';
import type { IdempotencyClaim, IdempotencyRepository, StoredResponse } from '../ports/store.ts';
import type { Database } from './schema.ts';

export const IDEMPOTENCY_TTL_HOURS = 24;

export class KyselyIdempotencyRepository implements IdempotencyRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async claim(userId: string, key: string, requestHash: string): Promise<IdempotencyClaim> {
    const claimed = await this.#db
      .insertInto('idempotency_keys')
      .values({ user_id: userId, key, request_hash: requestHash })
      .onConflict((oc) =>
        oc
          .columns(['user_id', 'key'])
          .doUpdateSet({
            request_hash: requestHash,
            status: 'in_progress',
            response: null,
            created_at: sql`now()` as never,
          })
          .where(
            'idempotency_keys.created_at',
            '<',
            sql<string>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`,
          ),
      )
      .returning('key')
      .executeTakeFirst();
    if (claimed) return { state: 'claimed' };
    const existing = await this.#db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'status', 'response'])
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    if (existing.status === 'completed') {
      return {
        state: 'completed',
        requestHash: existing.request_hash,
        response: existing.response as StoredResponse,
      };
    }
    return { state: 'in_progress', requestHash: existing.request_hash };
  }

  async complete(userId: string, key: string, response: StoredResponse): Promise<void> {
    await this.#db
      .updateTable('idempotency_keys')
      .set({ status: 'completed', response: sql<string>`${JSON.stringify(response)}::text::jsonb` as never })
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .execute();
  }

  async purgeExpired(olderThan: string): Promise<number> {
    const result = await this.#db
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', olderThan)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
