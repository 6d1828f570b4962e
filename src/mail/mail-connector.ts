/**
 * The MailConnector adapter: opens Gmail and IMAP providers for accounts, and runs the provider-specific steps of
 * connecting one (an IMAP login check, Google's consent page and code exchange).
 */
import { AppError } from '../domain/errors.ts';
import type { Clock } from '../ports/clock.ts';
import type {
  GmailCredentials,
  ImapCredentials,
  ImapSettings,
  MailConnector,
  MailCredentials,
  MailProvider,
  ProviderAccount,
} from '../ports/mail-provider.ts';
import { accountClient, consentUrl, exchangeCode, type GoogleSettings } from './gmail/gmail-client.ts';
import { GmailProvider } from './gmail/gmail-provider.ts';
import { ImapProvider, verifyImapAccount } from './imap/imap-provider.ts';

export interface MailConnectorSettings {
  /** Unset: Gmail cannot be connected (no OAuth client configured). */
  google?: GoogleSettings | undefined;
  clock: Clock;
  /** IMAP messages, Gmail threads or history records per page. */
  pageSize: number;
  /** Gmail threads fetched at once. */
  concurrency: number;
  timeoutMs?: number;
}

const notConfigured = () =>
  new AppError(
    'MAIL_NOT_CONFIGURED',
    'Gmail is not configured on this server: set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET',
  );

export class DefaultMailConnector implements MailConnector {
  readonly #settings: MailConnectorSettings;

  constructor(settings: MailConnectorSettings) {
    this.#settings = settings;
  }

  get gmailConfigured(): boolean {
    return this.#settings.google !== undefined;
  }

  open(account: ProviderAccount, onCredentials: (credentials: MailCredentials) => void): MailProvider {
    const { clock, pageSize, concurrency } = this.#settings;
    if (account.provider === 'gmail') {
      const google = this.#settings.google;
      if (!google) throw notConfigured();
      const { gmail } = accountClient(google, account.credentials as GmailCredentials, onCredentials);
      return new GmailProvider({ gmail, email: account.email, clock, pageSize, concurrency });
    }
    return new ImapProvider({
      email: account.email,
      settings: account.settings as ImapSettings,
      credentials: account.credentials as ImapCredentials,
      clock,
      pageSize,
      ...(this.#settings.timeoutMs ? { timeoutMs: this.#settings.timeoutMs } : {}),
    });
  }

  verifyImap(settings: ImapSettings, credentials: ImapCredentials): Promise<void> {
    return verifyImapAccount(settings, credentials, this.#settings.timeoutMs);
  }

  gmailConsentUrl(state: string, codeChallenge: string): string {
    if (!this.#settings.google) throw notConfigured();
    return consentUrl(this.#settings.google, state, codeChallenge);
  }

  gmailExchangeCode(code: string, codeVerifier: string) {
    if (!this.#settings.google) throw notConfigured();
    return exchangeCode(this.#settings.google, code, codeVerifier);
  }
}
