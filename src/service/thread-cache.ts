/**
 * How the service uses the cache: key layout, row versions, list generations.
 *
 * - Keys always carry the user id, base64url-encoded: it then contains no glob metacharacters and no `:`, so
 *   clearing one user's keys can never match another user's.
 * - A thread entry's version is its updated_at in microseconds (strictly increasing per row, see migration 0001);
 *   a write stores the new row at its version, so a slow reader can never put back an older one.
 * - Lists and analytics are stored under the user's current generation; a write bumps the generation, which makes
 *   every cached list of that user unreachable in O(1).
 */
import { createHash } from 'node:crypto';
import type { Cache } from '../ports/cache.ts';

const PREFIX = 'tt:1';

const encodedUsers = new Map<string, string>();

/** base64url of the user id, remembered for the most recent users (it is in every key of every request). */
export const encodeUser = (userId: string): string => {
  let encoded = encodedUsers.get(userId);
  if (encoded === undefined) {
    encoded = Buffer.from(userId, 'utf8').toString('base64url');
    if (encodedUsers.size >= 10_000) encodedUsers.clear();
    encodedUsers.set(userId, encoded);
  }
  return encoded;
};

export const threadKey = (userId: string, threadId: string): string =>
  `${PREFIX}:t:${encodeUser(userId)}:${threadId}`;
export const generationKey = (userId: string): string => `${PREFIX}:g:${encodeUser(userId)}:gen`;
export const listKey = (userId: string, generation: string, kind: 'l' | 'a', query: unknown): string =>
  `${PREFIX}:${kind}:${encodeUser(userId)}:${generation}:${hashQuery(query)}`;
/** Every key of one user (threads, lists, analytics, generation). */
export const userPattern = (userId: string): string => `${PREFIX}:?:${encodeUser(userId)}:*`;
export const allPattern = `${PREFIX}:*`;

function hashQuery(query: unknown): string {
  return createHash('sha1').update(stableStringify(query)).digest('base64url');
}

/** JSON with sorted keys and without undefined values, so equal queries hash equally. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/** ISO timestamp with microseconds → integer microseconds since the epoch (exact up to year 2255). */
export function versionOf(updatedAt: string): number {
  const millis = Date.parse(updatedAt);
  const fraction = /\.(\d+)Z$/.exec(updatedAt)?.[1] ?? '';
  const micros = Number(fraction.padEnd(6, '0').slice(3, 6));
  return millis * 1000 + micros;
}

export async function readGeneration(cache: Cache, userId: string): Promise<string> {
  return (await cache.get(generationKey(userId))) ?? '0';
}
