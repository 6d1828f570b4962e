/**
 * A Gmail mailbox through the Gmail API.
 * - First sync: the history id is read first (the epoch), then the threads the user sent in since the window's
 *   start are listed page by page, each thread fetched whole (bounded concurrency). The cursor is the listing
 *   page, so a stopped listing resumes at its page. Then history from the epoch: nothing that changed during the
 *   listing is missed.
 * - Incremental: history.list from the stored id; each page's touched threads are fetched whole and replace their
 *   mirror copies; the cursor becomes the last history record of the page (the mailbox's history id on the last).
 * - An expired history id (404) starts a full listing at a new epoch; when it ends, mirrored threads it did not
 *   list are fetched one by one (deleted, or outside the listing).
 * - Only threads with a message of the user's (SENT label, or the account's address) are mirrored; Gmail threads
 *   are whole, so a thread the user answers later comes in whole then. Drafts, trash and spam are left out.
 */
import type { gmail_v1 } from '@googleapis/gmail';
import type { MailMessage } from '../../domain/detection.ts';
import { AppError } from '../../domain/errors.ts';
import type { GmailCursor, SyncCursor } from '../../domain/mail-sync.ts';
import type { Clock } from '../../ports/clock.ts';
import type {
  ChangePage,
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
  parseAddresses,
  SYNC_HEADER_NAMES,
} from '../mime.ts';
import { parseGmailError } from './parse-gmail-error.ts';

const METADATA_HEADERS = [...SYNC_HEADER_NAMES, 'subject', 'from', 'to', 'cc', 'date'];
const HIDDEN_LABELS = new Set(['DRAFT', 'TRASH', 'SPAM']);
const RELEVANT_LABELS = new Set(['TRASH', 'SPAM', 'SENT', 'DRAFT']);

export interface GmailProviderOptions {
  gmail: gmail_v1.Gmail;
  email: string;
  clock: Clock;
  /** Threads per listing page, history records per history page. */
  pageSize: number;
  /** Threads fetched at once. */
  concurrency: number;
}

/** Runs `work`, turning what the API or the network throws into MAIL_* AppErrors. */
const boundary = atBoundary(parseGmailError);

