/**
 * Export and import on PGlite and PostgreSQL, asserted on rows: a round trip through every format into an empty
 * database gives identical rows (ids and timestamps included); re-running an import changes nothing; 100,000
 * records with 1% bad lines report exactly those lines and import the rest, read as a stream; a dry run writes
 * nothing; a record the database refuses is reported by line without losing its batch.
 */
import { PassThrough } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordWriter, type RecordFormat, readRecords } from '../../src/cli/record-formats.ts';
import type { ThreadImport, ThreadImportStore } from '../../src/ports/thread-archive.ts';
import {
  exportThreadRecords,
  type ImportIssue,
  type ImportOptions,
  importThreadRecords,
} from '../../src/service/thread-transfer.ts';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { KyselyThreadExporter } from '../../src/store/thread-export.ts';
import { KyselyThreadImporter } from '../../src/store/thread-import.ts';
import { createPostgresDatabase } from '../harness/postgres.ts';
import { hasService, sharedPostgresUrl } from '../harness/require-services.ts';
import { createTestApp, openTestDatabase, type TestApp } from '../support/test-app.ts';

const engines = ['pglite', ...(hasService('postgres') ? (['postgres'] as const) : [])] as const;
type Engine = (typeof engines)[number];

async function emptyDatabase(engine: Engine): Promise<DatabaseHandle> {
  return openTestDatabase(
    engine === 'pglite'
      ? { engine: 'pglite' }
      : { engine: 'postgres', url: await createPostgresDatabase(sharedPostgresUrl(), 'import') },
  );
}

const rowsOf = async (handle: DatabaseHandle) =>
  (await sql<Record<string, unknown>>`select * from thread_tracking order by id`.execute(handle.db)).rows;
const countOf = async (handle: DatabaseHandle, table: 'thread_tracking' | 'thread_events') =>
  Number(
    (await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(handle.db)).rows[0]!.n,
  );

async function exportText(handle: DatabaseHandle, format: RecordFormat, userId?: string): Promise<string> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (chunk: Buffer) => parts.push(chunk));
  const writer = createRecordWriter(format, out);
  const exporter = new KyselyThreadExporter(handle.db);
  for await (const record of exportThreadRecords(exporter, { pageSize: 7, ...(userId ? { userId } : {}) }))
    await writer.write(record);
  await writer.end();
  return Buffer.concat(parts).toString('utf8');
}

async function* chunked(text: string, size = 4096): AsyncIterable<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function runImport(
  store: ThreadImportStore,
  text: string | AsyncIterable<string>,
  format: RecordFormat,
  options: Partial<ImportOptions> = {},
) {
  const issues: ImportIssue[] = [];
  const summary = await importThreadRecords(
    store,
    readRecords(typeof text === 'string' ? chunked(text) : text, format),
    {
      batchSize: 100,
      defaultUserId: 'me',
      now: '2026-06-01T12:00:00.000Z',
      onIssue: (issue) => issues.push(issue),
      ...options,
    },
  );
  return { summary, issues };
}

