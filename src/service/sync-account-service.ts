/**
 * Mail accounts as the API and the command line see them: connecting Gmail (consent page, callback), adding an
 * IMAP account (checked by logging in before it is saved), listing with sync status, asking for a sync, removing.
 *
 * Secrets never leave: passwords and tokens are sealed (bound to the account id) before they are stored, views
 * carry no credentials, and the OAuth state is itself sealed (user, PKCE verifier, expiry), so the public callback
 * trusts nothing a browser could forge.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../domain/errors.ts';
import {
  describeCursor,
  filesSentMail,
  type ImapAccountInput,
  type MailAccountStatus,
  type MailProvider as ProviderName,
  type SyncProgress,
} from '../domain/mail-sync.ts';
import type { Clock } from '../ports/clock.ts';
import type { MailAccount, MailAccountRepository } from '../ports/mail-account-store.ts';
import type { ImapSettings, MailConnector, MailCredentials } from '../ports/mail-provider.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { credentialsContext, type SyncHooks, type SyncOutcome, type SyncRunner } from './sync-runner.ts';

export interface AccountView {
  id: string;
  provider: ProviderName;
  email: string;
  status: MailAccountStatus;
  lastSyncAt: string | null;
  lastError: string | null;
  lastErrorCode: string | null;
  throttledUntil: string | null;
  progress: SyncProgress | null;
  cursor: Record<string, unknown> | null;
  createdAt: string;
}

/** Verifies Gmail push notifications (see src/mail/gmail/gmail-push.ts). */
export interface PushVerifier {
  verify(authorization: string | undefined, body: unknown): Promise<{ email: string; historyId: string }>;
}

export interface SyncAccountDeps {
  accounts: MailAccountRepository;
  connector: MailConnector;
  secrets: SecretBox;
  runner: SyncRunner;
  clock: Clock;
  push?: PushVerifier | undefined;
}

const STATE_CONTEXT = 'gmail-oauth-state';
const STATE_TTL_MS = 15 * 60_000;

const accountNotFound = (id: string) =>
  new AppError('ACCOUNT_NOT_FOUND', `Mail account ${JSON.stringify(id)} was not found`);

export class SyncAccountService {
  readonly #deps: SyncAccountDeps;

  constructor(deps: SyncAccountDeps) {
    this.#deps = deps;
  }

  get gmailConfigured(): boolean {
    return this.#deps.connector.gmailConfigured;
  }

