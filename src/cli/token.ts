/** `thread-tracker token --user X [--admin]`: mints an HS256 token with the configured secret. */
import { mintToken } from '../api/auth/authenticator.ts';
import { loadConfig } from '../config.ts';

export async function token(options: { user: string; admin?: boolean; ttl?: string }): Promise<void> {
  const config = loadConfig();
  const secret = config.JWT_SECRET ?? config.SUPABASE_JWT_SECRET;
  if (!secret) throw new Error('Set JWT_SECRET (or SUPABASE_JWT_SECRET) to mint tokens');
  const ttlSeconds = options.ttl ? Number(options.ttl) : 3600;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
    throw new Error('--ttl must be a positive number of seconds');
  console.log(
    await mintToken({
      secret,
      userId: options.user,
      admin: options.admin ?? false,
      ttlSeconds,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      adminClaim: config.JWT_ADMIN_CLAIM,
      adminValue: config.JWT_ADMIN_VALUE,
    }),
  );
}
