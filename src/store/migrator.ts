/**
 * Applies migrations up or down to a target version. The whole run is one transaction that first takes a
 * transaction-scoped advisory lock, so two instances starting at once serialize (the second finds nothing left to
 * do), a failed migration leaves the schema as it was, and it all works through PgBouncer in transaction mode
 * (a session-level lock, as Kysely's own migrator takes, would not).
 */
import { type Kysely, sql } from 'kysely';
import { AppError } from '../domain/errors.ts';
import type { Migration } from './migrations/migration.ts';
import type { Database } from './schema.ts';

/** An arbitrary, fixed 64-bit key for pg_advisory_xact_lock. */
const MIGRATION_LOCK_KEY = 7_311_505_101_871_262_433n;

export interface MigrationStatus {
  version: number;
  name: string;
  appliedAt: string | null;
}

export interface MigrationResult {
  from: number;
  to: number;
  applied: { version: number; name: string; direction: 'up' | 'down' }[];
}

export class Migrator {
  readonly #db: Kysely<Database>;
  readonly #migrations: readonly Migration[];

  constructor(db: Kysely<Database>, migrations: readonly Migration[]) {
    this.#db = db;
    this.#migrations = [...migrations].sort((a, b) => a.version - b.version);
    this.#migrations.forEach((m, i) => {
      if (m.version !== i + 1)
        throw new Error(`migration versions must be 1..n in order; found ${m.version}`);
    });
  }

  get latest(): number {
    return this.#migrations.length;
  }

  async status(): Promise<{ current: number; migrations: MigrationStatus[] }> {
    await this.#ensureTable(this.#db);
    const applied = await this.#db.selectFrom('thread_tracker_migrations').selectAll().execute();
    const byVersion = new Map(applied.map((row) => [row.version, row]));
    return {
      current: applied.reduce((max, row) => Math.max(max, row.version), 0),
      migrations: this.#migrations.map((m) => ({
        version: m.version,
        name: m.name,
        appliedAt: byVersion.get(m.version)?.applied_at ?? null,
      })),
    };
  }

  /** Migrates to `target` (default: latest), up or down. */
  async migrateTo(target: number = this.latest): Promise<MigrationResult> {
    if (!Number.isInteger(target) || target < 0 || target > this.latest) {
      throw new AppError('VALIDATION_FAILED', `Migration target must be between 0 and ${this.latest}`);
    }
    await this.#ensureTable(this.#db);
    return this.#db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(trx);
      const rows = await trx.selectFrom('thread_tracker_migrations').select('version').execute();
      const current = rows.reduce((max, row) => Math.max(max, row.version), 0);
      const applied: MigrationResult['applied'] = [];
      if (target > current) {
        for (const m of this.#migrations.filter((m) => m.version > current && m.version <= target)) {
          await sql.raw(m.up).execute(trx);
          await trx
            .insertInto('thread_tracker_migrations')
            .values({ version: m.version, name: m.name })
            .execute();
          applied.push({ version: m.version, name: m.name, direction: 'up' });
        }
      } else if (target < current) {
        const down = this.#migrations.filter((m) => m.version <= current && m.version > target).reverse();
        for (const m of down) {
          await sql.raw(m.down).execute(trx);
          await trx.deleteFrom('thread_tracker_migrations').where('version', '=', m.version).execute();
          applied.push({ version: m.version, name: m.name, direction: 'down' });
        }
      }
      return { from: current, to: target, applied };
    });
  }

  async #ensureTable(db: Kysely<Database>): Promise<void> {
    // CREATE TABLE IF NOT EXISTS is not safe against itself: two first starts can both decide to create. The same
    // transaction-scoped lock as the migrations serializes them.
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(trx);
      await sql`
        create table if not exists thread_tracker_migrations (
          version integer primary key,
          name text not null,
          applied_at timestamptz not null default now()
        )`.execute(trx);
    });
  }
}
