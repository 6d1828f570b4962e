/**
 * The data commands as an operator runs them, in real processes: import (old-tracker JSON with a bad element and an
 * unknown field, a dry run, a re-run, CSV from stdin), export to a file and back into another database, backup and
 * restore; and the documented rollback procedure on PostgreSQL step by step (backup while serving → migrate down →
 * the previous schema serves the data → restore after losing the data → migrate up), with rows compared at every
 * step. Also: the connection string's password never appears in any output.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, sharedPostgresUrl } from '../harness/require-services.ts';
import { cliRunner } from '../support/cli-process.ts';

const STORY_TIMEOUT = 240_000;
const LATEST = migrations.length;
const runner = cliRunner({ prefix: 'tt-cli-data-' });

type Tables = Record<string, unknown[]>;

/** A connection of the test's own, to look at rows between commands. */
const queryDatabase = (url: string) =>
  openDatabase({ engine: 'postgres', url, poolSize: 1, queryTimeoutMs: 10_000, connectTimeoutMs: 2_000 });
/** `tables` with only the columns `shape`'s rows have (what a schema version has). */
function keepColumnsOf(tables: Tables, shape: Tables): Tables {
  return Object.fromEntries(
    Object.entries(tables).map(([table, rows]) => {
      const columns = Object.keys((shape[table]?.[0] as object | undefined) ?? {});
      return [
        table,
        rows.map((row) => Object.fromEntries(columns.map((c) => [c, (row as Record<string, unknown>)[c]]))),
      ];
    }),
  );
}
const { cli, tempDir } = runner;
afterAll(() => runner.cleanup());

describe.concurrent('data commands on PGlite', () => {
  it(
    'import from the old tracker, export, re-import elsewhere, backup and restore',
    async ({ expect }) => {
      const [first, second, third, files] = [tempDir(), tempDir(), tempDir(), tempDir()];
      const oldData = join(files, 'old-tracker.json');
      writeFileSync(
        oldData,
        JSON.stringify(
          [
            {
              threadId: '18c2f0a1',
              subject: 'From the old tracker',
              participants: ['Ada <ADA@example.com>'],
              createdAt: '2025-03-01T10:00:00.000Z',
            },
            { threadId: 'has a space' },
            { thread_id: '18c2f0a3', status: 'archived', snippet: 'not a field' },
          ],
          null,
          2,
        ),
      );
      const env = { DATA_DIR: first };

      const dry = await cli(['import', oldData, '--dry-run', '--user', 'alice'], env);
      expect(dry.code, dry.stderr).toBe(2);
      expect(dry.stdout).toContain(
        'dry run: would import 2 of 3 records (2 new, 0 updated, 0 unchanged), 1 left out',
      );
      expect(dry.stdout).toContain('nothing was written');
      // The second element starts on line 10 of the pretty-printed array.
      expect(dry.stderr).toMatch(/^line 10: threadId: /m);
      expect(dry.stderr).toContain('ignored field "snippet"');
      // Not a terminal: no progress bar.
      expect(dry.stderr).not.toMatch(/[█░]/);
      const afterDry = await cli(['export'], env);
      expect(afterDry.stdout).toBe('');

      const imported = await cli(['import', oldData, '--user', 'alice'], env);
      expect(imported.code, imported.stderr).toBe(2);
      expect(imported.stdout).toContain(
        'imported 2 of 3 records (2 new, 0 updated, 0 unchanged), 1 left out',
      );
      const again = await cli(['import', oldData, '--user', 'alice'], env);
      expect(again.stdout).toContain('imported 2 of 3 records (0 new, 0 updated, 2 unchanged), 1 left out');
      const stdin = await cli(['import', '-', '--format', 'csv'], env, {
        stdin: 'thread_id,subject,hidden\ns1,From stdin,yes\n',
      });
      expect(stdin.code, stdin.stderr).toBe(0);
      expect(stdin.stdout).toContain('imported 1 of 1 records (1 new');

      const csv = join(files, 'threads.csv');
      const exported = await cli(['export', '--out', csv], env);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stderr).toMatch(/exported 3 threads to .*threads\.csv as csv/);
      const original = (await cli(['export'], env)).stdout;
      const records = original
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(records.map((r) => [r.userId, r.threadId, r.participants])).toEqual(
        expect.arrayContaining([
          ['alice', '18c2f0a1', ['ada@example.com']],
          ['alice', '18c2f0a3', []],
          ['me', 's1', []],
        ]),
      );

      const backupFile = join(files, 'backup.ndjson');
      const backup = await cli(['backup', '--out', backupFile], env);
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.stderr).toMatch(
        /backed up 0 leads, 3 thread_tracking, 3 thread_events at schema version/,
      );

      // Independent databases from here on: their stories run side by side.
      await Promise.all([
        (async () => {
          const intoSecond = await cli(['import', csv], { DATA_DIR: second });
          expect(intoSecond.code, intoSecond.stderr).toBe(0);
          expect((await cli(['export'], { DATA_DIR: second })).stdout).toBe(original);
          const aliceOnly = await cli(['export', '--user', 'alice', '--format', 'json'], {
            DATA_DIR: second,
          });
          expect(JSON.parse(aliceOnly.stdout)).toHaveLength(2);
        })(),
        (async () => {
          const restored = await cli(['restore', backupFile], { DATA_DIR: third });
          expect(restored.code, restored.stderr).toBe(0);
          expect(restored.stdout).toContain('restored 0 leads, 3 thread_tracking, 3 thread_events');
          expect((await cli(['export'], { DATA_DIR: third })).stdout).toBe(original);
          const refused = await cli(['restore', backupFile], { DATA_DIR: third });
          expect(refused.code).toBe(1);
          expect(refused.stderr).toContain('restore refused: restore needs an empty database');
        })(),
        (async () => {
          const [missing, badFormat] = await Promise.all([
            cli(['import', join(files, 'nope.ndjson')], { DATA_DIR: tempDir() }),
            cli(['export', '--format', 'xml'], { DATA_DIR: tempDir() }),
          ]);
          expect(missing.code).toBe(1);
          expect(missing.stderr).toContain('ENOENT');
          expect(badFormat.code).toBe(1);
          expect(badFormat.stderr).toContain('--format must be ndjson, json or csv');
        })(),
      ]);
    },
    STORY_TIMEOUT,
  );
});

