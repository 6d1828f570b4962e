import { describe, expect, it } from 'vitest';
import { type CursorPosition, decodeCursor, encodeCursor } from './cursor.ts';
import { AppError } from './errors.ts';

const ID = '0b9f3c2e-5a4d-4e8f-9a1b-2c3d4e5f6a7b';
const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function decodeError(cursor: string, sort: 'lastActivity' | 'createdAt', order: 'asc' | 'desc'): AppError {
  try {
    decodeCursor(cursor, sort, order);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('decodeCursor accepted the cursor');
}

describe('cursor round trip', () => {
  const positions: CursorPosition[] = [
    { sort: 'lastActivity', order: 'desc', value: '2026-12-03T14:00:00.123456Z', id: ID },
    { sort: 'lastActivity', order: 'asc', value: '2026-12-03T14:00:00.123456Z', id: ID },
    { sort: 'createdAt', order: 'desc', value: '2026-01-01T00:00:00.000001Z', id: ID },
    { sort: 'createdAt', order: 'asc', value: '1999-12-31T23:59:59Z', id: ID },
    { sort: 'lastActivity', order: 'desc', value: null, id: ID },
    { sort: 'lastActivity', order: 'asc', value: null, id: ID.toUpperCase() },
    { sort: 'createdAt', order: 'asc', value: '2026-12-03T14:00:00.5+02:00', id: ID },
  ];

  it.each(positions)('keeps $sort $order $value exactly (microseconds included)', (position) => {
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, position.sort, position.order)).toEqual(position);
  });

  it('gives different cursors for different sorts and orders of the same row', () => {
    const base = { value: '2026-12-03T14:00:00.000000Z', id: ID };
    const cursors = new Set(
      (['lastActivity', 'createdAt'] as const).flatMap((sort) =>
        (['asc', 'desc'] as const).map((order) => encodeCursor({ ...base, sort, order })),
      ),
    );
    expect(cursors.size).toBe(4);
  });
});

describe('decodeCursor refuses', () => {
  const good = encodeCursor({ sort: 'lastActivity', order: 'desc', value: '2026-12-03T14:00:00Z', id: ID });
  const cases: {
    name: string;
    cursor: string;
    sort?: 'lastActivity' | 'createdAt';
    order?: 'asc' | 'desc';
  }[] = [
    { name: 'a cursor made for another order', cursor: good, order: 'asc' },
    { name: 'a cursor made for another sort', cursor: good, sort: 'createdAt' },
    { name: 'text that is not base64 JSON', cursor: 'not-a-cursor' },
    { name: 'the empty string', cursor: '' },
    { name: 'a JSON object', cursor: raw({ sort: 'ld', value: null, id: ID }) },
    { name: 'a JSON string', cursor: raw('ld') },
    { name: 'JSON null', cursor: raw(null) },
    { name: 'a two-element array', cursor: raw(['ld', null]) },
    { name: 'a four-element array', cursor: raw(['ld', null, ID, 'x']) },
    { name: 'an unknown tag', cursor: raw(['xx', null, ID]) },
    { name: 'a numeric value', cursor: raw(['ld', 12345, ID]) },
    { name: 'a date without a time zone', cursor: raw(['ld', '2026-12-03T14:00:00', ID]) },
    { name: 'a date-only value', cursor: raw(['ld', '2026-12-03', ID]) },
    { name: 'seven fractional digits', cursor: raw(['ld', '2026-12-03T14:00:00.1234567Z', ID]) },
    {
      name: 'SQL in the value',
      cursor: raw(['ld', "2026-12-03T14:00:00Z'; drop table thread_tracking;--", ID]),
    },
    { name: 'SQL in the id', cursor: raw(['ld', null, "' or 1=1 --"]) },
    { name: 'a non-UUID id', cursor: raw(['ld', null, 'abc']) },
    { name: 'a numeric id', cursor: raw(['ld', null, 42]) },
    { name: 'a missing id', cursor: raw(['ld', null, null]) },
    { name: 'a UUID with a trailing newline', cursor: raw(['ld', null, `${ID}\n`]) },
  ];

  it.each(cases)('$name with INVALID_CURSOR (400)', ({ cursor, sort, order }) => {
    const error = decodeError(cursor, sort ?? 'lastActivity', order ?? 'desc');
    expect(error.code).toBe('INVALID_CURSOR');
    expect(error.status).toBe(400);
    expect(error.details).toEqual([{ path: 'cursor', message: expect.any(String) }]);
  });
});
