/**
 * The Store port over Kysely: repositories bound to the database, or to one transaction inside `transaction()`.
 */
import { type Kysely, sql } from 'kysely';
import type { PoolStats, Store, StoreScope } from '../ports/store.ts';
import type { DatabaseHandle } from './database.ts';
import { KyselyIdempotencyRepository } from './idempotency-repository.ts';
import { KyselyLeadRepository } from './lead-repository.ts';
import type { Database } from './schema.ts';
import { KyselyThreadRepository } from './thread-repository.ts';

function scope(db: Kysely<Database>): StoreScope {
  return {
    threads: new KyselyThreadRepository(db),
    leads: new KyselyLeadRepository(db),
    idempotency: new KyselyIdempotencyRepository(db),
  };
}

export class KyselyStore implements Store {
  readonly threads;
  readonly leads;
  readonly idempotency;
  readonly #handle: DatabaseHandle;

  constructor(handle: DatabaseHandle) {
    this.#handle = handle;
    const s = scope(handle.db);
    this.threads = s.threads;
    this.leads = s.leads;
    this.idempotency = s.idempotency;
  }

  get db(): Kysely<Database> {
    return this.#handle.db;
  }

  get engine(): 'pglite' | 'postgres' {
    return this.#handle.engine;
  }

  transaction<T>(fn: (scope: StoreScope) => Promise<T>): Promise<T> {
    return this.#handle.db.transaction().execute((trx) => fn(scope(trx)));
  }

  async ping(): Promise<number> {
    const started = performance.now();
    await sql`select 1`.execute(this.#handle.db);
    return performance.now() - started;
  }

  poolStats(): PoolStats {
    return this.#handle.poolStats();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