describeWithService('postgres', 'rollback procedure on PostgreSQL (docs/operations.md)', () => {
  it(
    'backup while serving, migrate down, the previous schema keeps the data, restore after a loss, migrate up',
    async ({ expect }) => {
      const url = await createPostgresDatabase(sharedPostgresUrl(), 'rollback');
      const password = 'rollback-password-never-printed';
      const withPassword = new URL(url);
      withPassword.password = password;
      // Trust authentication accepts any password, so the password is real but never needed.
      const env = { DATABASE_URL: withPassword.toString(), DATA_DIR: tempDir() };
      const files = tempDir();
      const backupFile = join(files, 'pre-rollback.ndjson');
      const outputs: string[] = [];
      const run = async (args: string[], extra: Record<string, string> = {}) => {
        const result = await cli(args, { ...env, ...extra });
        outputs.push(result.stdout, result.stderr);
        expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
        return result;
      };
      const snapshot = async () => {
        const handle = await queryDatabase(url);
        try {
          const out: Record<string, unknown[]> = {};
          for (const table of ['leads', 'thread_tracking', 'thread_events'])
            out[table] = (await sql`select * from ${sql.table(table)} order by id`.execute(handle.db)).rows;
          return out;
        } finally {
          await handle.close();
        }
      };

      // The new version serves and takes writes; the backup is taken while it runs.
      const server = await runner.serve(env);
      const post = (path: string, body: unknown) =>
        fetch(`${server.url}/api/v1${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const lead = (await (await post('/leads', { name: 'Grace', email: 'grace@example.com' })).json()) as {
        id: string;
      };
      for (let i = 0; i < 25; i++) {
        const res = await post('/threads', { threadId: `r${i}`, subject: `Rollback ${i}`, leadId: lead.id });
        expect(res.status).toBe(201);
      }
      expect((await post('/threads/r1/hide', {})).status).toBe(200);
      await run(['backup', '--out', backupFile]);
      outputs.push(server.output());
      await runner.stopServer(server);
      const before = await snapshot();
      expect(before.thread_tracking).toHaveLength(25);

      // 1. Revert the newest migration with the version that made it. Every row stays; only what the reverted
      //    migration added is gone (a column it added goes with its values).
      const down = await run(['migrate', 'down', '--to', String(LATEST - 1)]);
      expect(down.stdout).toContain(`schema version ${LATEST} -> ${LATEST - 1}`);
      expect((await run(['migrate', 'status'])).stdout).toContain(`current version: ${LATEST - 1}`);
      const atPrevious = await snapshot();
      expect(atPrevious).toEqual(keepColumnsOf(before, atPrevious));

      // 2. The previous version runs on that schema (it migrates nothing) and serves the data.
      const previous = await runner.serve({ ...env, MIGRATE_ON_START: 'false' });
      const thread = (await (await fetch(`${previous.url}/api/v1/threads/r1`)).json()) as Record<
        string,
        unknown
      >;
      expect(thread).toMatchObject({ threadId: 'r1', hidden: true, leadId: lead.id });
      outputs.push(previous.output());
      await runner.stopServer(previous);

      // 3. The data is lost (or damaged by a failed step): restore the backup, then back to the previous schema.
      await run(['migrate', 'down', '--to', '0']);
      expect((await snapshot().catch(() => undefined)) === undefined).toBe(true);
      const restored = await run(['restore', backupFile]);
      expect(restored.stdout).toContain('restored 1 leads, 25 thread_tracking, 26 thread_events');
      expect(await snapshot()).toEqual(before);
      await run(['migrate', 'down', '--to', String(LATEST - 1)]);
      expect(await snapshot()).toEqual(atPrevious);

      // 4. Roll forward again: the new version migrates up and serves the same rows.
      await run(['migrate', 'up']);
      expect(keepColumnsOf(await snapshot(), atPrevious)).toEqual(atPrevious);
      const again = await runner.serve(env);
      const list = (await (await fetch(`${again.url}/api/v1/threads?limit=100`)).json()) as {
        items: unknown[];
      };
      expect(list.items).toHaveLength(25);
      outputs.push(again.output());
      await runner.stopServer(again);

      for (const output of outputs) expect(output).not.toContain(password);
    },
    STORY_TIMEOUT,
  );

  it(
    'serve runs the cleanup on its schedule and shows its loop in /ready; cleanup --dry-run reports and changes nothing',
    async ({ expect }) => {
      const url = await createPostgresDatabase(sharedPostgresUrl(), 'cleanup_cli');
      const env = { DATABASE_URL: url, DATA_DIR: tempDir() };
      const server = await runner.serve({ ...env, CLEANUP_INTERVAL_S: '1' });
      let ready: { checks: { background: { status: string; loops: Record<string, { ticks: number }> } } };
      const deadline = Date.now() + 20_000;
      do {
        await new Promise((r) => setTimeout(r, 200));
        ready = (await (await fetch(`${server.url}/ready`)).json()) as typeof ready;
      } while ((ready.checks.background.loops.cleanup?.ticks ?? 0) < 2 && Date.now() < deadline);
      expect(ready.checks.background).toMatchObject({ status: 'ok', loops: { cleanup: { status: 'ok' } } });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/thread_tracker_job_runs_total\{job="cleanup",outcome="success"\} [1-9]/);
      await runner.stopServer(server);

      const dry = await cli(['cleanup', '--dry-run'], env);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/^cleanup run \d+ \(dry run, nothing changed\) succeeded/);
      expect(dry.stdout).toContain('orphanedThreads: {"skipped":"no mail account is configured"}');
      expect(dry.stdout).toMatch(/purgedThreads: \{"deletedBefore":"[^"]+","wouldPurge":0\}/);

      const handle = await queryDatabase(url);
      try {
        const runs = await sql<{ trigger: string; dry_run: boolean; status: string }>`
          select trigger, dry_run, status from maintenance_runs order by id`.execute(handle.db);
        expect(runs.rows[0]).toEqual({ trigger: 'schedule', dry_run: false, status: 'succeeded' });
        expect(runs.rows.at(-1)).toEqual({ trigger: 'manual', dry_run: true, status: 'succeeded' });
      } finally {
        await handle.close();
      }
    },
    STORY_TIMEOUT,
  );
});