  /** A user's accounts; null: every account (the command line on the operator's machine). */
  async list(userId: string | null): Promise<AccountView[]> {
    return (await this.#deps.accounts.list(userId)).map((a) => this.view(a));
  }

  async get(userId: string | null, id: string): Promise<AccountView> {
    return this.view(await this.#account(userId, id));
  }

  /** Adds (or reconnects) an IMAP account once its IMAP and SMTP logins work; its first sync starts. */
  async addImap(
    userId: string,
    input: ImapAccountInput,
  ): Promise<{ account: AccountView; created: boolean }> {
    const settings: ImapSettings = {
      imapHost: input.imapHost,
      imapPort: input.imapPort,
      imapSecure: input.imapSecure,
      smtpHost: input.smtpHost,
      smtpPort: input.smtpPort,
      smtpSecure: input.smtpSecure,
      username: input.username,
      appendToSent: input.appendToSent ?? !filesSentMail(input.smtpHost),
    };
    const credentials: MailCredentials = { kind: 'imap', password: input.password };
    await this.#deps.connector.verifyImap(settings, credentials);
    return this.#save(userId, 'imap', input.email, settings, credentials);
  }

  /** Google's consent page for this user. */
  gmailConsentUrl(userId: string): string {
    if (!this.#deps.connector.gmailConfigured) {
      // Raised by the connector with the configuration hint.
      return this.#deps.connector.gmailConsentUrl('', '');
    }
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const state = this.#deps.secrets.seal(
      JSON.stringify({ u: userId, v: verifier, e: this.#deps.clock.now().getTime() + STATE_TTL_MS }),
      STATE_CONTEXT,
    );
    return this.#deps.connector.gmailConsentUrl(state, challenge);
  }

  /** Google's redirect back: the state names the user; the code becomes tokens; the account syncs. */
  async completeGmail(state: string, code: string): Promise<{ account: AccountView; created: boolean }> {
    let parsed: { u: string; v: string; e: number };
    try {
      parsed = JSON.parse(this.#deps.secrets.open(state, STATE_CONTEXT));
    } catch {
      throw new AppError('OAUTH_STATE_INVALID', 'This sign-in link is not one this server issued');
    }
    if (parsed.e < this.#deps.clock.now().getTime()) {
      throw new AppError('OAUTH_STATE_INVALID', 'This sign-in link expired; connect Gmail again');
    }
    const { email, credentials } = await this.#deps.connector.gmailExchangeCode(code, parsed.v);
    return this.#save(parsed.u, 'gmail', email, {}, credentials);
  }

  async requestSync(userId: string, id: string): Promise<AccountView> {
    const account = await this.#account(userId, id);
    this.#deps.runner.requestSync(account.id);
    return this.view(account);
  }

  /** Runs a sync now and waits for it (the command line). */
  async syncNow(userId: string | null, id: string, hooks: SyncHooks = {}): Promise<SyncOutcome> {
    const account = await this.#deps.accounts.get(userId, id);
    if (!account) throw accountNotFound(id);
    return this.#deps.runner.syncNow(account, hooks);
  }

  /** Removes the account and its mirror; its threads stay. */
  async remove(userId: string, id: string): Promise<void> {
    const account = await this.#account(userId, id);
    await this.#deps.runner.forget(account.id);
    if (!(await this.#deps.accounts.delete(userId, account.id))) throw accountNotFound(id);
  }

  /** A Gmail push: the mailbox it names syncs now. */
  async handlePush(authorization: string | undefined, body: unknown): Promise<void> {
    if (!this.#deps.push) throw new AppError('NOT_FOUND', 'Gmail push is not configured on this server');
    const { email } = await this.#deps.push.verify(authorization, body);
    for (const account of await this.#deps.accounts.findByEmail('gmail', email)) {
      this.#deps.runner.requestSync(account.id);
    }
  }

  view(account: MailAccount): AccountView {
    return {
      id: account.id,
      provider: account.provider,
      email: account.email,
      status: this.#deps.runner.statusOf(account),
      lastSyncAt: account.lastSyncAt,
      lastError: account.lastError,
      lastErrorCode: account.lastErrorCode,
      throttledUntil: account.throttledUntil,
      progress: account.progress,
      cursor: describeCursor(account.cursor),
      createdAt: account.createdAt,
    };
  }

  // ---------------------------------------------------------------------------------------------------------

  async #account(userId: string | null, id: string): Promise<MailAccount> {
    const account = await this.#deps.accounts.get(userId, id);
    if (!account) throw accountNotFound(id);
    return account;
  }

  async #save(
    userId: string,
    provider: ProviderName,
    email: string,
    settings: ImapSettings | Record<string, never>,
    credentials: MailCredentials,
  ): Promise<{ account: AccountView; created: boolean }> {
    // Credentials are sealed for the account id: the existing account's when reconnecting, else a new one.
    const existing = (await this.#deps.accounts.list(userId)).find(
      (a) => a.provider === provider && a.email.toLowerCase() === email.toLowerCase(),
    );
    const id = existing?.id ?? randomUUID();
    const seal = (accountId: string) =>
      this.#deps.secrets.seal(JSON.stringify(credentials), credentialsContext(accountId));
    let sealed = seal(id);
    const saved = await this.#deps.accounts.upsert({
      id,
      userId,
      provider,
      email,
      settings,
      sealedCredentials: sealed,
    });
    let account = saved.account;
    if (account.id !== id) {
      // Another request added the same mailbox at the same moment: seal for the row that won.
      sealed = seal(account.id);
      await this.#deps.accounts.update(account.id, { sealedCredentials: sealed });
      account = { ...account, sealedCredentials: sealed };
    }
    const created = saved.created;
    this.#deps.runner.requestSync(account.id);
    return { account: this.view(account), created };
  }
}
