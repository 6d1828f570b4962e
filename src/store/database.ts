/**
 * Opens the database the configuration names: PGlite in a data directory (the embedded default), or PostgreSQL /
 * Supabase through postgres.js. Both return the same Kysely instance type, so one repository serves both.
 * Timestamps are read as PostgreSQL text in UTC (the row mapper keeps their microseconds).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Kysely } from 'kysely';
import postgres from 'postgres';
import type { PoolStats } from '../ports/store.ts';
import { PGliteDialect, type PGliteSession } from './drivers/pglite-dialect.ts';
import { PostgresJsDialect, withTimeout } from './drivers/postgres-dialect.ts';
import type { QueryObserver } from './drivers/query-observer.ts';
import type { Database } from './schema.ts';

const TIMESTAMPTZ = 1184;
const TIMESTAMP = 1114;
const DATE = 1082;

export type DatabaseOptions =
  | {
      engine: 'pglite';
      /** Directory for the data files; undefined = in memory (tests). */
      dataDir?: string;
      onQuery?: QueryObserver;
    }
  | {
      engine: 'postgres';
      url: string;
      poolSize: number;
      queryTimeoutMs: number;
      connectTimeoutMs: number;
      /** Named prepared statements; off behind PgBouncer in transaction mode before 1.21. */
      prepare?: boolean;
      applicationName?: string;
      onQuery?: QueryObserver;
    };

export interface DatabaseHandle {
  db: Kysely<Database>;
  engine: 'pglite' | 'postgres';
  poolStats(): PoolStats;
  /**
   * One `select 1` on a connection reserved for it (never queued behind the pool's work); rejects when the server
   * does not answer within `timeoutMs`. Only for PostgreSQL: an in-process PGlite cannot become unreachable.
   */
  heartbeat?(timeoutMs: number): Promise<void>;
  /** Replaces the connection pool (PostgreSQL): after an outage, connections may be wedged. */
  recyclePool?(): void;
  close(): Promise<void>;
}

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.engine === 'pglite' ? openPGlite(options) : openPostgres(options);
}

async function openPGlite(options: Extract<DatabaseOptions, { engine: 'pglite' }>): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  let dataDir: string | undefined;
  if (options.dataDir) {
    dataDir = join(options.dataDir, 'pglite');
    await mkdir(dataDir, { recursive: true });
  }
  const raw = (value: string) => value;
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: { [TIMESTAMPTZ]: raw, [TIMESTAMP]: raw, [DATE]: raw },
  });
  await pglite.exec(`set time zone 'UTC'`);
  const dialect = new PGliteDialect({
    pglite: pglite as unknown as PGliteSession,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const db = new Kysely<Database>({ dialect });
  return {
    db,
    engine: 'pglite',
    poolStats: () => ({ engine: 'pglite', ...dialect.driver.stats }),
    close: () => db.destroy(),
  };
}

async function openPostgres(
  options: Extract<DatabaseOptions, { engine: 'postgres' }>,
): Promise<DatabaseHandle> {
  const url = new URL(options.url);
  // `pgbouncer=true` (a convention of Supabase's pooler strings) is not a server setting: strip it, and take it as
  // the hint that named prepared statements are not available.
  const behindPgBouncer = url.searchParams.get('pgbouncer') === 'true';
  url.searchParams.delete('pgbouncer');
  const raw = {
    to: TIMESTAMPTZ,
    from: [TIMESTAMPTZ, TIMESTAMP, DATE],
    serialize: (value: unknown) => (value instanceof Date ? value.toISOString() : String(value)),
    parse: (value: string) => value,
  };
  const createPool = () =>
    postgres(url.toString(), {
      max: options.poolSize,
      connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
      idle_timeout: 60,
      max_lifetime: 60 * 30,
      prepare: options.prepare ?? !behindPgBouncer,
      types: { timestamptzText: raw },
      connection: { TimeZone: 'UTC', application_name: options.applicationName ?? 'thread-tracker' },
      onnotice: () => {},
    });
  const dialect = new PostgresJsDialect({
    createPool,
    poolSize: options.poolSize,
    queryTimeoutMs: options.queryTimeoutMs,
    ...(options.onQuery ? { onQuery: options.onQuery } : {}),
  });
  const db = new Kysely<Database>({ dialect });
  // The heartbeat has a connection of its own, never queued behind the pool's work; a heartbeat that times out
  // replaces it, since a connection left waiting on a lost server may never answer again.
  const createProbe = () =>
    postgres(url.toString(), {
      max: 1,
      connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
      idle_timeout: 0,
      prepare: false,
      connection: { application_name: `${options.applicationName ?? 'thread-tracker'}-heartbeat` },
      onnotice: () => {},
    });
  let probe = createProbe();
  return {
    db,
    engine: 'postgres',
    poolStats: () => ({ engine: 'postgres', ...dialect.driver.stats }),
    heartbeat: async (timeoutMs) => {
      const client = probe;
      try {
        await withTimeout(client`select 1`, timeoutMs, () => undefined);
      } catch (error) {
        if ((error as { code?: string }).code === 'DB_TIMEOUT' && probe === client) {
          probe = createProbe();
          client.end({ timeout: 0 }).catch(() => {});
        }
        throw error;
      }
    },
    recyclePool: () => dialect.driver.recyclePool(),
    close: async () => {
      await probe.end({ timeout: 1 });
      await db.destroy();
    },
  };
}
