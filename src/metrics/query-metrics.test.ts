import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { planCommand, planCreate } from '../domain/commands.ts';
import { createLogger } from '../logger.ts';
import type { Logger } from '../ports/logger.ts';
import { currentJobLogger, Jobs } from '../service/job-runs.ts';
import { openDatabase } from '../store/database.ts';
import type { QueryInfo } from '../store/drivers/query-observer.ts';
import { KyselyStore } from '../store/kysely-store.ts';
import { migrations } from '../store/migrations/index.ts';
import { Migrator } from '../store/migrator.ts';
import { createQueryObserver, queryNameOf } from './query-metrics.ts';

describe('queryNameOf', () => {
  const cases: [string, string][] = [
    ['select "thread_tracking".* from "thread_tracking" where "user_id" = $1', 'select:thread_tracking'],
    ['SELECT id FROM public.leads WHERE id = $1', 'select:leads'],
    ['select 1', 'select'],
    ['select pg_advisory_xact_lock(7311505101871262433)', 'select'],
    ['insert into "thread_events" ("user_id") values ($1)', 'insert:thread_events'],
    ['update "idempotency_keys" set "status" = $1', 'update:idempotency_keys'],
    ['delete from "thread_tracking" where "id" = $1', 'delete:thread_tracking'],
    [
      'with t as (update "thread_tracking" set "hidden" = $1 returning *), e as (insert into thread_events select 1 from t returning *) select t.* from t join e on true',
      'update:thread_tracking',
    ],
    [
      'with t as (insert into "thread_tracking" ("thread_id") values ($1) returning *) select * from t',
      'insert:thread_tracking',
    ],
    ['with recent as (select * from "thread_events" limit 5) select * from recent', 'select:thread_events'],
    ['  -- a comment\n/* another */ select * from "leads"', 'select:leads'],
    ['begin isolation level repeatable read', 'transaction'],
    ['commit', 'transaction'],
    ['ROLLBACK', 'transaction'],
    ['create table if not exists x (id int)', 'schema'],
    ['DO $$ BEGIN END $$;', 'schema'],
    ["set time zone 'UTC'", 'set'],
    ['', 'other'],
    ['vaccum', 'other'],
  ];
  it.each(cases)('%s → %s', (sqlText, name) => {
    expect(queryNameOf(sqlText)).toBe(name);
  });

  it('never puts values into a name: the same statement with other literals has the same name', () => {
    expect(queryNameOf(`select * from "leads" where email = 'a@example.com'`)).toBe(
      queryNameOf(`select * from "leads" where email = 'b@example.com'`),
    );
  });

  it('folds new tables into <kind>:other once the cap is reached', () => {
    const names = new Set(
      Array.from({ length: 400 }, (_, i) => queryNameOf(`select * from "generated_table_${i}"`)),
    );
    expect(names.size).toBeLessThanOrEqual(201);
    expect(names).toContain('select:other');
  });
});

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const make = (): Logger => ({
    debug: (obj, msg) => void lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
    info: (obj, msg) => void lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj, msg) => void lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    child: () => make(),
  });
  return { logger: make(), lines };
}

