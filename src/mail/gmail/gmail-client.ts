/**
 * Google OAuth 2.0 and the Gmail API client (@googleapis/gmail with its own `auth.OAuth2`). Every endpoint can be
 * moved (GMAIL_API_URL, GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL) so tests run the real client against a local emulator.
 * Requests are not retried by the client: rate limits and failures reach the sync runner as MAIL_* errors, which
 * waits as told and resumes from the committed cursor.
 */
import { auth, gmail_v1 } from '@googleapis/gmail';
import type { GmailCredentials } from '../../ports/mail-provider.ts';
import { parseGmailError } from './parse-gmail-error.ts';

export const GMAIL_SCOPES = [
  'https://www.googleapis.com/auth/gmail.readonly',
  'https://www.googleapis.com/auth/gmail.send',
  'https://www.googleapis.com/auth/gmail.compose',
] as const;

export interface GoogleSettings {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  authUrl: string;
  tokenUrl: string;
  apiUrl: string;
  timeoutMs?: number;
}

export type OAuthClient = InstanceType<typeof auth.OAuth2>;

export function oauthClient(settings: GoogleSettings): OAuthClient {
  return new auth.OAuth2({
    // A token refused before its stated expiry (revoked server-side, a clock off) is refreshed once and retried.
    forceRefreshOnFailure: true,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    redirectUri: settings.redirectUri,
    endpoints: { oauth2AuthBaseUrl: settings.authUrl, oauth2TokenUrl: settings.tokenUrl },
  });
}

export function gmailClient(settings: GoogleSettings, client: OAuthClient): gmail_v1.Gmail {
  return new gmail_v1.Gmail({
    auth: client,
    rootUrl: settings.apiUrl,
    retry: false,
    timeout: settings.timeoutMs ?? 30_000,
  });
}

/** Google's consent page: read, send and compose, offline access (a refresh token), PKCE. */
export function consentUrl(settings: GoogleSettings, state: string, codeChallenge: string): string {
  return oauthClient(settings).generateAuthUrl({
    access_type: 'offline',
    prompt: 'consent',
    include_granted_scopes: true,
    scope: [...GMAIL_SCOPES],
    state,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256' as never,
  });
}

/** The callback's code for tokens, and the address of the mailbox they open. */
export async function exchangeCode(
  settings: GoogleSettings,
  code: string,
  codeVerifier: string,
): Promise<{ email: string; credentials: GmailCredentials }> {
  try {
    const client = oauthClient(settings);
    const { tokens } = await client.getToken({ code, codeVerifier });
    if (!tokens.refresh_token) {
      throw Object.assign(new Error('Google returned no refresh token (offline access was not granted)'), {
        response: { status: 400, data: { error: 'invalid_grant' } },
      });
    }
    client.setCredentials(tokens);
    const profile = await gmailClient(settings, client).users.getProfile({ userId: 'me' });
    return {
      email: (profile.data.emailAddress ?? '').toLowerCase(),
      credentials: {
        kind: 'gmail',
        accessToken: tokens.access_token ?? null,
        refreshToken: tokens.refresh_token,
        expiresAt: tokens.expiry_date ?? null,
        scope: tokens.scope ?? null,
      },
    };
  } catch (error) {
    throw parseGmailError(error);
  }
}

/** A client holding an account's tokens; `onRefresh` receives renewed tokens to store. */
export function accountClient(
  settings: GoogleSettings,
  credentials: GmailCredentials,
  onRefresh: (credentials: GmailCredentials) => void,
): { oauth: OAuthClient; gmail: gmail_v1.Gmail } {
  const oauth = oauthClient(settings);
  let current = credentials;
  oauth.setCredentials({
    access_token: credentials.accessToken,
    refresh_token: credentials.refreshToken,
    expiry_date: credentials.expiresAt,
    scope: credentials.scope ?? undefined,
  });
  oauth.on('tokens', (tokens) => {
    current = {
      kind: 'gmail',
      accessToken: tokens.access_token ?? current.accessToken,
      refreshToken: tokens.refresh_token ?? current.refreshToken,
      expiresAt: tokens.expiry_date ?? current.expiresAt,
      scope: tokens.scope ?? current.scope,
    };
    onRefresh(current);
  });
  return { oauth, gmail: gmailClient(settings, oauth) };
}
