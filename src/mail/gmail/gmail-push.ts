/**
 * Gmail push (users.watch → Cloud Pub/Sub → an HTTPS push to this server). Pub/Sub signs each push with a Google
 * OIDC token: RS256 against Google's JWKS, issuer accounts.google.com, the audience configured on the subscription
 * (GMAIL_PUSH_AUDIENCE) and, when set, the subscription's service account as `email`. The body names the mailbox
 * and its new history id; the history itself is read by the sync, so a forged or replayed push can at most cause a
 * sync.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import { AppError } from '../../domain/errors.ts';

export interface PushVerifierSettings {
  jwksUrl: string;
  audience: string;
  serviceAccount?: string | undefined;
}

const pushBody = z.object({
  message: z.object({ data: z.string().max(10_000), messageId: z.string().optional() }).loose(),
  subscription: z.string().optional(),
});
const pushData = z.object({
  emailAddress: z.string().max(320),
  historyId: z.union([z.string(), z.number()]),
});

export class GmailPushVerifier {
  readonly #settings: PushVerifierSettings;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(settings: PushVerifierSettings) {
    this.#settings = settings;
    this.#jwks = createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 3000 });
  }

  /** The mailbox a push is about; UNAUTHENTICATED unless Google signed it for this server. */
  async verify(
    authorization: string | undefined,
    body: unknown,
  ): Promise<{ email: string; historyId: string }> {
    const token = /^bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new AppError('UNAUTHENTICATED', 'A push needs a Bearer token signed by Google');
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        algorithms: ['RS256'],
        issuer: ['https://accounts.google.com', 'accounts.google.com'],
        audience: this.#settings.audience,
      });
      if (
        this.#settings.serviceAccount !== undefined &&
        (payload.email !== this.#settings.serviceAccount || payload.email_verified !== true)
      ) {
        throw new Error('signed for another service account');
      }
    } catch (error) {
      throw new AppError('UNAUTHENTICATED', `The push token was refused: ${(error as Error).message}`);
    }
    const parsed = pushBody.safeParse(body);
    if (!parsed.success) throw new AppError('VALIDATION_FAILED', 'Not a Pub/Sub push body');
    let data: z.infer<typeof pushData>;
    try {
      data = pushData.parse(JSON.parse(Buffer.from(parsed.data.message.data, 'base64').toString('utf8')));
    } catch {
      throw new AppError('VALIDATION_FAILED', 'The push message is not a Gmail notification');
    }
    return { email: data.emailAddress.toLowerCase(), historyId: String(data.historyId) };
  }
}
