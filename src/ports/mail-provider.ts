/**
 * The mailbox port: what sync and the follow-up engine need from Gmail or an IMAP/SMTP server, and nothing more.
 * Adapters (src/mail/gmail, src/mail/imap) raise only AppErrors with the MAIL_* codes their error parser gives
 * (auth revoked, rate limited with retryAfter, cursor expired, temporary, permanent).
 */
import type { MailMessage } from '../domain/detection.ts';
import type { MailProvider as ProviderName, SyncCursor, SyncProgress } from '../domain/mail-sync.ts';

/** One page of changes, committed with its cursor in one transaction. */
export interface ChangePage {
  /** Message copies present now (new, or changed). */
  messages: MailMessage[];
  /**
   * Gmail: threads described completely by this page (their copies not in `messages` are gone; a thread listed
   * with no messages has left the mailbox, or never had a message of the user's).
   */
  completeThreads: string[];
  /**
   * IMAP: at the end of a folder's pass, copies of the folder from another UIDVALIDITY are gone; with
   * `presentUids`, so are its copies at or below `upToUid` that are not listed (expunged).
   */
  folder?: { name: string; uidValidity: string; presentUids?: number[]; upToUid?: number };
  cursor: SyncCursor;
  progress: SyncProgress;
}

export interface ListOptions {
  /** Start of the first sync's window (messages that arrived earlier are not synced). */
  since: Date;
  signal?: AbortSignal;
  /**
   * Gmail: the mirrored threads whose copies are not of `generation` (the current full listing's epoch). A full
   * resync checks each of them once its listing ends, since the listing only covers threads the user sent in.
   */
  staleThreads?: (generation: string) => Promise<string[]>;
}

export interface OutgoingMessage {
  /** `<tt.{opId}@{domain}>` (see domain/detection.ts), so the sent message is recognised by sync. */
  messageId: string;
  from: string;
  to: string[];
  cc?: string[];
  subject: string;
  text: string;
  html?: string;
  /** Replying in a thread: the parent's Message-ID and the References chain ending with it. */
  inReplyTo?: string;
  references?: string[];
  /** Gmail's thread id, when the message belongs to one. */
  providerThreadId?: string;
}

export interface SentMessage {
  messageId: string;
  /** Gmail's message and thread ids; for IMAP, the Sent copy's key when it was appended. */
  providerMessageId: string | null;
  providerThreadId: string | null;
}

export interface MessageLocation {
  key: string;
  providerThreadId: string | null;
  folder: string;
}

export interface MailProvider {
  readonly provider: ProviderName;
  /** Changes after `cursor` (null: the first sync), page by page; stop iterating to stop early. */
  listChanges(cursor: SyncCursor | null, options: ListOptions): AsyncIterable<ChangePage>;
  /**
   * Every message copy of one thread: by Gmail thread id, or (IMAP) by the Message-IDs of its messages (the
   * messages themselves and those whose References name them).
   */
  fetchThread(ref: { providerThreadId?: string; messageIds?: string[] }): Promise<MailMessage[]>;
  send(message: OutgoingMessage): Promise<SentMessage>;
  createDraft(message: OutgoingMessage): Promise<{ draftId: string }>;
  findByMessageId(messageId: string): Promise<MessageLocation | undefined>;
  /** Gmail push: (re)starts users.watch on `topic`; when it lapses. Undefined for providers without push. */
  renewPush?(topic: string): Promise<{ expiresAt: string; historyId: string }>;
  close(): Promise<void>;
}

export interface ImapSettings {
  imapHost: string;
  imapPort: number;
  imapSecure: boolean;
  smtpHost: string;
  smtpPort: number;
  smtpSecure: boolean;
  username: string;
  /** Append sent messages to the Sent folder (off for servers that do it themselves, like Gmail's SMTP). */
  appendToSent: boolean;
}

export interface GmailCredentials {
  kind: 'gmail';
  accessToken: string | null;
  refreshToken: string;
  /** Epoch ms. */
  expiresAt: number | null;
  scope: string | null;
}

export interface ImapCredentials {
  kind: 'imap';
  password: string;
}

export type MailCredentials = GmailCredentials | ImapCredentials;

export interface ProviderAccount {
  id: string;
  email: string;
  provider: ProviderName;
  settings: ImapSettings | Record<string, never>;
  credentials: MailCredentials;
}

/** Builds providers for accounts, and the provider-specific steps of connecting one. */
export interface MailConnector {
  /** `onCredentials` is called when the provider renewed them (a refreshed access token), to be stored. */
  open(account: ProviderAccount, onCredentials: (credentials: MailCredentials) => void): MailProvider;
  /** Logs in to IMAP and SMTP with these settings; MAIL_AUTH_REVOKED or MAIL_TEMPORARY when that fails. */
  verifyImap(settings: ImapSettings, credentials: ImapCredentials): Promise<void>;
  /** Whether Gmail can be connected (OAuth client configured). */
  readonly gmailConfigured: boolean;
  /** Google's consent page for this (opaque, signed) state and PKCE challenge. */
  gmailConsentUrl(state: string, codeChallenge: string): string;
  /** Trades the callback's code for tokens and reads the mailbox address. */
  gmailExchangeCode(
    code: string,
    codeVerifier: string,
  ): Promise<{ email: string; credentials: GmailCredentials }>;
}
