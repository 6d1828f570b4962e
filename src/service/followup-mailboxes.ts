/**
 * The follow-up engine's view of mailboxes, over the mail accounts sync keeps (FollowupMailboxes port).
 *
 * - The account holding a thread is the one whose sync wrote it (mail_threads). A Gmail thread is fetched by its
 *   Gmail thread id (the thread id itself); an IMAP thread by the Message-IDs of its messages in the account's
 *   mirror, grouped into threads exactly as SyncEngine groups them (the index is rebuilt when the mirror's version
 *   moves; a test keeps both groupings equal).
 * - One provider per account, kept open between jobs. IMAP calls are made one at a time (a connection has one
 *   selected folder, and two jobs must not select folders under each other); Gmail calls run side by side.
 * - The thread's messages are classified with the same detection rules as sync (auto-replies and bounces apart).
 */
import {
  DEFAULT_EMAIL_TYPE_RULES,
  type EmailTypeRule,
  type MailMessage,
  summarizeThread,
} from '../domain/detection.ts';
import { AppError } from '../domain/errors.ts';
import { firstMessageId, parseMessageIds } from '../domain/threading.ts';
import type { FollowupMailboxes, ThreadMailbox, ThreadMessage } from '../ports/followup-mailbox.ts';
import { type Logger, silentLogger } from '../ports/logger.ts';
import type {
  MailAccount,
  MailAccountRepository,
  MailMirrorRepository,
} from '../ports/mail-account-store.ts';
import type { MailConnector, MailCredentials, MailProvider } from '../ports/mail-provider.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { credentialsContext } from './sync-runner.ts';
import { imapThreadGroups } from './sync-threads.ts';

export interface FollowupMailboxesDeps {
  accounts: MailAccountRepository;
  mirror: MailMirrorRepository;
  connector: MailConnector;
  secrets: SecretBox;
  /** The account whose sync wrote a thread of the user's. */
  accountOf: (userId: string, threadId: string) => Promise<string | undefined>;
  rules?: readonly EmailTypeRule[];
  logger?: Logger;
}

interface OpenProvider {
  provider: MailProvider;
  /** Calls on this provider, one after another. */
  queue: Promise<unknown>;
}

/** Thread id → Message-IDs of its messages, for one IMAP account at one mirror version. */
interface ImapIndex {
  version: number;
  threads: Map<string, string[]>;
}

export class AccountMailboxes implements FollowupMailboxes {
  readonly #deps: FollowupMailboxesDeps;
  readonly #log: Logger;
  readonly #providers = new Map<string, OpenProvider>();
  readonly #indexes = new Map<string, ImapIndex>();

  constructor(deps: FollowupMailboxesDeps) {
    this.#deps = deps;
    this.#log = deps.logger ?? silentLogger;
  }

  async users(): Promise<string[]> {
    const accounts = await this.#deps.accounts.list(null);
    return [...new Set(accounts.filter((a) => a.status !== 'needs_reconnect').map((a) => a.userId))];
  }

