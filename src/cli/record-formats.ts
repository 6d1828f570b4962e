/**
 * The file formats of `import` and `export`: NDJSON (one record per line), a JSON array, and CSV with a header row.
 * Readers stream: each yields one record at a time with the line it starts on (for error reports), so a file of any
 * size is read in constant memory. A record that cannot be read (bad JSON, a CSV row with the wrong number of
 * cells) is yielded as an error for its line, and reading goes on.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import {
  decodeCsvCell,
  encodeCsvCell,
  normalizeFieldName,
  THREAD_RECORD_FIELDS,
  type ThreadRecord,
} from '../domain/thread-record.ts';
import type { SourceRecord } from '../service/thread-transfer.ts';

export const RECORD_FORMATS = ['ndjson', 'json', 'csv'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

/** The format named by `--format`, or else by the file's extension (NDJSON when neither says). */
export function formatOf(path: string | undefined, explicit?: string): RecordFormat {
  if (explicit !== undefined) {
    const format = explicit.toLowerCase() === 'jsonl' ? 'ndjson' : explicit.toLowerCase();
    if (!(RECORD_FORMATS as readonly string[]).includes(format))
      throw new Error(`--format must be ndjson, json or csv, not "${explicit}"`);
    return format as RecordFormat;
  }
  const extension = /\.([a-z]+)$/i.exec(path ?? '')?.[1]?.toLowerCase();
  if (extension === 'csv') return 'csv';
  if (extension === 'json') return 'json';
  return 'ndjson';
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

/**
 * Records of a file. `json` accepts a JSON array or, when the text does not start with `[`, one object per line.
 * `input` is text (a stream with setEncoding('utf8'), or strings).
 */
export async function* readRecords(
  input: AsyncIterable<string>,
  format: RecordFormat,
): AsyncIterable<SourceRecord> {
  if (format === 'csv') {
    yield* readCsv(input);
    return;
  }
  if (format === 'ndjson') {
    yield* readNdjson(input);
    return;
  }
  // Peek at the first character that is not white space to tell an array from NDJSON.
  const iterator = input[Symbol.asyncIterator]();
  const head: string[] = [];
  let first: string | undefined;
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    first = /[^\s\uFEFF]/.exec(next.value)?.[0];
    if (first !== undefined) break;
  }
  const replay = (async function* () {
    yield* head;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  yield* first === '[' ? readJsonArray(replay) : readNdjson(replay);
}

const parseJson = (line: number, text: string): SourceRecord => {
  try {
    return { line, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { line, error: `not valid JSON (${(error as Error).message})` };
  }
};

async function* readNdjson(input: AsyncIterable<string>): AsyncIterable<SourceRecord> {
  let line = 0;
  let rest = '';
  for await (const chunk of input) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      line++;
      const text = part.replace(/\r$/, '').replace(/^\uFEFF/, '');
      if (text.trim() !== '') yield parseJson(line, text);
    }
  }
  line++;
  if (rest.trim() !== '') yield parseJson(line, rest.replace(/\r$/, '').replace(/^\uFEFF/, ''));
}

const isSpace = (c: string) => c === ' ' || c === '\n' || c === '\r' || c === '\t' || c === '\uFEFF';

/**
 * Elements of a top-level JSON array, one at a time: a scanner follows strings and nesting to find where each
 * element ends, and only that element's text is parsed. Each element is reported at the line it starts on.
 */
async function* readJsonArray(input: AsyncIterable<string>): AsyncIterable<SourceRecord> {
  let line = 1;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let opened = false;
  let closed = false;
  let element: string[] | undefined;
  let elementLine = 0;
  for await (const chunk of input) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === '\n') line++;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (!opened || closed) {
        if (isSpace(c)) continue;
        if (!opened && c === '[') {
          opened = true;
          depth = 1;
          continue;
        }
        yield { line, error: closed ? 'unexpected text after the JSON array' : 'expected a JSON array' };
        return;
      }
      if (depth === 1 && (c === ',' || c === ']')) {
        if (element) {
          element.push(chunk.slice(start, i));
          yield parseJson(elementLine, element.join(''));
          element = undefined;
        }
        if (c === ']') {
          depth = 0;
          closed = true;
        }
        continue;
      }
      if (!element) {
        if (isSpace(c)) continue;
        element = [];
        elementLine = line;
        start = i;
      }
      if (c === '"') inString = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') depth--;
    }
    if (element) element.push(chunk.slice(start));
  }
  if (opened && !closed) yield { line: element ? elementLine : line, error: 'the JSON array is not closed' };
}