/** Runs `fn` over `items`, at most `limit` at a time; the first failure fails the whole (after the rest settle). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

const isExpired = (error: unknown) => error instanceof AppError && error.code === 'MAIL_CURSOR_EXPIRED';

export class GmailProvider implements MailProvider {
  readonly provider = 'gmail' as const;
  readonly #o: GmailProviderOptions;

  constructor(options: GmailProviderOptions) {
    this.#o = options;
  }

  async *listChanges(cursor: SyncCursor | null, options: ListOptions): AsyncGenerator<ChangePage> {
    let state: GmailCursor =
      cursor?.provider === 'gmail' ? cursor : await this.#newListing(options.since.toISOString());
    for (;;) {
      if (state.mode === 'full') {
        for await (const page of this.#listing(state, options)) {
          yield page;
          state = page.cursor as GmailCursor;
        }
        if (options.signal?.aborted || state.mode === 'full') return;
      }
      try {
        for await (const page of this.#history(state, options)) {
          yield page;
          state = page.cursor as GmailCursor;
        }
        return;
      } catch (error) {
        if (!isExpired(error)) throw error;
        state = await this.#newListing(state.since);
      }
    }
  }

  async fetchThread(ref: { providerThreadId?: string }): Promise<MailMessage[]> {
    if (!ref.providerThreadId) return [];
    return (await this.#thread(ref.providerThreadId, 'fetched')) ?? [];
  }

  async send(message: OutgoingMessage): Promise<SentMessage> {
    const existing = await this.findByMessageId(message.messageId);
    if (existing) {
      return {
        messageId: message.messageId,
        providerMessageId: existing.key,
        providerThreadId: existing.providerThreadId,
      };
    }
    const raw = await composeMessage(message, this.#o.clock.now());
    const sent = await boundary(() =>
      this.#o.gmail.users.messages.send({
        userId: 'me',
        requestBody: {
          raw: raw.toString('base64url'),
          ...(message.providerThreadId ? { threadId: message.providerThreadId } : {}),
        },
      }),
    );
    return {
      messageId: message.messageId,
      providerMessageId: sent.data.id ?? null,
      providerThreadId: sent.data.threadId ?? null,
    };
  }

  async createDraft(message: OutgoingMessage): Promise<{ draftId: string }> {
    const raw = await composeMessage(message, this.#o.clock.now());
    const draft = await boundary(() =>
      this.#o.gmail.users.drafts.create({
        userId: 'me',
        requestBody: {
          message: {
            raw: raw.toString('base64url'),
            ...(message.providerThreadId ? { threadId: message.providerThreadId } : {}),
          },
        },
      }),
    );
    return { draftId: draft.data.id ?? '' };
  }

  async findByMessageId(messageId: string): Promise<MessageLocation | undefined> {
    const id = messageId.replace(/^<|>$/g, '');
    const found = await boundary(() =>
      this.#o.gmail.users.messages.list({ userId: 'me', q: `rfc822msgid:${id}`, maxResults: 1 }),
    );
    const first = found.data.messages?.[0];
    if (!first?.id) return undefined;
    return { key: first.id, providerThreadId: first.threadId ?? null, folder: 'gmail' };
  }

  async renewPush(topic: string): Promise<{ expiresAt: string; historyId: string }> {
    const watch = await boundary(() =>
      this.#o.gmail.users.watch({
        userId: 'me',
        requestBody: { topicName: topic, labelIds: ['INBOX', 'SENT'], labelFilterBehavior: 'include' },
      }),
    );
    return {
      expiresAt: new Date(Number(watch.data.expiration ?? 0)).toISOString(),
      historyId: String(watch.data.historyId ?? ''),
    };
  }

  async close(): Promise<void> {}

  // ---------------------------------------------------------------------------------------------------------

  async #newListing(since: string): Promise<GmailCursor> {
    const profile = await boundary(() => this.#o.gmail.users.getProfile({ userId: 'me' }));
    return {
      provider: 'gmail',
      mode: 'full',
      epoch: String(profile.data.historyId ?? '0'),
      since,
      pageToken: null,
      pages: 0,
    };
  }

  async *#listing(
    start: Extract<GmailCursor, { mode: 'full' }>,
    options: ListOptions,
  ): AsyncGenerator<ChangePage> {
    let state = start;
    const after = Math.floor(Date.parse(state.since) / 1000);
    let listed = 0;
    // pages > 0 with no token: the listing ended before a stop; only the check of stale threads is left.
    while (state.pages === 0 || state.pageToken !== null) {
      if (options.signal?.aborted) return;
      const current = state;
      const list = await boundary(() =>
        this.#o.gmail.users.threads.list({
          userId: 'me',
          q: `in:sent after:${after}`,
          maxResults: this.#o.pageSize,
          ...(current.pageToken ? { pageToken: current.pageToken } : {}),
        }),
      );
      const ids = (list.data.threads ?? []).map((t) => t.id!).filter(Boolean);
      const messages = await this.#threads(ids, state.epoch);
      listed += ids.length;
      state = { ...state, pageToken: list.data.nextPageToken ?? null, pages: state.pages + 1 };
      yield {
        messages,
        completeThreads: ids,
        cursor: state,
        progress: {
          phase: 'Listing sent threads',
          done: listed,
          total: list.data.resultSizeEstimate ? Math.max(listed, list.data.resultSizeEstimate) : null,
        },
      };
    }
    const stale = (await options.staleThreads?.(state.epoch)) ?? [];
    for (let i = 0; i < stale.length; i += this.#o.pageSize) {
      if (options.signal?.aborted) return;
      const ids = stale.slice(i, i + this.#o.pageSize);
      yield {
        messages: await this.#threads(ids, state.epoch),
        completeThreads: ids,
        cursor: state,
        progress: { phase: 'Checking older threads', done: i + ids.length, total: stale.length },
      };
    }
    yield {
      messages: [],
      completeThreads: [],
      cursor: {
        provider: 'gmail',
        mode: 'incremental',
        epoch: state.epoch,
        since: state.since,
        historyId: state.epoch,
      },
      progress: { phase: 'Listing sent threads', done: listed, total: listed },
    };
  }

  async *#history(
    start: Extract<GmailCursor, { mode: 'incremental' }>,
    options: ListOptions,
  ): AsyncGenerator<ChangePage> {
    let pageToken: string | undefined;
    let state = start;
    let done = 0;
    for (;;) {
      if (options.signal?.aborted) return;
      const history = await boundary(() =>
        this.#o.gmail.users.history.list({
          userId: 'me',
          startHistoryId: start.historyId,
          historyTypes: ['messageAdded', 'messageDeleted', 'labelAdded', 'labelRemoved'],
          maxResults: this.#o.pageSize,
          ...(pageToken ? { pageToken } : {}),
        }),
      );
      const records = history.data.history ?? [];
      const threads = new Set<string>();
      for (const record of records) {
        for (const change of [...(record.messagesAdded ?? []), ...(record.messagesDeleted ?? [])]) {
          if (change.message?.threadId) threads.add(change.message.threadId);
        }
        for (const change of [...(record.labelsAdded ?? []), ...(record.labelsRemoved ?? [])]) {
          if (change.message?.threadId && change.labelIds?.some((l) => RELEVANT_LABELS.has(l))) {
            threads.add(change.message.threadId);
          }
        }
      }
      pageToken = history.data.nextPageToken ?? undefined;
      const lastRecord = records.at(-1)?.id;
      const reached = pageToken
        ? (lastRecord ?? state.historyId)
        : String(history.data.historyId ?? state.historyId);
      const ids = [...threads];
      done += ids.length;
      if (ids.length > 0 || BigInt(reached) > BigInt(state.historyId)) {
        state = {
          ...state,
          historyId: BigInt(reached) > BigInt(state.historyId) ? reached : state.historyId,
        };
        yield {
          messages: await this.#threads(ids, state.epoch),
          completeThreads: ids,
          cursor: state,
          progress: { phase: 'Changes', done, total: null },
        };
      }
      if (!pageToken) return;
    }
  }

  async #threads(ids: string[], generation: string): Promise<MailMessage[]> {
    const threads = await mapLimit(ids, this.#o.concurrency, (id) => this.#thread(id, generation));
    return threads.flatMap((t) => t ?? []);
  }

  /** A thread's visible messages when it has one of the user's; [] when it has none; undefined when gone. */
  async #thread(id: string, generation: string): Promise<MailMessage[] | undefined> {
    let data: gmail_v1.Schema$Thread;
    try {
      data = (
        await boundary(() =>
          this.#o.gmail.users.threads.get({
            userId: 'me',
            id,
            format: 'metadata',
            metadataHeaders: METADATA_HEADERS,
          }),
        )
      ).data;
    } catch (error) {
      if (error instanceof AppError && error.code === 'MAIL_NOT_FOUND') return undefined;
      throw error;
    }
    const own = this.#o.email.toLowerCase();
    const messages = (data.messages ?? [])
      .filter((m) => !(m.labelIds ?? []).some((l) => HIDDEN_LABELS.has(l)))
      .map((m) => this.#message(m, id, generation));
    return messages.some((m) => m.inSent || m.from === own) ? messages : [];
  }

  #message(m: gmail_v1.Schema$Message, threadId: string, generation: string): MailMessage {
    const headers = new Map<string, string>();
    for (const h of m.payload?.headers ?? []) {
      const name = (h.name ?? '').toLowerCase();
      if (name && !headers.has(name)) headers.set(name, h.value ?? '');
    }
    if (m.payload?.mimeType && !headers.has('content-type')) headers.set('content-type', m.payload.mimeType);
    const get = (name: string) => headers.get(name);
    return {
      key: m.id ?? '',
      folder: 'gmail',
      generation,
      providerThreadId: m.threadId ?? threadId,
      uid: null,
      messageId: get('message-id') ?? null,
      inReplyTo: get('in-reply-to') ?? null,
      references: get('references') ?? null,
      subject: get('subject') ?? null,
      from: parseAddresses(get('from'))[0] ?? null,
      to: parseAddresses(get('to')),
      cc: parseAddresses(get('cc')),
      sentAt: isoOrNull(get('date') ?? null),
      receivedAt:
        isoOrNull(m.internalDate ? Number(m.internalDate) : null) ?? this.#o.clock.now().toISOString(),
      inSent: (m.labelIds ?? []).includes('SENT'),
      autoHeaders: autoHeadersOf(get),
    };
  }
}
