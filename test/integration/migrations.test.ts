/**
 * The schema itself: up, down and up again on both engines; the spec's table exactly; concurrent start-ups;
 * row level security on a Supabase-like database; index use of the list query.
 */
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planCreate } from '../../src/domain/commands.ts';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { KyselyStore } from '../../src/store/kysely-store.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { Migrator } from '../../src/store/migrator.ts';
import type { Database } from '../../src/store/schema.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, hasService, sharedPostgresUrl } from '../harness/require-services.ts';

const engines = ['pglite', ...(hasService('postgres') ? ['postgres'] : [])] as const;

async function open(engine: (typeof engines)[number]): Promise<DatabaseHandle> {
  if (engine === 'pglite') return openDatabase({ engine: 'pglite' });
  return openDatabase({
    engine: 'postgres',
    url: await createPostgresDatabase(sharedPostgresUrl(), 'migrations'),
    poolSize: 5,
    queryTimeoutMs: 10_000,
    connectTimeoutMs: 2_000,
  });
}

const objects = async (db: Kysely<Database>) => {
  const tables = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_name <> 'thread_tracker_migrations' order by 1`.execute(db);
  const indexes = await sql<{ name: string }>`
    select indexname as name from pg_indexes where schemaname = 'public' and tablename = 'thread_tracking'
    order by 1`.execute(db);
  return { tables: tables.rows.map((r) => r.name), indexes: indexes.rows.map((r) => r.name) };
};

describe.each(engines)('migrations on %s', (engine) => {
  let handle: DatabaseHandle;
  let migrator: Migrator;

  beforeAll(async () => {
    handle = await open(engine);
    migrator = new Migrator(handle.db, migrations);
  });
  afterAll(async () => {
    await handle?.close();
  });

  it('goes up, down and up again, with data surviving nothing it should not', async () => {
    expect((await migrator.migrateTo()).applied.map((a) => a.direction)).toEqual(migrations.map(() => 'up'));
    const up = await objects(handle.db);
    expect(up.tables).toEqual([
      'active_threads',
      'followup_attempts',
      'followup_daily_counts',
      'followup_jobs',
      'followup_plans',
      'followup_policies',
      'followup_schedule',
      'followup_templates',
      'idempotency_keys',
      'leads',
      'mail_accounts',
      'mail_messages',
      'mail_threads',
      'maintenance_runs',
      'open_tracking_loads',
      'open_tracking_pixels',
      'system_generated_threads',
      'thread_events',
      'thread_tracking',
    ]);
    for (const index of [
      'idx_thread_tracking_user_id',
      'idx_thread_tracking_thread_id',
      'idx_thread_tracking_status',
      'idx_thread_tracking_hidden',
      'idx_thread_tracking_system_generated',
      'idx_thread_tracking_last_activity',
      'idx_thread_tracking_created_at',
      'idx_thread_tracking_user_status',
      'idx_thread_tracking_user_hidden',
      'idx_thread_tracking_user_activity_page',
      'unique_user_thread',
    ]) {
      expect(up.indexes).toContain(index);
    }
    expect((await migrator.status()).current).toBe(migrations.length);
    expect((await migrator.migrateTo()).applied).toEqual([]);

    expect((await migrator.migrateTo(0)).applied.map((a) => a.direction)).toEqual(
      migrations.map(() => 'down'),
    );
    // Every step back by itself works too (migrate down --to N).
    await migrator.migrateTo();
    for (let version = migrations.length - 1; version >= 0; version--) {
      expect((await migrator.migrateTo(version)).applied.map((a) => a.version)).toEqual([version + 1]);
    }
    expect((await objects(handle.db)).tables).toEqual([]);
    expect((await migrator.status()).current).toBe(0);

    await migrator.migrateTo();
    expect(await objects(handle.db)).toEqual(up);
  });

  it('creates the spec table exactly: columns, defaults, CHECKs, foreign key and unique constraint', async () => {
    await migrator.migrateTo();
    const columns = await sql<{
      column_name: string;
      data_type: string;
      is_nullable: string;
      column_default: string | null;
    }>`
      select column_name, data_type, is_nullable, column_default from information_schema.columns
      where table_schema = 'public' and table_name = 'thread_tracking' order by ordinal_position`.execute(
      handle.db,
    );
    const shape = Object.fromEntries(
      columns.rows.map((c) => [
        c.column_name,
        [c.data_type, c.is_nullable, c.column_default?.replace(/::\w+/g, '') ?? null],
      ]),
    );
    expect(shape).toEqual({
      id: ['uuid', 'NO', 'gen_random_uuid()'],
      user_id: ['text', 'NO', "'me'"],
      thread_id: ['text', 'NO', null],
      lead_id: ['uuid', 'YES', null],
      tracked: ['boolean', 'NO', 'true'],
      hidden: ['boolean', 'NO', 'false'],
      system_generated: ['boolean', 'NO', 'false'],
      email_type: ['text', 'YES', null],
      status: ['text', 'YES', "'active'"],
      subject: ['text', 'YES', null],
      participants: ['ARRAY', 'YES', null],
      message_count: ['integer', 'YES', '1'],
      last_activity: ['timestamp with time zone', 'YES', 'now()'],
      ai_generated: ['boolean', 'YES', 'false'],
      followup_scheduled: ['boolean', 'YES', 'false'],
      followup_scheduled_at: ['timestamp with time zone', 'YES', null],
      followup_count: ['integer', 'YES', '0'],
      open_rate: ['numeric', 'YES', null],
      reply_rate: ['numeric', 'YES', null],
      response_time_hours: ['integer', 'YES', null],
      created_at: ['timestamp with time zone', 'YES', 'now()'],
      updated_at: ['timestamp with time zone', 'YES', 'now()'],
      hidden_at: ['timestamp with time zone', 'YES', null],
      archived_at: ['timestamp with time zone', 'YES', null],
    });
    const constraints = await sql<{ conname: string; def: string }>`
      select conname, pg_get_constraintdef(oid) as def from pg_constraint
      where conrelid = 'thread_tracking'::regclass order by conname`.execute(handle.db);
    const byName = Object.fromEntries(constraints.rows.map((c) => [c.conname, c.def]));
    expect(byName.unique_user_thread).toBe('UNIQUE (user_id, thread_id)');
    expect(byName.valid_followup_schedule).toMatch(
      /followup_scheduled = false.*followup_scheduled_at IS NOT NULL/,
    );
    expect(byName.thread_tracking_lead_id_fkey).toBe(
      'FOREIGN KEY (lead_id) REFERENCES leads(id) ON DELETE SET NULL',
    );
    expect(Object.values(byName).join('\n')).toMatch(
      /email_type = ANY .*application.*followup.*manual.*auto_followup/,
    );
    expect(Object.values(byName).join('\n')).toMatch(/status = ANY .*active.*archived.*deleted.*spam/);
    // The CHECKs hold against writes that bypass the application.
    await expect(
      sql`insert into thread_tracking (thread_id, status) values ('bad', 'unknown')`.execute(handle.db),
    ).rejects.toThrow(/check constraint/);
    await expect(
      sql`insert into thread_tracking (thread_id, followup_scheduled) values ('bad', true)`.execute(
        handle.db,
      ),
    ).rejects.toThrow(/valid_followup_schedule/);
  });

  it('keeps the views: active_threads with lead info, system_generated_threads, followup_schedule in time order', async () => {
    await migrator.migrateTo();
    const store = new KyselyStore(handle);
    const lead = await store.leads.insert('me', { name: 'Ada', email: 'ada@acme.io', company: 'Acme' });
    const now = new Date().toISOString();
    await store.threads.insert('me', planCreate({ threadId: 'v1', leadId: lead.id }, now));
    await store.threads.insert(
      'me',
      planCreate({ threadId: 'v2', hidden: true, systemGenerated: true }, now),
    );
    await store.threads.insert(
      'me',
      planCreate({ threadId: 'v3', followupScheduledAt: '2030-01-02T00:00:00Z' }, now),
    );
    await store.threads.insert(
      'me',
      planCreate({ threadId: 'v4', followupScheduledAt: '2030-01-01T00:00:00Z' }, now),
    );
    const active = await sql<{ thread_id: string; lead_company: string | null }>`
      select thread_id, lead_company from active_threads where thread_id like 'v%' order by thread_id`.execute(
      handle.db,
    );
    expect(active.rows).toEqual([
      { thread_id: 'v1', lead_company: 'Acme' },
      { thread_id: 'v3', lead_company: null },
      { thread_id: 'v4', lead_company: null },
    ]);
    const system = await sql<{ thread_id: string }>`select thread_id from system_generated_threads`.execute(
      handle.db,
    );
    expect(system.rows.map((r) => r.thread_id)).toContain('v2');
    const schedule = await sql<{ thread_id: string }>`select thread_id from followup_schedule`.execute(
      handle.db,
    );
    expect(schedule.rows.map((r) => r.thread_id).filter((t) => t.startsWith('v'))).toEqual(['v4', 'v3']);
  });
});

describeWithService(
  'postgres',
  'migrations on PostgreSQL: concurrency, row level security, index use',
  () => {
    it('lets several instances start at once: one migrates, the others find nothing to do', async () => {
      const url = await createPostgresDatabase(sharedPostgresUrl(), 'concurrent');
      const handles = await Promise.all(
        Array.from({ length: 4 }, () =>
          openDatabase({
            engine: 'postgres',
            url,
            poolSize: 2,
            queryTimeoutMs: 30_000,
            connectTimeoutMs: 2_000,
          }),
        ),
      );
      try {
        const results = await Promise.all(handles.map((h) => new Migrator(h.db, migrations).migrateTo()));
        expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
        expect((await new Migrator(handles[0]!.db, migrations).status()).current).toBe(migrations.length);
      } finally {
        await Promise.all(handles.map((h) => h.close()));
      }
    });

    it('on a Supabase-like database, a signed-in role reaches only its own rows', async () => {
      const url = await createPostgresDatabase(sharedPostgresUrl(), 'rls');
      const handle = await openDatabase({
        engine: 'postgres',
        url,
        poolSize: 2,
        queryTimeoutMs: 10_000,
        connectTimeoutMs: 2_000,
      });
      try {
        // What Supabase provides: the auth schema, auth.uid() from the request's JWT claims, the authenticated role.
        await sql`
        do $$ begin
          if not exists (select 1 from pg_roles where rolname = 'authenticated') then
            create role authenticated nologin;
          end if;
        end $$;
        create schema if not exists auth;
        create or replace function auth.uid() returns uuid language sql stable as
          $f$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $f$;
        grant usage on schema auth to authenticated;
        grant usage on schema public to authenticated;
      `.execute(handle.db);
        await new Migrator(handle.db, migrations).migrateTo();
        const alice = '11111111-1111-4111-8111-111111111111';
        const bob = '22222222-2222-4222-8222-222222222222';
        const store = new KyselyStore(handle);
        const now = new Date().toISOString();
        await store.threads.insert(alice, planCreate({ threadId: 'a-thread' }, now));
        await store.threads.insert(bob, planCreate({ threadId: 'b-thread' }, now));
        const asUser = async (sub: string, statement: string) =>
          handle.db.transaction().execute(async (trx) => {
            await sql`select set_config('request.jwt.claim.sub', ${sub}, true)`.execute(trx);
            await sql`set local role authenticated`.execute(trx);
            return (await sql.raw<{ thread_id: string }>(statement).execute(trx)).rows;
          });
        expect(await asUser(alice, 'select thread_id from thread_tracking')).toEqual([
          { thread_id: 'a-thread' },
        ]);
        expect(await asUser(bob, 'select thread_id from active_threads')).toEqual([
          { thread_id: 'b-thread' },
        ]);
        expect(await asUser(alice, 'select thread_id from thread_events')).toEqual([
          { thread_id: 'a-thread' },
        ]);
        expect(
          await asUser(
            alice,
            "update thread_tracking set hidden = true where thread_id = 'b-thread' returning thread_id",
          ),
        ).toEqual([]);
        await expect(
          asUser(
            alice,
            `insert into thread_tracking (user_id, thread_id) values ('${bob}', 'forged') returning thread_id`,
          ),
        ).rejects.toThrow(/row-level security/);
        await expect(asUser(alice, 'select * from idempotency_keys')).rejects.toThrow(/permission denied/);
        expect((await store.threads.get(bob, 'b-thread'))!.hidden).toBe(false);
      } finally {
        await handle.close();
      }
    });

    it('serves a keyset page deep in 50,000 threads of one user with an index scan', async () => {
      const url = await createPostgresDatabase(sharedPostgresUrl(), 'explain');
      const handle = await openDatabase({
        engine: 'postgres',
        url,
        poolSize: 2,
        queryTimeoutMs: 60_000,
        connectTimeoutMs: 2_000,
      });
      try {
        await new Migrator(handle.db, migrations).migrateTo();
        await sql`
        insert into thread_tracking (user_id, thread_id, last_activity, subject)
        select case when g % 5 = 0 then 'big' else 'other-' || (g % 50) end, 't' || g,
               now() - (g || ' seconds')::interval, 'Subject ' || g
        from generate_series(1, 60000) g`.execute(handle.db);
        await sql`analyze thread_tracking`.execute(handle.db);
        const plan = await sql<{ 'QUERY PLAN': string }>`
        explain select * from thread_tracking
        where user_id = 'big' and last_activity is not null
          and (last_activity, id) < (now() - interval '30000 seconds', '00000000-0000-0000-0000-000000000000'::uuid)
          and status is distinct from 'deleted'
        order by last_activity desc nulls last, id desc limit 51`.execute(handle.db);
        const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(text).toMatch(/Index Scan using idx_thread_tracking_user_activity_page/);
        expect(text).not.toMatch(/Sort/);
        const defaultView = await sql<{ 'QUERY PLAN': string }>`
        explain select * from thread_tracking
        where user_id = 'big' and status = 'active' and hidden = false and last_activity is not null
        order by last_activity desc nulls last, id desc limit 51`.execute(handle.db);
        const defaultPlan = defaultView.rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(defaultPlan).toMatch(/Index Scan using idx_thread_tracking_user_/);
        expect(defaultPlan).not.toMatch(/Sort/);
      } finally {
        await handle.close();
      }
    });
  },
);
