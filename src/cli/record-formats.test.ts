import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ThreadRecord } from '../domain/thread-record.ts';
import type { SourceRecord } from '../service/thread-transfer.ts';
import { createRecordWriter, formatOf, type RecordFormat, readRecords } from './record-formats.ts';

async function* chunks(text: string, size: number): AsyncIterable<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function read(text: string, format: RecordFormat, chunkSize = 1 << 16): Promise<SourceRecord[]> {
  const out: SourceRecord[] = [];
  for await (const item of readRecords(chunks(text, chunkSize), format)) out.push(item);
  return out;
}

/** Splits at every possible place: the result must not depend on where chunks end. */
async function readEverySplit(text: string, format: RecordFormat): Promise<SourceRecord[]> {
  const whole = await read(text, format);
  for (const size of [1, 2, 3, 7, 13]) expect(await read(text, format, size)).toEqual(whole);
  return whole;
}

describe('formatOf', () => {
  it.each([
    ['a.csv', undefined, 'csv'],
    ['a.JSON', undefined, 'json'],
    ['a.ndjson', undefined, 'ndjson'],
    ['a.jsonl', undefined, 'ndjson'],
    [undefined, undefined, 'ndjson'],
    ['a.csv', 'json', 'json'],
    [undefined, 'JSONL', 'ndjson'],
  ])('%s with --format %s → %s', (path, explicit, format) => expect(formatOf(path, explicit)).toBe(format));

  it('refuses an unknown format', () => expect(() => formatOf('a', 'xml')).toThrow(/ndjson, json or csv/));
});

describe('NDJSON', () => {
  it('yields each record with its line, skipping blank lines, across CRLF and a BOM', async () => {
    const text = '\uFEFF{"threadId":"a"}\r\n\r\n{"threadId":"b"}\n  \n{bad\n{"threadId":"c"}';
    expect(await readEverySplit(text, 'ndjson')).toEqual([
      { line: 1, value: { threadId: 'a' } },
      { line: 3, value: { threadId: 'b' } },
      { line: 5, error: expect.stringMatching(/^not valid JSON/) },
      { line: 6, value: { threadId: 'c' } },
    ]);
  });
});

describe('JSON array', () => {
  it('yields each element at the line it starts on, whatever the strings hold', async () => {
    const text = [
      '[',
      '  {"threadId": "a", "subject": "brackets ] } [ { and a comma,"},',
      '  {"threadId": "b", "subject": "an escaped quote \\" and a backslash \\\\"',
      '  , "participants": ["x@y.io"]},',
      '  {"threadId": "c", broken},',
      '  {"threadId": "d"}',
      ']',
      '',
    ].join('\n');
    expect(await readEverySplit(text, 'json')).toEqual([
      { line: 2, value: { threadId: 'a', subject: 'brackets ] } [ { and a comma,' } },
      {
        line: 3,
        value: { threadId: 'b', subject: 'an escaped quote " and a backslash \\', participants: ['x@y.io'] },
      },
      { line: 5, error: expect.stringMatching(/^not valid JSON/) },
      { line: 6, value: { threadId: 'd' } },
    ]);
  });

  it('reads an empty array, and says when the array is not closed or text follows it', async () => {
    expect(await read(' [ ] ', 'json')).toEqual([]);
    expect(await read('[{"a":1},\n{"b":2}', 'json')).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 2, error: 'the JSON array is not closed' },
    ]);
    expect(await read('[{"a":1}]\n[', 'json')).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 2, error: 'unexpected text after the JSON array' },
    ]);
  });

  it('reads a .json file of one object per line as NDJSON', async () => {
    expect(await readEverySplit('\n {"a":1}\n{"b":2}\n', 'json')).toEqual([
      { line: 2, value: { a: 1 } },
      { line: 3, value: { b: 2 } },
    ]);
  });
});

describe('CSV', () => {
  it('reads cells as their field types, reports bad rows at their first line, and goes on', async () => {
    const text = [
      'thread_id,subject,hidden,message_count,participants',
      'a,Hello,true,3,"[""x@y.io""]"',
      'b,"two',
      'lines",false,,',
      '',
      'c,too,many,cells,here,really',
      'd,,0,1,x@y.io;z@y.io',
    ].join('\n');
    expect(await readEverySplit(text, 'csv')).toEqual([
      {
        line: 2,
        value: { thread_id: 'a', subject: 'Hello', hidden: true, message_count: 3, participants: ['x@y.io'] },
      },
      {
        line: 3,
        value: {
          thread_id: 'b',
          subject: 'two\nlines',
          hidden: false,
          message_count: null,
          participants: null,
        },
      },
      { line: 6, error: expect.stringMatching(/^not a valid CSV row/) },
      {
        line: 7,
        value: {
          thread_id: 'd',
          subject: null,
          hidden: false,
          message_count: 1,
          participants: ['x@y.io', 'z@y.io'],
        },
      },
    ]);
  });

  it('reports a quote that is never closed', async () => {
    const items = await read('threadId,subject\na,"open\nb,c\n', 'csv');
    expect(items).toEqual([{ line: 2, error: expect.stringMatching(/Quote Not Closed/) }]);
  });
});

describe('writers', () => {
  const records: ThreadRecord[] = [
    {
      id: '6f1c1a4e-2b7a-4c6c-9a55-9f0a1a2b3c4d',
      userId: 'me',
      threadId: 'a',
      leadId: null,
      tracked: true,
      hidden: false,
      systemGenerated: false,
      emailType: 'manual',
      status: 'active',
      subject: 'Comma, "quotes" and\na line break',
      participants: ['a@x.io'],
      messageCount: 1,
      lastActivity: '2026-01-01T00:00:00.000001Z',
      aiGenerated: null,
      followupScheduled: false,
      followupScheduledAt: null,
      followupCount: 0,
      openRate: 1.5,
      replyRate: null,
      responseTimeHours: null,
      createdAt: '2026-01-01T00:00:00.000001Z',
      updatedAt: '2026-01-01T00:00:00.000002Z',
      hiddenAt: null,
      archivedAt: null,
    },
    {
      id: '7f1c1a4e-2b7a-4c6c-9a55-9f0a1a2b3c4d',
      userId: 'me',
      threadId: 'b',
      leadId: null,
      tracked: false,
      hidden: true,
      systemGenerated: true,
      emailType: null,
      status: null,
      subject: null,
      participants: [],
      messageCount: null,
      lastActivity: null,
      aiGenerated: true,
      followupScheduled: null,
      followupScheduledAt: null,
      followupCount: null,
      openRate: null,
      replyRate: 100,
      responseTimeHours: 0,
      createdAt: null,
      updatedAt: null,
      hiddenAt: '2026-01-02T00:00:00.000000Z',
      archivedAt: null,
    },
  ];

  async function written(format: RecordFormat, items: ThreadRecord[]): Promise<string> {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const writer = createRecordWriter(format, out);
    for (const record of items) await writer.write(record);
    await writer.end();
    return text;
  }

  it.each(['ndjson', 'json', 'csv'] as const)(
    '%s: what is written reads back as the same records',
    async (format) => {
      const text = await written(format, records);
      const back = await read(text, format);
      expect(back.map((item) => ('value' in item ? item.value : item))).toEqual(records);
    },
  );

  it('writes an empty JSON array and a CSV header when there is nothing', async () => {
    expect(JSON.parse(await written('json', []))).toEqual([]);
    expect((await written('csv', [])).trim().split(',')).toContain('threadId');
  });
});
