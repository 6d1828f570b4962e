import { describe, expect, it } from 'vitest';
import {
  describeCursor,
  type GmailCursor,
  type ImapCursor,
  isCursorForward,
  parseCursor,
  type SyncCursor,
} from './mail-sync.ts';

const since = '2026-01-01T00:00:00.000Z';
const full = (epoch: string, pages: number, pageToken: string | null = null): GmailCursor => ({
  provider: 'gmail',
  mode: 'full',
  epoch,
  since,
  pageToken,
  pages,
});
const incremental = (epoch: string, historyId: string): GmailCursor => ({
  provider: 'gmail',
  mode: 'incremental',
  epoch,
  since,
  historyId,
});
const imap = (folders: Record<string, [string, number]>): ImapCursor => ({
  provider: 'imap',
  since,
  folders: Object.fromEntries(
    Object.entries(folders).map(([role, [uidValidity, lastUid]]) => [
      role,
      { path: role, uidValidity, lastUid, count: lastUid },
    ]),
  ),
});

describe('isCursorForward', () => {
  const cases: [string, SyncCursor | null, SyncCursor, boolean][] = [
    ['anything after nothing', null, full('100', 0), true],
    ['the same position', full('100', 2, 'p3'), full('100', 2, 'p3'), true],
    ['the next listing page', full('100', 2), full('100', 3), true],
    ['a listing page back', full('100', 3), full('100', 2), false],
    ['from the listing to history at the epoch', full('100', 9), incremental('100', '100'), true],
    ['history forward', incremental('100', '150'), incremental('100', '151'), true],
    ['history back', incremental('100', '151'), incremental('100', '150'), false],
    ['history ids compare as numbers, not text', incremental('100', '99'), incremental('100', '100'), true],
    [
      'huge history ids',
      incremental('100', '18446744073709551615'),
      incremental('100', '18446744073709551616'),
      true,
    ],
    ['a full resync after expiry: a later epoch', incremental('100', '500'), full('900', 0), true],
    ['back to an older epoch', full('900', 0), incremental('100', '500'), false],
    ['from history back to a listing of the same epoch', incremental('100', '150'), full('100', 50), false],
    [
      'IMAP: UIDs forward',
      imap({ sent: ['7', 10], inbox: ['9', 4] }),
      imap({ sent: ['7', 12], inbox: ['9', 4] }),
      true,
    ],
    ['IMAP: a UID back', imap({ sent: ['7', 10] }), imap({ sent: ['7', 9] }), false],
    [
      'IMAP: a new UIDVALIDITY restarts the folder',
      imap({ sent: ['7', 10] }),
      imap({ sent: ['8', 0] }),
      true,
    ],
    [
      'IMAP: a lower UIDVALIDITY is the server’s new epoch too',
      imap({ sent: ['7', 10] }),
      imap({ sent: ['3', 0] }),
      true,
    ],
    ['IMAP: a folder dropped', imap({ sent: ['7', 10], inbox: ['1', 1] }), imap({ sent: ['7', 10] }), false],
    ['IMAP: a folder added', imap({ sent: ['7', 10] }), imap({ sent: ['7', 10], inbox: ['1', 5] }), true],
    ['another provider', imap({ sent: ['7', 10] }), full('1', 0), false],
  ];
  it.each(cases)('%s → %s', (_name, previous, next, forward) => {
    expect(isCursorForward(previous, next)).toBe(forward);
  });
});

describe('parseCursor', () => {
  it.each([
    [full('100', 0), true],
    [incremental('1', '2'), true],
    [imap({ sent: ['7', 10] }), true],
    [{ provider: 'gmail', mode: 'incremental', epoch: 'x', since, historyId: '1' }, false],
    [
      { provider: 'imap', since, folders: { sent: { path: 's', uidValidity: '1', lastUid: -1, count: 0 } } },
      false,
    ],
    [null, false],
    ['garbage', false],
  ])('%j → readable: %s', (value, readable) => {
    expect(parseCursor(value) !== null).toBe(readable);
  });
});

describe('describeCursor', () => {
  it('shows positions and nothing else', () => {
    expect(describeCursor(incremental('1', '42'))).toEqual({ mode: 'incremental', historyId: '42', since });
    expect(describeCursor(imap({ sent: ['7', 10] }))).toEqual({
      since,
      folders: { sent: { uidValidity: '7', lastUid: 10 } },
    });
    expect(describeCursor(null)).toBeNull();
  });
});
