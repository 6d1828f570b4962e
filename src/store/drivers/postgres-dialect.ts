/**
 * A Kysely dialect over postgres.js. Plain statements go to the pool (postgres.js pipelines them on its
 * connections); only a transaction reserves a connection, from BEGIN to COMMIT/ROLLBACK. Every statement has a
 * client-side timeout, because a server-side statement_timeout cannot fire on a server that is frozen.
 */
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type { ReservedSql, Sql } from 'postgres';
import { AppError } from '../../domain/errors.ts';
import { parsePostgresError } from '../parse-postgres-error.ts';
import { PostgresFamilyDialect } from './postgres-family-dialect.ts';
import type { QueryObserver } from './query-observer.ts';

export interface PostgresDialectConfig {
  /** Makes a connection pool; called again to replace a pool whose connections may be wedged. */
  createPool: () => Sql;
  poolSize: number;
  queryTimeoutMs: number;
  onQuery?: QueryObserver;
}

export class PostgresJsDialect extends PostgresFamilyDialect<PostgresJsDriver> {
  constructor(config: PostgresDialectConfig) {
    super(new PostgresJsDriver(config));
  }
}

/** Ends every connection of a pool that was ended already (postgres.js `close`), waiting at most a second. */
function closeConnections(pool: Sql): Promise<void> {
  const closing = (pool as unknown as { close(): Promise<void> }).close().catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((r) => {
    timer = setTimeout(r, 1_000);
  });
  return Promise.race([closing, limit]).finally(() => clearTimeout(timer));
}

export class PostgresJsDriver implements Driver {
  readonly #config: PostgresDialectConfig;
  #pool: Sql;
  #active = 0;
  #reserved = 0;
  #waitingReserve = 0;
  /** Pools replaced by recyclePool() whose connections may not all be closed yet. */
  readonly #retired = new Set<Sql>();

  constructor(config: PostgresDialectConfig) {
    this.#config = config;
    this.#pool = config.createPool();
  }

  /**
   * Replaces the pool. After a lost or frozen server a connection can be left waiting for an answer that never
   * comes; a fresh pool is the only sure way out. Statements in flight on the old pool fail.
   */
  recyclePool(): void {
    const old = this.#pool;
    this.#pool = this.#config.createPool();
    this.#retired.add(old);
    // Statements in flight fail at once. A connection that was still opening is not closed by that; it is once
    // it has opened (a second pass), and in any case by destroy().
    old
      .end({ timeout: 0 })
      .catch(() => {})
      .finally(() => {
        setTimeout(() => void closeConnections(old).finally(() => this.#retired.delete(old)), 1_000).unref();
      });
  }

  /** Pool figures: statements in flight count as in use (postgres.js shares connections between them). */
  get stats() {
    const inUse = Math.min(this.#config.poolSize, this.#reserved + this.#active);
    return {
      size: this.#config.poolSize,
      inUse,
      idle: this.#config.poolSize - inUse,
      waiting: this.#waitingReserve + Math.max(0, this.#reserved + this.#active - this.#config.poolSize),
    };
  }

  get pool(): Sql {
    return this.#pool;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new PostgresJsConnection(this);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const conn = connection as PostgresJsConnection;
    await conn.reserve();
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await conn.executeQuery(CompiledQuery.raw(`begin${isolation}`));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PostgresJsConnection).release();
  }

  async destroy(): Promise<void> {
    await Promise.all([this.#pool.end({ timeout: 5 }), ...[...this.#retired].map(closeConnections)]);
  }

  /** @internal */
  async reserveFromPool(): Promise<ReservedSql> {
    this.#waitingReserve++;
    try {
      const reserved = await withTimeout(this.#pool.reserve(), this.#config.queryTimeoutMs, () => undefined);
      this.#reserved++;
      return reserved;
    } finally {
      this.#waitingReserve--;
    }
  }

  /** @internal */
  releaseReserved(reserved: ReservedSql): void {
    this.#reserved--;
    reserved.release();
  }

  /** @internal */
  async run<R>(target: Sql | ReservedSql, compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const started = performance.now();
    this.#active++;
    try {
      // Statements without parameters use the simple protocol, which also accepts several at once (migrations).
      const pending =
        compiledQuery.parameters.length === 0
          ? target.unsafe(compiledQuery.sql).simple()
          : target.unsafe(compiledQuery.sql, compiledQuery.parameters as never[]);
      const result = await withTimeout(pending, this.#config.queryTimeoutMs, () => pending.cancel());
      this.#config.onQuery?.({ sql: compiledQuery.sql, durationMs: performance.now() - started });
      const command = result.command;
      const affected =
        command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE'
          ? { numAffectedRows: BigInt(result.count ?? 0) }
          : {};
      return { rows: [...result] as R[], ...affected };
    } catch (error) {
      this.#config.onQuery?.({ sql: compiledQuery.sql, durationMs: performance.now() - started, error });
      throw parsePostgresError(error);
    } finally {
      this.#active--;
    }
  }
}

class PostgresJsConnection implements DatabaseConnection {
  readonly #driver: PostgresJsDriver;
  #reserved: ReservedSql | undefined;

  constructor(driver: PostgresJsDriver) {
    this.#driver = driver;
  }

  async reserve(): Promise<void> {
    this.#reserved = await this.#driver.reserveFromPool();
  }

  release(): void {
    if (this.#reserved) {
      this.#driver.releaseReserved(this.#reserved);
      this.#reserved = undefined;
    }
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    return this.#driver.run<R>(this.#reserved ?? this.#driver.pool, compiledQuery);
  }

  // biome-ignore lint/correctness/useYield: not used by the product
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by this driver');
  }
}

/** Rejects with DB_TIMEOUT after `ms`, calling `onTimeout` (e.g. to cancel the statement on the server). */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  if (!(ms > 0)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        // Cancelling is best effort (on a frozen server the cancel request hangs too): never let it surface.
        const cancelled = onTimeout();
        if (cancelled instanceof Promise) cancelled.catch(() => {});
      } catch {
        // as above: the timeout error below is what the caller needs
      }
      reject(new AppError('DB_TIMEOUT', `The database did not answer within ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
