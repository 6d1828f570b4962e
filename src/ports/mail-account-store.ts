/**
 * Persistence of mail accounts and of the mirror sync keeps of each mailbox: the message copies it has seen (so a
 * sync is exact and idempotent: the thread rows are derived from the mirror, never counted up), and what it last
 * wrote for each thread. The cursor and the page of messages it covers are committed in one transaction.
 */
import type { MailMessage, Projection } from '../domain/detection.ts';
import type { MailAccountStatus, MailProvider, SyncCursor, SyncProgress } from '../domain/mail-sync.ts';
import type { ThreadEvent } from '../domain/thread.ts';
import type { ChangePage, ImapSettings } from './mail-provider.ts';

export interface MailAccount {
  id: string;
  userId: string;
  provider: MailProvider;
  email: string;
  /** Stored status (`syncing` is derived from the lease). */
  status: Exclude<MailAccountStatus, 'syncing'>;
  settings: ImapSettings | Record<string, never>;
  /** Credentials sealed with the SecretBox; never leaves the server. */
  sealedCredentials: string | null;
  cursor: SyncCursor | null;
  lastSyncAt: string | null;
  lastError: string | null;
  lastErrorCode: string | null;
  throttledUntil: string | null;
  progress: SyncProgress | null;
  syncOwner: string | null;
  syncLeaseUntil: string | null;
  pushExpiresAt: string | null;
  createdAt: string;
}

export interface NewMailAccount {
  /** Used when the account is new; a reconnected account keeps its id. */
  id: string;
  userId: string;
  provider: MailProvider;
  email: string;
  settings: ImapSettings | Record<string, never>;
  sealedCredentials: string;
}

export type AccountStatePatch = Partial<
  Pick<
    MailAccount,
    | 'status'
    | 'lastSyncAt'
    | 'lastError'
    | 'lastErrorCode'
    | 'throttledUntil'
    | 'progress'
    | 'sealedCredentials'
    | 'pushExpiresAt'
  >
>;

export interface MailAccountRepository {
  /**
   * Creates the account, or (same user, provider and address) replaces its settings and credentials and makes it
   * active again: that is how an account is reconnected.
   */
  upsert(account: NewMailAccount): Promise<{ account: MailAccount; created: boolean }>;
  /** One account; `userId` null for background work that acts for every user. */
  get(userId: string | null, id: string): Promise<MailAccount | undefined>;
  /** A user's accounts, or every account (null). */
  list(userId: string | null): Promise<MailAccount[]>;
  findByEmail(provider: MailProvider, email: string): Promise<MailAccount[]>;
  update(id: string, patch: AccountStatePatch): Promise<void>;
  /** Deletes the account and its mirror (the threads stay). */
  delete(userId: string, id: string): Promise<boolean>;
  /**
   * Takes the account's sync lease until `until`, when it is free, expired, already ours, or held by `takeOverFrom`
   * (a process known to be gone). One run per account at a time, across processes.
   */
  claim(id: string, owner: string, now: string, until: string, takeOverFrom?: string): Promise<boolean>;
  release(id: string, owner: string): Promise<void>;
}

export interface MirrorMessage extends MailMessage {
  /** Its reply, auto-reply or bounce event is recorded. */
  announced: boolean;
}

export interface MirrorState {
  /** Bumped by every commit: a copy of the mirror held in memory is current while the version matches. */
  version: number;
  messages: MirrorMessage[];
  /** What sync last wrote for each thread (by thread id). */
  projections: Map<string, Projection>;
}

export interface ProjectionCommit {
  projections: { threadId: string; projection: Projection }[];
  /** Message keys whose events are recorded now. */
  announced: string[];
  events: { threadId: string; type: string; data: Record<string, unknown> }[];
}

export interface MailMirrorRepository {
  load(accountId: string): Promise<MirrorState>;
  version(accountId: string): Promise<number>;
  /**
   * Applies a page and moves the cursor, in one transaction. Refused (CONFLICT) when the stored cursor is not
   * `expected`'s position or the page's cursor would move back. Returns the keys of the copies removed.
   */
  commitPage(
    accountId: string,
    page: ChangePage,
    expected: SyncCursor | null,
  ): Promise<{ version: number; removed: string[] }>;
  /** Thread projections, events and announced flags in one transaction; returns the events as stored. */
  commitProjection(accountId: string, userId: string, commit: ProjectionCommit): Promise<ThreadEvent[]>;
  /** Gmail threads whose copies were not refreshed since `generation` began (to check after a full listing). */
  staleThreads(accountId: string, generation: string): Promise<string[]>;
}