describe.each(engines)('import and export on %s', (engine) => {
  let source: TestApp;

  beforeAll(async () => {
    source = await createTestApp({
      database:
        engine === 'pglite'
          ? { engine: 'pglite' }
          : { engine: 'postgres', url: await createPostgresDatabase(sharedPostgresUrl(), 'export') },
    });
    // Threads as the product makes them, through every kind of change, for two users.
    const s = source.service;
    for (const user of ['me', 'alice']) {
      for (let i = 0; i < 20; i++) {
        await s.createThread(user, {
          threadId: `t${i}`,
          subject: i % 5 === 0 ? null : `Subject ${i}, "quoted", with ümlauts 🙂`,
          participants: i % 4 === 0 ? [] : [`p${i}@example.com`, 'me@example.com'],
          emailType: (['application', 'followup', 'manual', 'auto_followup'] as const)[i % 4],
          messageCount: i,
          ...(i % 3 === 0 ? { openRate: 33.33, replyRate: 12.5, responseTimeHours: i } : {}),
        });
      }
      await s.hideThread(user, 't1');
      await s.archiveThread(user, 't2');
      await s.scheduleFollowup(user, 't3', new Date(Date.now() + 86_400_000).toISOString());
      await s.incrementFollowupCount(user, 't4');
      await s.markAsSystemGenerated(user, 't5', 'auto_followup', { aiGenerated: true });
      await s.deleteThread(user, 't6');
    }
    // Values the API never writes but the table allows: every nullable column NULL.
    await sql`
      insert into thread_tracking (user_id, thread_id, status, participants, message_count, last_activity,
        ai_generated, followup_scheduled, followup_count, created_at, updated_at)
      values ('me', 'nulls', null, null, null, null, null, null, null, null, null)`.execute(source.handle.db);
  });
  afterAll(async () => {
    await source?.close();
  });

  it.each(['ndjson', 'json', 'csv'] as const)(
    'round trip as %s into an empty database gives identical rows, and a re-run changes nothing',
    async (format) => {
      const text = await exportText(source.handle, format);
      const target = await emptyDatabase(engine);
      try {
        const importer = new KyselyThreadImporter(target.db);
        const { summary, issues } = await runImport(importer, text, format);
        expect(issues).toEqual([]);
        expect(summary).toMatchObject({ read: 41, created: 41, updated: 0, unchanged: 0, rejected: 0 });
        const expected = await rowsOf(source.handle);
        expect(await rowsOf(target)).toEqual(expected);
        // One `imported` event per thread.
        const events = await sql<{ type: string; n: string }>`
          select type, count(*) as n from thread_events group by type`.execute(target.db);
        expect(events.rows.map((r) => ({ ...r, n: Number(r.n) }))).toEqual([{ type: 'imported', n: 41 }]);

        const again = await runImport(importer, text, format);
        expect(again.summary).toMatchObject({ created: 0, updated: 0, unchanged: 41, rejected: 0 });
        expect(await rowsOf(target)).toEqual(expected);
        expect(await countOf(target, 'thread_events')).toBe(41);
      } finally {
        await target.close();
      }
    },
  );

  it("exports one user's threads only with a user filter", async () => {
    const text = await exportText(source.handle, 'ndjson', 'alice');
    const records = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(20);
    expect(new Set(records.map((r) => r.userId))).toEqual(new Set(['alice']));
  });

  it('imports 100,000 records read as a stream, reports exactly the 1% bad lines and imports the rest', async () => {
    const total = 100_000;
    const bad = new Map<number, RegExp>();
    const kinds: [string, RegExp][] = [
      ['{"threadId": "broken"', /^not valid JSON/],
      ['{"threadId": "x y"}', /^threadId: /],
      ['{"subject": "no id"}', /^threadId: is required$/],
      ['{"threadId": "s1", "status": "gone"}', /^status: /],
      ['{"threadId": "c1", "messageCount": -4}', /^messageCount: /],
      ['{"threadId": "d1", "lastActivity": "last tuesday"}', /^lastActivity: /],
      ['{"threadId": "r1", "openRate": 250}', /^openRate: /],
      ['["not", "an", "object"]', /^a record must be an object$/],
    ];
    const produced = { lines: 0 };
    // The file is generated as it is read: the import must take it a batch at a time, never all at once.
    const file = async function* () {
      let chunk = '';
      for (let line = 1; line <= total; line++) {
        if (line % 100 === 37) {
          const [text, pattern] = kinds[((line / 100) % kinds.length) | 0]!;
          bad.set(line, pattern);
          chunk += `${text}\n`;
        } else {
          chunk += `${JSON.stringify({
            thread_id: `bulk${line}`,
            subject: `Bulk ${line}`,
            participants: [`lead${line % 1000}@example.com`],
            email_type: 'application',
            last_activity: new Date(Date.UTC(2026, 0, 1) + line * 1000).toISOString(),
          })}\n`;
        }
        produced.lines = line;
        if (line % 500 === 0) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    };
    const target = await emptyDatabase(engine);
    try {
      const importer = new KyselyThreadImporter(target.db);
      let linesReadAtFirstWrite: number | undefined;
      const watched: ThreadImportStore = {
        importThreads: (imports: ThreadImport[], options) => {
          linesReadAtFirstWrite ??= produced.lines;
          return importer.importThreads(imports, options);
        },
      };
      const started = performance.now();
      const { summary, issues } = await runImport(watched, file(), 'ndjson', { batchSize: 100 });
      const seconds = (performance.now() - started) / 1000;
      console.log(`${engine}: imported ${total} records in ${seconds.toFixed(1)} s`);

      expect(linesReadAtFirstWrite).toBeLessThanOrEqual(1000);
      expect(issues.map((i) => i.line)).toEqual([...bad.keys()]);
      for (const issue of issues) expect(issue.message).toMatch(bad.get(issue.line)!);
      expect(summary).toMatchObject({ read: total, created: total - 1000, updated: 0, rejected: 1000 });
      expect(await countOf(target, 'thread_tracking')).toBe(total - 1000);
      const sample = await sql<{ subject: string; participants: string[] }>`
        select subject, participants from thread_tracking where thread_id = 'bulk99999'`.execute(target.db);
      expect(sample.rows).toEqual([{ subject: 'Bulk 99999', participants: ['lead999@example.com'] }]);
    } finally {
      await target.close();
    }
  }, 300_000);

  it('a dry run reports what would happen and writes nothing', async () => {
    const text = await exportText(source.handle, 'ndjson');
    const target = await emptyDatabase(engine);
    try {
      const { summary } = await runImport(
        new KyselyThreadImporter(target.db),
        `${text}{"threadId":"x y"}\n`,
        'ndjson',
        {
          dryRun: true,
        },
      );
      expect(summary).toMatchObject({ dryRun: true, read: 42, created: 41, rejected: 1 });
      expect(await countOf(target, 'thread_tracking')).toBe(0);
      expect(await countOf(target, 'thread_events')).toBe(0);
    } finally {
      await target.close();
    }
  });

  it('reports a record the database refuses by its line, and imports the rest of its batch', async () => {
    const target = await emptyDatabase(engine);
    try {
      const id = '6f1c1a4e-2b7a-4c6c-9a55-9f0a1a2b3c4d';
      const lines = [
        JSON.stringify({ threadId: 'a', id }),
        JSON.stringify({ threadId: 'b', leadId: '7f1c1a4e-2b7a-4c6c-9a55-9f0a1a2b3c4d' }),
        JSON.stringify({ threadId: 'c', id }),
        JSON.stringify({ threadId: 'd', subject: 'fine' }),
        JSON.stringify({ threadId: 'a', subject: 'later lines win' }),
      ];
      const { summary, issues } = await runImport(
        new KyselyThreadImporter(target.db),
        `${lines.join('\n')}\n`,
        'ndjson',
      );
      expect(issues).toEqual([
        { line: 2, message: expect.stringMatching(/^leadId: no lead with this id exists/) },
        { line: 3, message: 'id: already used by another thread' },
      ]);
      expect(summary).toMatchObject({ read: 5, created: 2, updated: 1, rejected: 2 });
      const rows = await sql<{ thread_id: string; id: string; subject: string | null }>`
        select thread_id, id, subject from thread_tracking order by thread_id`.execute(target.db);
      expect(rows.rows).toEqual([
        { thread_id: 'a', id, subject: 'later lines win' },
        { thread_id: 'd', id: expect.any(String), subject: 'fine' },
      ]);
    } finally {
      await target.close();
    }
  });

  it('updates only the fields a record gives, so partial records never wipe what they leave out', async () => {
    const target = await emptyDatabase(engine);
    try {
      const importer = new KyselyThreadImporter(target.db);
      await runImport(
        importer,
        '{"threadId":"p","subject":"S","status":"archived","hidden":true}\n',
        'ndjson',
      );
      const before = (await rowsOf(target))[0]!;
      const { summary } = await runImport(importer, 'thread_id,subject\np,Renamed\n', 'csv');
      expect(summary).toMatchObject({ updated: 1 });
      const after = (await rowsOf(target))[0]!;
      expect(after).toMatchObject({ subject: 'Renamed', status: 'archived', hidden: true, id: before.id });
      expect(after.created_at).toEqual(before.created_at);
      expect(after.updated_at).not.toEqual(before.updated_at);
    } finally {
      await target.close();
    }
  });
});
