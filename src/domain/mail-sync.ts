/**
 * Mail accounts and their sync positions, pure.
 *
 * A cursor says how far the mirror of a mailbox reaches. It only moves forward, and it is committed in the same
 * transaction as the messages it covers, so a sync stopped at any point (a crash, a rate limit) resumes from the
 * last page it committed, never before it (messages fetched twice) or after it (messages never fetched).
 * - Gmail: a full listing of sent threads pinned at the history id read before it began (`epoch`), page by page,
 *   then history from there on. A full resync (expired history id) starts a new epoch, read later, so higher.
 * - IMAP: per folder, UIDVALIDITY and the highest UID fetched. A new UIDVALIDITY (the server renumbered the folder)
 *   restarts that folder; RFC 3501 makes it larger than the old one, but some servers do not, so any change of
 *   UIDVALIDITY counts as the server's new epoch.
 */
import { z } from 'zod';

export const MAIL_PROVIDERS = ['gmail', 'imap'] as const;
export type MailProvider = (typeof MAIL_PROVIDERS)[number];

/** Stored statuses; the API adds `syncing` while a run holds the account. */
export const MAIL_ACCOUNT_STATUSES = ['active', 'needs_reconnect', 'error'] as const;
export type MailAccountStatus = (typeof MAIL_ACCOUNT_STATUSES)[number] | 'syncing';

export interface SyncProgress {
  phase: string;
  done: number;
  total: number | null;
}

const historyId = z.string().regex(/^\d{1,30}$/);
const isoDate = z.string().min(10).max(40);

export const gmailCursorSchema = z.discriminatedUnion('mode', [
  z.strictObject({
    provider: z.literal('gmail'),
    mode: z.literal('full'),
    epoch: historyId,
    since: isoDate,
    /** The next threads.list page; null before the first. */
    pageToken: z.string().max(2000).nullable(),
    pages: z.number().int().min(0),
  }),
  z.strictObject({
    provider: z.literal('gmail'),
    mode: z.literal('incremental'),
    epoch: historyId,
    since: isoDate,
    historyId,
  }),
]);
export type GmailCursor = z.infer<typeof gmailCursorSchema>;

export const imapFolderCursorSchema = z.strictObject({
  path: z.string().max(1000),
  uidValidity: z.string().regex(/^\d{1,20}$/),
  /** Highest UID fetched. */
  lastUid: z.number().int().min(0),
  /** Messages of the window at or below lastUid when last counted: fewer now means some were expunged. */
  count: z.number().int().min(0),
});
export type ImapFolderCursor = z.infer<typeof imapFolderCursorSchema>;

export const imapCursorSchema = z.strictObject({
  provider: z.literal('imap'),
  since: isoDate,
  folders: z.record(z.string(), imapFolderCursorSchema),
});
export type ImapCursor = z.infer<typeof imapCursorSchema>;

export const syncCursorSchema = z.union([gmailCursorSchema, imapCursorSchema]);
export type SyncCursor = GmailCursor | ImapCursor;

/** Parses a stored cursor; an unreadable one means "start over" (a full sync), never a crash. */
export function parseCursor(value: unknown): SyncCursor | null {
  const parsed = syncCursorSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

const big = (s: string) => BigInt(s);

/** Gmail positions in order: (epoch, full pages…, incremental history ids…). */
function gmailRank(c: GmailCursor): [bigint, number, bigint] {
  return c.mode === 'full' ? [big(c.epoch), 0, BigInt(c.pages)] : [big(c.epoch), 1, big(c.historyId)];
}

function compareTuples(a: readonly bigint[], b: readonly bigint[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}

/**
 * Whether `next` is at or beyond `previous`. A cursor never goes back; the store refuses a commit that would
 * (a second writer with an older view, a bug), so the mirror can never be rewound.
 */
export function isCursorForward(previous: SyncCursor | null, next: SyncCursor): boolean {
  if (previous === null) return true;
  if (previous.provider !== next.provider) return false;
  if (previous.provider === 'gmail' && next.provider === 'gmail') {
    const [pe, pm, pp] = gmailRank(previous);
    const [ne, nm, np] = gmailRank(next);
    return compareTuples([ne, BigInt(nm), np], [pe, BigInt(pm), pp]) >= 0;
  }
  if (previous.provider === 'imap' && next.provider === 'imap') {
    for (const [role, before] of Object.entries(previous.folders)) {
      const after = next.folders[role];
      if (!after) return false;
      if (after.uidValidity !== before.uidValidity) continue;
      if (after.lastUid < before.lastUid) return false;
    }
    return true;
  }
  return false;
}

/** A short, secret-free description of a cursor for status displays. */
export function describeCursor(cursor: SyncCursor | null): Record<string, unknown> | null {
  if (cursor === null) return null;
  if (cursor.provider === 'gmail') {
    return cursor.mode === 'full'
      ? { mode: 'full', historyId: cursor.epoch, pages: cursor.pages, since: cursor.since }
      : { mode: 'incremental', historyId: cursor.historyId, since: cursor.since };
  }
  return {
    since: cursor.since,
    folders: Object.fromEntries(
      Object.entries(cursor.folders).map(([role, f]) => [
        role,
        { uidValidity: f.uidValidity, lastUid: f.lastUid },
      ]),
    ),
  };
}

const hostName = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'must be a host name or an IP address');
const port = z.number().int().min(1).max(65_535);

/** An IMAP/SMTP account as the API and the command line take it. The password is never returned. */
export const imapAccountSchema = z.strictObject({
  email: z
    .string()
    .trim()
    .toLowerCase()
    .max(320)
    .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address'),
  imapHost: hostName,
  imapPort: port,
  imapSecure: z.boolean(),
  smtpHost: hostName,
  smtpPort: port,
  smtpSecure: z.boolean(),
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
  /** Append sent messages to the Sent folder (default: yes, except for servers that file them, like Gmail). */
  appendToSent: z.boolean().optional(),
});
export type ImapAccountInput = z.infer<typeof imapAccountSchema>;

/** Whether the server files messages sent over SMTP in Sent by itself (appending would make a second copy). */
export function filesSentMail(smtpHost: string): boolean {
  return /(^|\.)(gmail|googlemail)\.com$|(^|\.)office365\.com$|(^|\.)outlook\.com$/i.test(smtpHost);
}
