/**
 * An IMAP mailbox (imapflow) with SMTP for sending (nodemailer).
 * - Folders are found by special-use flags (\Sent, \Drafts; INBOX by name, as RFC 3501 fixes it), with the common
 *   names as a fallback for servers without SPECIAL-USE.
 * - Per folder the cursor holds UIDVALIDITY and the highest UID fetched. Each pass searches the window (messages
 *   that arrived since the first sync's start) once: UIDs above the cursor are fetched in pages, and fewer UIDs at
 *   or below it than last counted means some were expunged, so the present ones are listed for the store to drop
 *   the others. A new UIDVALIDITY restarts the folder; copies of the old one are dropped when the new pass ends
 *   (until then both generations hold the same messages, which count once by Message-ID).
 * - Sending: SMTP, then the same bytes appended to Sent (unless the server files sent mail itself). A send whose
 *   Message-ID is already in Sent is not sent again.
 */
import { type FetchMessageObject, ImapFlow, type ListResponse, type SearchObject } from 'imapflow';
import { createTransport } from 'nodemailer';
import type { MailMessage } from '../../domain/detection.ts';
import { AppError } from '../../domain/errors.ts';
import type { ImapCursor, ImapFolderCursor, SyncCursor } from '../../domain/mail-sync.ts';
import type { Clock } from '../../ports/clock.ts';
import type {
  ChangePage,
  ImapCredentials,
  ImapSettings,
  ListOptions,
  MailProvider,
  MessageLocation,
  OutgoingMessage,
  SentMessage,
} from '../../ports/mail-provider.ts';
import {
  atBoundary,
  autoHeadersOf,
  composeMessage,
  isoOrNull,
  parseHeaderBlock,
  SYNC_HEADER_NAMES,
} from '../mime.ts';
import { parseImapError } from './parse-imap-error.ts';

const ROLES = ['sent', 'inbox'] as const;
type Role = (typeof ROLES)[number] | 'drafts';

const NAME_FALLBACK: Record<Exclude<Role, 'inbox'>, RegExp> = {
  sent: /^(sent|sent items|sent messages|sent mail|\[gmail\]\/sent mail|gesendet|envoy[ée]s|enviados)$/i,
  drafts: /^(drafts|draft|\[gmail\]\/drafts|entw[üu]rfe|brouillons|borradores)$/i,
};

export interface ImapProviderOptions {
  email: string;
  settings: ImapSettings;
  credentials: ImapCredentials;
  clock: Clock;
  /** Messages fetched per page (one committed transaction each). */
  pageSize: number;
  timeoutMs?: number;
}

/** Runs `work`, turning whatever the server or the socket throws into MAIL_* AppErrors. */
const boundary = atBoundary(parseImapError);

