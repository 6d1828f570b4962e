/**
 * A Kysely dialect for PGlite (PostgreSQL compiled to WebAssembly, in process). PGlite has one session, so the
 * driver hands out that session to one user at a time: a transaction holds it from BEGIN to COMMIT, and no other
 * statement can slip into someone else's transaction. Declares only the part of PGlite it uses.
 */
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { parsePostgresError } from '../parse-postgres-error.ts';
import { PostgresFamilyDialect } from './postgres-family-dialect.ts';
import type { QueryObserver } from './query-observer.ts';

export interface PGliteSession {
  query<T>(
    sql: string,
    params?: unknown[],
    options?: { rowMode?: 'object' },
  ): Promise<{ rows: T[]; affectedRows?: number }>;
  /** Simple-protocol execution: several statements in one string (migrations). */
  exec(sql: string, options?: { rowMode?: 'object' }): Promise<{ rows: unknown[]; affectedRows?: number }[]>;
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface PGliteDialectConfig {
  pglite: PGliteSession;
  onQuery?: QueryObserver;
}

export class PGliteDialect extends PostgresFamilyDialect<PGliteDriver> {
  constructor(config: PGliteDialectConfig) {
    super(new PGliteDriver(config));
  }
}

export class PGliteDriver implements Driver {
  readonly #config: PGliteDialectConfig;
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;
  #inUse = false;

  constructor(config: PGliteDialectConfig) {
    this.#config = config;
  }

  get stats() {
    return { size: 1, inUse: this.#inUse ? 1 : 0, idle: this.#inUse ? 0 : 1, waiting: this.#waiting };
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    // A promise chain is a fair FIFO lock: each acquirer waits for the previous holder's release.
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#waiting++;
    await previous;
    this.#waiting--;
    this.#inUse = true;
    return new PGliteConnection(this.#config, () => {
      this.#inUse = false;
      release();
    });
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await connection.executeQuery(CompiledQuery.raw(`begin${isolation}`));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as PGliteConnection).release();
  }

  async destroy(): Promise<void> {
    if (!this.#config.pglite.closed) await this.#config.pglite.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #config: PGliteDialectConfig;
  readonly release: () => void;

  constructor(config: PGliteDialectConfig, release: () => void) {
    this.#config = config;
    this.release = release;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const started = performance.now();
    try {
      // Statements without parameters go through the simple protocol, which also accepts several at once.
      const result =
        compiledQuery.parameters.length === 0
          ? ((await this.#config.pglite.exec(compiledQuery.sql, { rowMode: 'object' })).at(-1) ?? {
              rows: [],
            })
          : await this.#config.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters], {
              rowMode: 'object',
            });
      this.#config.onQuery?.({ sql: compiledQuery.sql, durationMs: performance.now() - started });
      const rows = result.rows as R[];
      return result.affectedRows === undefined
        ? { rows }
        : { rows, numAffectedRows: BigInt(result.affectedRows) };
    } catch (error) {
      this.#config.onQuery?.({ sql: compiledQuery.sql, durationMs: performance.now() - started, error });
      throw parsePostgresError(error);
    }
  }

  // biome-ignore lint/correctness/useYield: streaming is not supported by PGlite's query API
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite does not support streaming queries');
  }
}
