/**
 * Backup and restore on PGlite and PostgreSQL, asserted on rows: a backup restored into an empty database gives
 * identical leads, threads and events (ids included) and new events continue after the restored ids; a backup is
 * one snapshot while writes go on; a restore refuses a database that is not empty, a file cut short, a file whose
 * counts do not match and a file that is not a backup, writing nothing each time.
 */
import { sql } from 'kysely';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecords } from '../../src/cli/record-formats.ts';
import { BACKUP_TABLES } from '../../src/ports/thread-archive.ts';
import { RestoreError, restoreBackup, writeBackup } from '../../src/service/backup-service.ts';
import { KyselyBackupStore } from '../../src/store/backup-import-export.ts';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { Migrator } from '../../src/store/migrator.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { describeWithService, hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { createTestApp, openTestDatabase, type TestApp } from '../support/test-app.ts';

const engines = ['pglite', ...(hasService('postgres') ? (['postgres'] as const) : [])] as const;
type Engine = (typeof engines)[number];

async function emptyDatabase(engine: Engine, migrated = true): Promise<DatabaseHandle> {
  if (engine === 'pglite' && migrated) return openTestDatabase({ engine: 'pglite' });
  const { openDatabase } = await import('../../src/store/database.ts');
  if (engine === 'pglite') return openDatabase({ engine: 'pglite' });
  const url = await createPostgresDatabase(sharedPostgresUrl(), 'restore');
  if (migrated) return openTestDatabase({ engine: 'postgres', url });
  return openDatabase({
    engine: 'postgres',
    url,
    poolSize: 4,
    queryTimeoutMs: 10_000,
    connectTimeoutMs: 2_000,
  });
}

async function tableRows(handle: DatabaseHandle) {
  const out: Record<string, unknown[]> = {};
  for (const table of BACKUP_TABLES)
    out[table] = (await sql`select * from ${sql.table(table)} order by id`.execute(handle.db)).rows;
  return out;
}

async function backupText(handle: DatabaseHandle, schemaVersion = migrations.length): Promise<string> {
  let text = '';
  await writeBackup(
    new KyselyBackupStore(handle.db),
    async (chunk) => {
      text += chunk;
    },
    { createdAt: '2026-06-01T12:00:00.000Z', schemaVersion, engine: 'test' },
  );
  return text;
}

async function* lines(text: string): AsyncIterable<string> {
  for (let i = 0; i < text.length; i += 1000) yield text.slice(i, i + 1000);
}

async function restoreInto(handle: DatabaseHandle, text: string) {
  const migrator = new Migrator(handle.db, migrations);
  return restoreBackup(new KyselyBackupStore(handle.db), readRecords(lines(text), 'ndjson'), {
    schemaVersion: (await migrator.status()).current,
    latestSchemaVersion: migrator.latest,
    migrateTo: async (version) => {
      await migrator.migrateTo(version);
    },
  });
}