/**
 * CSV with a header row naming the fields (snake_case or camelCase). Cells are read as their field's type (an empty
 * cell is null). csv-parse reports rows through callbacks in file order, so records and errors keep their order.
 */
async function* readCsv(input: AsyncIterable<string>): AsyncIterable<SourceRecord> {
  const out: SourceRecord[] = [];
  // csv-parse tells where a row ends (`lines`) and how many empty lines it skipped so far; a row starts after the
  // previous one's end and the empty lines between them.
  let previousEnd = 1;
  let previousEmpty = 0;
  const startOf = (info: { lines?: number; empty_lines?: number } | undefined) => {
    const empty = info?.empty_lines ?? previousEmpty;
    const line = previousEnd + 1 + (empty - previousEmpty);
    previousEnd = info?.lines ?? line;
    previousEmpty = empty;
    return line;
  };
  const parser = parseCsv({
    bom: true,
    columns: (header: string[]) => header.map((name) => name.trim()),
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_record: (record: Record<string, string>, info) => {
      const value: Record<string, unknown> = {};
      for (const [name, cell] of Object.entries(record))
        value[name] = decodeCsvCell(normalizeFieldName(name), cell);
      out.push({ line: startOf(info), value });
      return null;
    },
    on_skip: (error) => {
      out.push({
        line: startOf(error as { lines?: number; empty_lines?: number } | undefined),
        error: csvMessage(error?.message),
      });
    },
  });
  parser.resume();
  const ended = once(parser, 'end');
  for await (const chunk of input) {
    if (!parser.write(chunk)) await once(parser, 'drain');
    yield* out.splice(0);
  }
  parser.end();
  await ended;
  yield* out.splice(0);
}

/** csv-parse's message without its own line reference (the report gives the record's first line). */
function csvMessage(message: string | undefined): string {
  return `not a valid CSV row (${(message ?? 'unreadable').replace(/:? (at|on) line \d+\.?$/, '')})`;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

export interface RecordWriter {
  write(record: ThreadRecord): Promise<void>;
  /** Writes what is buffered and the format's ending; does not close `out`. */
  end(): Promise<void>;
}

/** Writes records to `out` in a format, buffering into chunks of about 64 kB and honouring backpressure. */
export function createRecordWriter(format: RecordFormat, out: Writable): RecordWriter {
  let buffer = '';
  let count = 0;
  const flush = async () => {
    if (buffer === '') return;
    const chunk = buffer;
    buffer = '';
    if (!out.write(chunk)) await once(out, 'drain');
  };
  const encode = (record: ThreadRecord): string => {
    switch (format) {
      case 'ndjson':
        return `${JSON.stringify(record)}\n`;
      case 'json':
        return `${count === 0 ? '[\n' : ',\n'}${JSON.stringify(record)}`;
      case 'csv':
        return stringifyCsv([THREAD_RECORD_FIELDS.map((field) => encodeCsvCell(field, record[field]))]);
    }
  };
  if (format === 'csv') buffer = stringifyCsv([[...THREAD_RECORD_FIELDS]]);
  return {
    async write(record) {
      buffer += encode(record);
      count++;
      if (buffer.length >= 65_536) await flush();
    },
    async end() {
      if (format === 'json') buffer += count === 0 ? '[]\n' : '\n]\n';
      await flush();
    },
  };
}
