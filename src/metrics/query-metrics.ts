/**
 * Database statement timing from the drivers' onQuery hook: a duration histogram by query name, and a warning line
 * for each statement slower than the threshold.
 *
 * A query name is derived from the SQL text (statement kind and main table, e.g. `select:thread_tracking`,
 * `update:thread_tracking` for a write wrapped in a CTE), never the SQL itself: label values must stay a small,
 * fixed set, and parameter values never reach a label or a log line. The set of names is capped, so a stream of
 * unforeseen statements cannot grow the registry without bound.
 */
import type { Histogram } from 'prom-client';
import type { Logger } from '../ports/logger.ts';
import type { QueryInfo, QueryObserver } from '../store/drivers/query-observer.ts';

/** Distinct names kept before further new ones are folded into `<kind>:other`. */
const MAX_NAMES = 200;
const STATEMENT_PREVIEW_CHARS = 300;

const LEADING_COMMENTS = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/;
const KIND = /^([a-z]+)/i;
const IDENT = '(?:"([^"]{1,63})"|([a-z_][a-z0-9_$]{0,62}))';
const QUALIFIED = String.raw`(?:${IDENT}\s*\.\s*)?${IDENT}`;
const FROM = new RegExp(String.raw`\bfrom\s+${QUALIFIED}`, 'i');
const INTO = new RegExp(String.raw`^insert\s+into\s+${QUALIFIED}`, 'i');
const UPDATE = new RegExp(String.raw`^update\s+(?:only\s+)?${QUALIFIED}`, 'i');
const DELETE = new RegExp(String.raw`^delete\s+from\s+(?:only\s+)?${QUALIFIED}`, 'i');
/** The first data-modifying statement inside a WITH: it names the write. */
const CTE_WRITE = new RegExp(
  String.raw`\bas\s*(?:not\s+)?(?:materialized\s*)?\(\s*(insert\s+into|update|delete\s+from)\s+(?:only\s+)?${QUALIFIED}`,
  'i',
);

const TRANSACTION = new Set(['begin', 'commit', 'rollback', 'savepoint', 'release', 'start', 'end', 'abort']);
const SCHEMA = new Set(['create', 'alter', 'drop', 'comment', 'do', 'grant', 'revoke', 'truncate']);

/** The table matched by QUALIFIED (groups: schema quoted, schema bare, table quoted, table bare), lower-cased. */
function tableOf(match: RegExpExecArray | null, offset: number): string | undefined {
  if (!match) return undefined;
  const table = match[offset + 3] ?? match[offset + 4];
  return table?.toLowerCase();
}

/** A stable, low-cardinality name for a statement: `<kind>:<table>`, `<kind>`, `transaction` or `schema`. */
export function queryNameOf(sqlText: string): string {
  const text = sqlText.replace(LEADING_COMMENTS, '');
  const kind = KIND.exec(text)?.[1]?.toLowerCase() ?? 'other';
  if (TRANSACTION.has(kind)) return 'transaction';
  if (SCHEMA.has(kind)) return 'schema';
  switch (kind) {
    case 'select':
      return named('select', tableOf(FROM.exec(text), 0));
    case 'insert':
      return named('insert', tableOf(INTO.exec(text), 0));
    case 'update':
      return named('update', tableOf(UPDATE.exec(text), 0));
    case 'delete':
      return named('delete', tableOf(DELETE.exec(text), 0));
    case 'with': {
      const write = CTE_WRITE.exec(text);
      if (write) return named(write[1]!.split(/\s+/)[0]!.toLowerCase(), tableOf(write, 1));
      return named('select', tableOf(FROM.exec(text), 0));
    }
    case 'set':
    case 'show':
    case 'lock':
    case 'copy':
    case 'explain':
    case 'values':
    case 'vacuum':
    case 'analyze':
      return kind;
    default:
      return 'other';
  }
}

const known = new Set<string>();

function named(kind: string, table: string | undefined): string {
  if (!table) return kind;
  const name = `${kind}:${table}`;
  if (known.has(name)) return name;
  if (known.size >= MAX_NAMES) return `${kind}:other`;
  known.add(name);
  return name;
}

export interface QueryObserverOptions {
  /** Statement durations by query name (seconds); omitted when metrics are off. */
  histogram?: Histogram<'query' | 'outcome'>;
  logger: Logger;
  /** Statements slower than this are logged at warn; 0 turns the lines off. */
  slowQueryMs: number;
  /** The logger of the work in progress (a background job's, with its run id), when there is one. */
  contextLogger?: () => Logger | undefined;
}

/** The driver hook for metrics and slow-query lines; undefined when neither is wanted (no cost per statement). */
export function createQueryObserver(options: QueryObserverOptions): QueryObserver | undefined {
  const { histogram, logger, slowQueryMs, contextLogger } = options;
  if (!histogram && !(slowQueryMs > 0)) return undefined;
  return (info: QueryInfo) => {
    const slow = slowQueryMs > 0 && info.durationMs >= slowQueryMs;
    if (!histogram && !slow) return;
    const query = queryNameOf(info.sql);
    const outcome = info.error === undefined ? 'ok' : 'error';
    histogram?.observe({ query, outcome }, info.durationMs / 1000);
    // Schema changes (migrations) are long by design: timed, but not reported as slow queries.
    if (slow && query !== 'schema') {
      // The statement text has placeholders ($1, $2…) where values go; the values themselves are never logged.
      (contextLogger?.() ?? logger).warn(
        {
          query,
          durationMs: Math.round(info.durationMs * 10) / 10,
          thresholdMs: slowQueryMs,
          outcome,
          statement: info.sql.replace(/\s+/g, ' ').trim().slice(0, STATEMENT_PREVIEW_CHARS),
        },
        'slow query',
      );
    }
  };
}