describe.each(engines)('backup and restore on %s', (engine) => {
  let source: TestApp;
  let text: string;

  beforeAll(async () => {
    source = await createTestApp({
      database:
        engine === 'pglite'
          ? { engine: 'pglite' }
          : { engine: 'postgres', url: await createPostgresDatabase(sharedPostgresUrl(), 'backup') },
    });
    const lead = await source.leads.create('me', {
      name: 'Ada',
      email: 'ada@example.com',
      company: 'Engines',
    });
    for (let i = 0; i < 30; i++) {
      await source.service.createThread(i % 2 ? 'me' : 'bob', {
        threadId: `b${i}`,
        subject: `Backup ${i}`,
        ...(i % 2 && i % 3 === 0 ? { leadId: lead.id } : {}),
      });
    }
    await source.service.hideThread('me', 'b1');
    await source.service.deleteThread('me', 'b3', { purge: true });
    text = await backupText(source.handle);
  });
  afterAll(async () => {
    await source?.close();
  });

  it('writes a header, every row of each table in order, and an end line with the counts', async () => {
    const parsed = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(parsed[0]).toEqual({
      format: 'thread-tracker-backup',
      version: 1,
      createdAt: '2026-06-01T12:00:00.000Z',
      schemaVersion: migrations.length,
      engine: 'test',
      counts: { leads: 1, thread_tracking: 29, thread_events: 32 },
    });
    expect(parsed.at(-1)).toEqual({ end: true, counts: parsed[0].counts });
    expect(parsed.slice(1, -1).map((l) => l.table)).toEqual([
      'leads',
      ...Array(29).fill('thread_tracking'),
      ...Array(32).fill('thread_events'),
    ]);
  });

  it('restores into an empty database with identical rows, and new events continue after the restored ids', async () => {
    const target = await emptyDatabase(engine, false);
    try {
      const { counts } = await restoreInto(target, text);
      expect(counts).toEqual({ leads: 1, thread_tracking: 29, thread_events: 32 });
      expect((await new Migrator(target.db, migrations).status()).current).toBe(migrations.length);
      expect(await tableRows(target)).toEqual(await tableRows(source.handle));
      const maxId = (await sql<{ m: string }>`select max(id) as m from thread_events`.execute(target.db))
        .rows[0]!.m;
      const added = await sql<{ id: string }>`
        insert into thread_events (user_id, thread_id, type) values ('me', 'b1', 'created') returning id`.execute(
        target.db,
      );
      expect(BigInt(added.rows[0]!.id)).toBeGreaterThan(BigInt(maxId));
    } finally {
      await target.close();
    }
  });

  it('refuses a database that is not empty', async () => {
    await expect(restoreInto(source.handle, text)).rejects.toThrow(
      /restore needs an empty database; this one has leads: 1 rows, thread_tracking: 29 rows/,
    );
  });

  it.each([
    [
      'a file cut short',
      (t: string) => t.split('\n').slice(0, -2).join('\n'),
      /incomplete: its end line is missing/,
    ],
    [
      'a file with a row removed',
      (t: string) => {
        const all = t.split('\n');
        return [...all.slice(0, 5), ...all.slice(6)].join('\n');
      },
      /the backup says 29 thread_tracking rows but holds 28/,
    ],
    ['a file that is not a backup', () => '{"threadId":"a"}\n', /not a thread-tracker backup/],
    ['an empty file', () => '', /not a thread-tracker backup/],
    [
      'a damaged line',
      (t: string) => t.replace('"table":"thread_events"', '"table":"thread_events'),
      /^line \d+: not valid JSON/,
    ],
  ])('refuses %s and writes nothing', async (_label, damage, message) => {
    const target = await emptyDatabase(engine);
    try {
      const error = await restoreInto(target, damage(text)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RestoreError);
      expect((error as Error).message).toMatch(message);
      for (const rows of Object.values(await tableRows(target))) expect(rows).toEqual([]);
    } finally {
      await target.close();
    }
  });
});

describeWithService('postgres', 'backup while the service writes', () => {
  it('holds the tables as of one moment: rows committed during the backup are not in it', async () => {
    const url = await createPostgresDatabase(sharedPostgresUrl(), 'snapshot');
    const app = await createTestApp({ database: { engine: 'postgres', url } });
    const writer = postgres(url, { max: 1, onnotice: () => {} });
    try {
      for (let i = 0; i < 50; i++) await app.service.createThread('me', { threadId: `s${i}` });
      let text = '';
      let wroteDuring = false;
      await writeBackup(
        new KyselyBackupStore(app.handle.db),
        async (chunk) => {
          text += chunk;
          if (!wroteDuring) {
            // After the header: the snapshot is taken; these commits happen while the backup reads.
            wroteDuring = true;
            for (let i = 0; i < 20; i++) await app.service.createThread('me', { threadId: `late${i}` });
            await writer`delete from thread_events where thread_id = 's0'`;
          }
        },
        { createdAt: new Date().toISOString(), schemaVersion: migrations.length, engine: 'postgres' },
      );
      const parsed = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const threads = parsed.filter((l) => l.table === 'thread_tracking').map((l) => l.row.thread_id);
      const events = parsed.filter((l) => l.table === 'thread_events').map((l) => l.row.thread_id);
      expect(threads).toHaveLength(50);
      expect(threads.some((t: string) => t.startsWith('late'))).toBe(false);
      expect(events).toHaveLength(50);
      expect(events).toContain('s0');
      expect(parsed[0].counts).toEqual({ leads: 0, thread_tracking: 50, thread_events: 50 });
    } finally {
      await writer.end({ timeout: 1 });
      await app.close();
    }
  });
});