  async open(userId: string, threadId: string): Promise<ThreadMailbox | undefined> {
    const accountId = await this.#deps.accountOf(userId, threadId);
    if (!accountId) return undefined;
    const account = await this.#deps.accounts.get(userId, accountId);
    if (!account) return undefined;
    if (account.status === 'needs_reconnect') {
      throw new AppError('MAIL_AUTH_REVOKED', 'The mailbox holding this thread needs to be reconnected');
    }
    const opened = this.#provider(account);
    const call = <T>(work: (p: MailProvider) => Promise<T>): Promise<T> => {
      // Gmail's API takes concurrent calls; an IMAP connection has one selected folder, so its calls queue.
      if (account.provider === 'gmail') return work(opened.provider);
      const result = opened.queue.then(() => work(opened.provider));
      opened.queue = result.catch(() => undefined);
      return result;
    };
    const ref =
      account.provider === 'gmail'
        ? { providerThreadId: threadId }
        : { messageIds: await this.#imapMessageIds(account, threadId) };
    const rules = this.#deps.rules ?? DEFAULT_EMAIL_TYPE_RULES;
    return {
      accountId: account.id,
      provider: account.provider,
      address: account.email,
      providerThreadId: account.provider === 'gmail' ? threadId : null,
      messages: async () => {
        const raw = await call((p) => p.fetchThread(ref));
        return classify(raw, account.email, rules);
      },
      send: (message) => call((p) => p.send(message)),
      createDraft: (message) => call((p) => p.createDraft(message)),
      findByMessageId: (messageId) => call((p) => p.findByMessageId(messageId)),
    };
  }

  async close(): Promise<void> {
    const open = [...this.#providers.values()];
    this.#providers.clear();
    await Promise.allSettled(open.map((o) => o.queue.then(() => o.provider.close())));
  }

  #provider(account: MailAccount): OpenProvider {
    const held = this.#providers.get(account.id);
    if (held) return held;
    if (!account.sealedCredentials) throw new AppError('MAIL_AUTH_REVOKED', 'The account has no credentials');
    let credentials: MailCredentials;
    try {
      credentials = JSON.parse(
        this.#deps.secrets.open(account.sealedCredentials, credentialsContext(account.id)),
      ) as MailCredentials;
    } catch (error) {
      throw new AppError(
        'MAIL_PERMANENT',
        `The stored credentials cannot be read: ${(error as Error).message}`,
      );
    }
    const provider = this.#deps.connector.open(
      {
        id: account.id,
        email: account.email,
        provider: account.provider,
        settings: account.settings,
        credentials,
      },
      (renewed) => {
        // Renewed tokens are stored for sync too; a failure only costs a refresh later.
        const sealed = this.#deps.secrets.seal(JSON.stringify(renewed), credentialsContext(account.id));
        this.#deps.accounts.update(account.id, { sealedCredentials: sealed }).catch((error: unknown) => {
          this.#log.warn({ err: error, account: account.id }, 'could not store renewed credentials');
        });
      },
    );
    const opened: OpenProvider = { provider, queue: Promise.resolve() };
    this.#providers.set(account.id, opened);
    return opened;
  }

  async #imapMessageIds(account: MailAccount, threadId: string): Promise<string[]> {
    const version = await this.#deps.mirror.version(account.id);
    let index = this.#indexes.get(account.id);
    if (!index || index.version !== version) {
      const state = await this.#deps.mirror.load(account.id);
      const threads = new Map<string, string[]>();
      for (const [id, items] of imapThreadGroups(account, state.messages)) {
        const ids = new Set<string>();
        for (const m of items) {
          const own = firstMessageId(m.messageId);
          if (own) ids.add(own);
        }
        threads.set(id, [...ids]);
      }
      index = { version: state.version, threads };
      this.#indexes.set(account.id, index);
    }
    return index.threads.get(threadId) ?? [];
  }
}

/** The thread's message copies merged and classified as sync does, with what a reply needs from each. */
export function classify(
  raw: MailMessage[],
  address: string,
  rules: readonly EmailTypeRule[],
): ThreadMessage[] {
  const summary = summarizeThread(raw, { userAddresses: [address.toLowerCase()], rules });
  const byId = new Map<string, MailMessage>();
  for (const m of raw) {
    const id = firstMessageId(m.messageId);
    if (id && !byId.has(id)) byId.set(id, m);
  }
  return summary.messages.map((m) => {
    const source = m.messageId ? byId.get(m.messageId) : undefined;
    return {
      kind: m.kind,
      at: m.at,
      messageId: m.messageId,
      from: m.from,
      to: source?.to ?? [],
      cc: source?.cc ?? [],
      subject: m.subject,
      references: parseMessageIds(source?.references ?? null),
    };
  });
}
