/**
 * Keyset cursors for the thread list. A cursor names the last row of a page by its sort value (kept as text, with
 * PostgreSQL's microseconds: a JavaScript Date would lose them and the next page would skip or repeat rows) and its
 * id (the tie-breaker). It also carries the sort it was made for, so a cursor replayed under another sort is refused
 * instead of silently returning the wrong rows.
 */
import { AppError } from './errors.ts';
import { isoDateTime, type ThreadSort } from './thread.ts';

export interface CursorPosition {
  sort: ThreadSort;
  order: 'asc' | 'desc';
  /** The sort column's value of the last row, as ISO text; null when that row's value is NULL. */
  value: string | null;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

export function encodeCursor(position: CursorPosition): string {
  const order = position.order === 'asc' ? 'a' : 'd';
  const sort = position.sort === 'createdAt' ? 'c' : 'l';
  return Buffer.from(JSON.stringify([sort + order, position.value, position.id])).toString('base64url');
}

export function decodeCursor(cursor: string, sort: ThreadSort, order: 'asc' | 'desc'): CursorPosition {
  const invalid = (why: string) =>
    new AppError('INVALID_CURSOR', `The cursor is not valid for this query: ${why}`, {
      details: [{ path: 'cursor', message: why }],
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid('it is not a cursor returned by this API');
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw invalid('it is not a cursor returned by this API');
  const [tag, value, id] = parsed as unknown[];
  const expectedTag = (sort === 'createdAt' ? 'c' : 'l') + (order === 'asc' ? 'a' : 'd');
  if (tag !== expectedTag) throw invalid('it was made for another sort or order');
  // The shape alone would let through dates the database refuses (2026-02-30, hour 25, year 0000).
  if (
    value !== null &&
    (typeof value !== 'string' || !ISO.test(value) || !isoDateTime.safeParse(value).success)
  ) {
    throw invalid('malformed position');
  }
  if (typeof id !== 'string' || !UUID.test(id)) throw invalid('malformed position');
  return { sort, order, value, id };
}