function uidSet(uids: number[]): string {
  // Compact ranges: 1:5,9,11:12.
  const parts: string[] = [];
  for (let i = 0; i < uids.length; ) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j]! + 1) j++;
    parts.push(j === i ? String(uids[i]) : `${uids[i]}:${uids[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export class ImapProvider implements MailProvider {
  readonly provider = 'imap' as const;
  readonly #options: ImapProviderOptions;
  #client: ImapFlow | undefined;
  #folders: Partial<Record<Role, string>> | undefined;

  constructor(options: ImapProviderOptions) {
    this.#options = options;
  }

  async *listChanges(cursor: SyncCursor | null, options: ListOptions): AsyncGenerator<ChangePage> {
    const start: ImapCursor =
      cursor?.provider === 'imap'
        ? structuredClone(cursor)
        : { provider: 'imap', since: options.since.toISOString(), folders: {} };
    const state = start;
    const folders = await this.#resolveFolders();
    for (const role of ROLES) {
      const path = folders[role];
      if (!path) continue;
      if (options.signal?.aborted) return;
      const client = await this.#connect();
      const box = await boundary(() => client.mailboxOpen(path, { readOnly: true }));
      const uidValidity = String(box.uidValidity);
      const before = state.folders[role];
      const restart = !before || before.uidValidity !== uidValidity || before.path !== path;
      const base: ImapFolderCursor = restart ? { path, uidValidity, lastUid: 0, count: 0 } : before;
      const found = await boundary(() => client.search({ since: new Date(state.since) }, { uid: true }));
      const window = (found || []).sort((a, b) => a - b);
      const fresh = window.filter((uid) => uid > base.lastUid);
      const kept = window.length - fresh.length;
      const expunged = kept < base.count;
      const removals = expunged
        ? { presentUids: window.filter((uid) => uid <= base.lastUid), upToUid: base.lastUid }
        : {};
      const label = role === 'sent' ? 'Sent' : 'INBOX';
      if (fresh.length === 0) {
        if (!restart && kept === base.count) continue;
        state.folders[role] = { ...base, count: kept };
        yield {
          messages: [],
          completeThreads: [],
          folder: { name: role, uidValidity, ...removals },
          cursor: structuredClone(state),
          progress: { phase: label, done: 0, total: 0 },
        };
        continue;
      }
      let done = 0;
      for (let i = 0; i < fresh.length; i += this.#options.pageSize) {
        if (options.signal?.aborted) return;
        const chunk = fresh.slice(i, i + this.#options.pageSize);
        const messages = await this.#fetch(client, role, uidValidity, chunk);
        done += chunk.length;
        const last = i + this.#options.pageSize >= fresh.length;
        state.folders[role] = { path, uidValidity, lastUid: chunk.at(-1)!, count: kept + done };
        const page: ChangePage = {
          messages,
          completeThreads: [],
          cursor: structuredClone(state),
          progress: { phase: label, done, total: fresh.length },
        };
        if (i === 0 && expunged) page.folder = { name: role, uidValidity, ...removals };
        if (last) page.folder = { ...page.folder, name: role, uidValidity };
        yield page;
      }
    }
  }

  async fetchThread(ref: { providerThreadId?: string; messageIds?: string[] }): Promise<MailMessage[]> {
    const ids = (ref.messageIds ?? []).slice(0, 50);
    if (ids.length === 0) return [];
    const client = await this.#connect();
    const folders = await this.#resolveFolders();
    const out: MailMessage[] = [];
    for (const role of ROLES) {
      const path = folders[role];
      if (!path) continue;
      const box = await boundary(() => client.mailboxOpen(path, { readOnly: true }));
      const query: SearchObject = {
        or: ids.flatMap((id): SearchObject[] => [
          { header: { 'message-id': `<${id}>` } },
          { header: { references: `<${id}>` } },
        ]),
      };
      const uids = ((await boundary(() => client.search(query, { uid: true }))) || []).sort((a, b) => a - b);
      if (uids.length > 0) out.push(...(await this.#fetch(client, role, String(box.uidValidity), uids)));
    }
    return out;
  }

  async send(message: OutgoingMessage): Promise<SentMessage> {
    const existing = await this.findByMessageId(message.messageId.replace(/^<|>$/g, ''), ['sent']);
    if (existing)
      return { messageId: message.messageId, providerMessageId: existing.key, providerThreadId: null };
    const raw = await composeMessage(message, this.#options.clock.now());
    const { settings, credentials } = this.#options;
    const transport = smtpTransport(settings, credentials, this.#options.timeoutMs);
    try {
      await boundary(() =>
        transport.sendMail({
          envelope: { from: message.from, to: [...message.to, ...(message.cc ?? [])] },
          raw,
        }),
      );
    } finally {
      transport.close();
    }
    let key: string | null = null;
    if (settings.appendToSent) {
      const path = (await this.#resolveFolders()).sent;
      if (path) key = await this.#append(path, 'sent', raw, ['\\Seen']);
    }
    return { messageId: message.messageId, providerMessageId: key, providerThreadId: null };
  }

  async createDraft(message: OutgoingMessage): Promise<{ draftId: string }> {
    const path = (await this.#resolveFolders()).drafts;
    if (!path) {
      throw parseImapError(
        Object.assign(new Error('This mailbox has no Drafts folder'), { responseStatus: 'NO' }),
      );
    }
    // A draft an interrupted attempt left is the draft.
    const existing = await this.findByMessageId(message.messageId, ['drafts']);
    if (existing) return { draftId: existing.key };
    const raw = await composeMessage(message, this.#options.clock.now());
    return { draftId: await this.#append(path, 'drafts', raw, ['\\Draft', '\\Seen']) };
  }

  async findByMessageId(
    messageId: string,
    roles: readonly Role[] = [...ROLES, 'drafts'],
  ): Promise<MessageLocation | undefined> {
    const client = await this.#connect();
    const folders = await this.#resolveFolders();
    const id = messageId.replace(/^<|>$/g, '');
    for (const role of roles) {
      const path = folders[role];
      if (!path) continue;
      const box = await boundary(() => client.mailboxOpen(path, { readOnly: true }));
      const uids = await boundary(() =>
        client.search({ header: { 'message-id': `<${id}>` } }, { uid: true }),
      );
      if (uids && uids.length > 0) {
        return {
          key: `${role}:${box.uidValidity}:${Math.min(...uids)}`,
          providerThreadId: null,
          folder: role,
        };
      }
    }
    return undefined;
  }

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    try {
      await client.logout();
    } catch {
      client.close();
    }
  }

  // ---------------------------------------------------------------------------------------------------------

  async #connect(): Promise<ImapFlow> {
    if (this.#client?.usable) return this.#client;
    const { settings, credentials, timeoutMs } = this.#options;
    const client = imapClient(settings, credentials, timeoutMs);
    await boundary(() => client.connect());
    this.#client = client;
    return client;
  }

  async #resolveFolders(): Promise<Partial<Record<Role, string>>> {
    if (this.#folders) return this.#folders;
    const client = await this.#connect();
    const list: ListResponse[] = await boundary(() => client.list());
    const find = (role: 'sent' | 'drafts') =>
      list.find((box) => box.specialUse === `\\${role === 'sent' ? 'Sent' : 'Drafts'}`)?.path ??
      list.find((box) => NAME_FALLBACK[role].test(box.path))?.path;
    this.#folders = {
      inbox: list.find((box) => box.path.toUpperCase() === 'INBOX')?.path ?? 'INBOX',
      ...(find('sent') ? { sent: find('sent') } : {}),
      ...(find('drafts') ? { drafts: find('drafts') } : {}),
    };
    return this.#folders;
  }

  async #fetch(client: ImapFlow, role: string, uidValidity: string, uids: number[]): Promise<MailMessage[]> {
    const fetched: FetchMessageObject[] = await boundary(() =>
      client.fetchAll(
        uidSet(uids),
        { uid: true, envelope: true, internalDate: true, headers: [...SYNC_HEADER_NAMES] },
        { uid: true },
      ),
    );
    const now = this.#options.clock.now().toISOString();
    return fetched.map((m) => {
      const headers = parseHeaderBlock(m.headers ?? '');
      const envelope = m.envelope ?? {};
      const address = (list: { address?: string | undefined }[] | undefined) =>
        (list ?? []).map((a) => (a.address ?? '').toLowerCase()).filter((a) => a.includes('@'));
      return {
        key: `${role}:${uidValidity}:${m.uid}`,
        folder: role,
        generation: uidValidity,
        providerThreadId: null,
        uid: m.uid,
        messageId: headers.get('message-id') ?? null,
        inReplyTo: headers.get('in-reply-to') ?? null,
        references: headers.get('references') ?? null,
        subject: envelope.subject ?? null,
        from: address(envelope.from)[0] ?? null,
        to: address(envelope.to),
        cc: address(envelope.cc),
        sentAt: isoOrNull(envelope.date),
        receivedAt: isoOrNull(m.internalDate) ?? now,
        inSent: role === 'sent',
        autoHeaders: autoHeadersOf((name) => headers.get(name)),
      };
    });
  }

  async #append(path: string, role: string, raw: Buffer, flags: string[]): Promise<string> {
    const client = await this.#connect();
    const result = await boundary(() => client.append(path, raw, flags, this.#options.clock.now()));
    if (!result)
      throw parseImapError(Object.assign(new Error(`APPEND to ${path} failed`), { responseStatus: 'NO' }));
    return `${role}:${result.uidValidity ?? ''}:${result.uid ?? ''}`;
  }
}

/** An error of one step of a check, pointed at the form field to fix. */
function atField(error: unknown, field: string): unknown {
  if (!(error instanceof AppError)) return error;
  const path = error.code === 'MAIL_AUTH_REVOKED' ? 'password' : field;
  return new AppError(error.code, error.message, {
    cause: error.cause,
    details: [{ path, message: error.message }],
    ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
  });
}

function imapClient(settings: ImapSettings, credentials: ImapCredentials, timeoutMs = 15_000): ImapFlow {
  const client = new ImapFlow({
    host: settings.imapHost,
    port: settings.imapPort,
    secure: settings.imapSecure,
    auth: { user: settings.username, pass: credentials.password },
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: 5 * 60_000,
  });
  // Without a listener, a socket error after connect would be an uncaught 'error' event.
  client.on('error', () => {});
  return client;
}

function smtpTransport(settings: ImapSettings, credentials: ImapCredentials, timeoutMs = 15_000) {
  return createTransport({
    host: settings.smtpHost,
    port: settings.smtpPort,
    secure: settings.smtpSecure,
    auth: { user: settings.username, pass: credentials.password },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: 60_000,
  });
}

/** Logs in to IMAP and to SMTP: what adding an account checks before saving it. */
export async function verifyImapAccount(
  settings: ImapSettings,
  credentials: ImapCredentials,
  timeoutMs = 15_000,
): Promise<void> {
  const client = imapClient(settings, credentials, timeoutMs);
  try {
    await boundary(() => client.connect());
  } catch (error) {
    throw atField(error, 'imapHost');
  }
  await client.logout().catch(() => client.close());
  const transport = smtpTransport(settings, credentials, timeoutMs);
  try {
    await boundary(() => transport.verify());
  } catch (error) {
    throw atField(error, 'smtpHost');
  } finally {
    transport.close();
  }
}
