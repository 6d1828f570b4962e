/**
 * Who is calling. Local mode: everyone is the configured local user (the server then only listens on loopback).
 * JWT mode: a Bearer token verified with jose, algorithms pinned, exp/nbf/iss/aud checked, `sub` is the user id.
 * Verified tokens are remembered until they expire, so a busy client pays for the signature check once.
 */
import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { AppError } from '../../domain/errors.ts';

export interface Principal {
  userId: string;
  admin: boolean;
}

export interface Authenticator {
  readonly mode: 'local' | 'jwt';
  authenticate(authorization: string | undefined): Promise<Principal>;
}

export class LocalAuthenticator implements Authenticator {
  readonly mode = 'local' as const;
  readonly principal: Principal;
  constructor(userId: string) {
    this.principal = Object.freeze({ userId, admin: true });
  }
  async authenticate(): Promise<Principal> {
    return this.principal;
  }
}

export interface JwtOptions {
  secret?: string | undefined;
  jwksUrl?: string | undefined;
  algorithms: string[];
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Claim that marks an admin, as a dotted path (`role`, `app_metadata.role`). */
  adminClaim: string;
  adminValue: string;
  clockToleranceSeconds?: number;
}

const unauthenticated = (message: string) => new AppError('UNAUTHENTICATED', message);

export class JwtAuthenticator implements Authenticator {
  readonly mode = 'jwt' as const;
  readonly #options: JwtOptions;
  readonly #secret: Uint8Array | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  readonly #verified = new LRUCache<string, { principal: Principal; exp: number; nbf: number }>({
    max: 20_000,
  });

  constructor(options: JwtOptions) {
    this.#options = options;
    this.#secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
    this.#jwks = options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 2000 })
      : undefined;
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw unauthenticated('An Authorization: Bearer token is required');
    // The scheme name is case-insensitive (RFC 9110 section 11.1).
    const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(authorization);
    if (!match) throw unauthenticated('The Authorization header must be "Bearer <JWT>"');
    const token = match[1]!;
    const now = Date.now() / 1000;
    const remembered = this.#verified.get(token);
    if (remembered) {
      if (remembered.exp > now && remembered.nbf <= now + (this.#options.clockToleranceSeconds ?? 5)) {
        return remembered.principal;
      }
      this.#verified.delete(token);
    }
    let payload: JWTPayload;
    try {
      const alg = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')).alg as unknown;
      const key = typeof alg === 'string' && alg.startsWith('HS') ? this.#secret : this.#jwks;
      if (!key) throw unauthenticated('The token is signed with an algorithm this server does not accept');
      const options = {
        algorithms: this.#options.algorithms,
        clockTolerance: this.#options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp'],
        ...(this.#options.issuer ? { issuer: this.#options.issuer } : {}),
        ...(this.#options.audience ? { audience: this.#options.audience } : {}),
      };
      const result =
        key instanceof Uint8Array
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key as JWTVerifyGetKey, options);
      payload = result.payload;
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw unauthenticated(`The token is not valid: ${describeJoseError(error)}`);
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) {
      throw unauthenticated('The token has no subject (sub) claim');
    }
    if (payload.sub.includes('\u0000')) throw unauthenticated('The token subject is not valid');
    const principal = Object.freeze({ userId: payload.sub, admin: this.#isAdmin(payload) });
    this.#verified.set(token, { principal, exp: payload.exp ?? now, nbf: payload.nbf ?? 0 });
    return principal;
  }

  #isAdmin(payload: JWTPayload): boolean {
    let value: unknown = payload;
    for (const part of this.#options.adminClaim.split('.')) {
      value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    }
    return Array.isArray(value)
      ? value.includes(this.#options.adminValue)
      : value === this.#options.adminValue;
  }
}

function describeJoseError(error: unknown): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'it has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `claim check failed (${(error as { claim?: string }).claim ?? 'unknown claim'})`;
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'its algorithm is not allowed';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the signature does not match';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key matches it';
    default:
      return 'it could not be verified';
  }
}

export interface MintOptions {
  secret: string;
  userId: string;
  admin?: boolean;
  ttlSeconds?: number;
  issuer?: string | undefined;
  audience?: string | undefined;
  adminClaim?: string;
  adminValue?: string;
}

/** Mints an HS256 token (the CLI's `token` command and the tests). */
export async function mintToken(options: MintOptions): Promise<string> {
  const claims: Record<string, unknown> = {};
  if (options.admin) {
    const path = (options.adminClaim ?? 'role').split('.');
    let target = claims;
    for (const part of path.slice(0, -1)) {
      target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    target[path.at(-1)!] = options.adminValue ?? 'admin';
  }
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
