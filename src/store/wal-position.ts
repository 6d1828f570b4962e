/** WAL positions for the replica router (store/replica-router.ts), as PostgreSQL prints them (e.g. `0/3000148`). */
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';

/** pg_current_wal_insert_lsn() of a primary. */
export async function primaryInsertLsn(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ lsn: string }>`select pg_current_wal_insert_lsn()::text as lsn`.execute(db);
  return rows[0]!.lsn;
}

/** pg_last_wal_replay_lsn() of a replica: null before it has replayed anything. */
export async function replicaReplayLsn(db: Kysely<Database>): Promise<string | null> {
  const { rows } = await sql<{ lsn: string | null }>`select pg_last_wal_replay_lsn()::text as lsn`.execute(
    db,
  );
  return rows[0]?.lsn ?? null;
}