describe('createQueryObserver', () => {
  const histogram = () =>
    new Histogram({
      name: 'q_seconds',
      help: 'q',
      labelNames: ['query', 'outcome'] as const,
      buckets: [0.001, 0.1, 1],
      registers: [new Registry()],
    });

  it('is not installed at all when there are neither metrics nor slow-query lines', () => {
    expect(createQueryObserver({ logger: recordingLogger().logger, slowQueryMs: 0 })).toBeUndefined();
  });

  it('observes every statement by name and outcome, and logs only those over the threshold', async () => {
    const h = histogram();
    const { logger, lines } = recordingLogger();
    const observe = createQueryObserver({ histogram: h, logger, slowQueryMs: 50 })!;
    const info = (sql: string, durationMs: number, error?: unknown): QueryInfo => ({
      sql,
      durationMs,
      ...(error ? { error } : {}),
    });
    observe(info('select * from "leads" where id = $1', 2));
    observe(info('select * from "leads" where id = $1', 75));
    observe(info('update "thread_tracking" set subject = $1', 3, new Error('boom')));
    const values = (await h.get()).values;
    const count = (query: string, outcome: string) =>
      values.find(
        (v) => v.metricName === 'q_seconds_count' && v.labels.query === query && v.labels.outcome === outcome,
      )?.value;
    expect(count('select:leads', 'ok')).toBe(2);
    expect(count('update:thread_tracking', 'error')).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      msg: 'slow query',
      obj: { query: 'select:leads', durationMs: 75, thresholdMs: 50, outcome: 'ok' },
    });
  });

  it('names every statement the store runs, and logs a real slow statement without its parameter values', async () => {
    const seen: QueryInfo[] = [];
    const { logger, lines } = recordingLogger();
    const observe = createQueryObserver({ histogram: histogram(), logger, slowQueryMs: 150 })!;
    const handle = await openDatabase({
      engine: 'pglite',
      onQuery: (info) => {
        seen.push(info);
        observe(info);
      },
    });
    try {
      await new Migrator(handle.db, migrations).migrateTo();
      const store = new KyselyStore(handle);
      const now = '2026-01-01T00:00:00.000Z';
      await store.threads.insert('u', planCreate({ threadId: 't1', subject: 'hello' }, now));
      await store.threads.update('u', 't1', planCommand({ type: 'hide', threadId: 't1' }, now));
      await store.threads.get('u', 't1');
      await store.transaction((scope) => scope.threads.purge('u', 't1'));
      const names = new Set(seen.map((s) => queryNameOf(s.sql)));
      for (const name of [
        'schema',
        'transaction',
        'insert:thread_tracking',
        'update:thread_tracking',
        'select:thread_tracking',
        'delete:thread_tracking',
      ]) {
        expect(names).toContain(name);
      }
      expect([...names].every((n) => /^[a-z_]+(:[a-z_0-9]+)?$/.test(n))).toBe(true);

      const secret = 'parameter-value-that-must-not-be-logged';
      await store.db.selectNoFrom((eb) => eb.fn('pg_sleep', [eb.val(0.2)]).as('slept')).execute();
      await store.threads.get(secret, secret);
      // (On a busy machine the migrations may be slow too: look at the statement that sleeps.)
      const slow = lines.filter(
        (l) => l.msg === 'slow query' && String(l.obj.statement).includes('pg_sleep'),
      );
      expect(slow).toHaveLength(1);
      expect(slow[0]!.obj.query).toBe('select');
      expect(slow[0]!.obj.durationMs as number).toBeGreaterThanOrEqual(150);
      expect(slow[0]!.obj.statement).toContain('pg_sleep($1)');
      expect(JSON.stringify(lines)).not.toContain(secret);
    } finally {
      await handle.close();
    }
  });

  it("writes a slow statement of a background run through the run's logger: its job and run id are on the line", async () => {
    const chunks: string[] = [];
    const logger = createLogger({
      level: 'info',
      format: 'json',
      destination: { write: (c: string) => void chunks.push(c) },
    });
    const observe = createQueryObserver({ logger, slowQueryMs: 100, contextLogger: currentJobLogger })!;
    const handle = await openDatabase({ engine: 'pglite', onQuery: observe });
    try {
      const jobs = new Jobs({ logger });
      const runId = await jobs.run('cleanup', { maintenanceRunId: '7' }, async (run) => {
        await handle.db.selectNoFrom((eb) => eb.fn('pg_sleep', [eb.val(0.15)]).as('slept')).execute();
        return run.runId;
      });
      await handle.db.selectNoFrom((eb) => eb.fn('pg_sleep', [eb.val(0.15)]).as('slept')).execute();
      const slow = chunks
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((l) => l.msg === 'slow query' && String(l.statement).includes('pg_sleep'));
      expect(slow).toHaveLength(2);
      expect(slow[0]).toMatchObject({ job: 'cleanup', runId, maintenanceRunId: '7', query: 'select' });
      // Outside a run: no job bindings.
      expect(slow[1].runId).toBeUndefined();
    } finally {
      await handle.close();
    }
  });
});
