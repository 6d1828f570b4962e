/**
 * JWT mode with keys from a JWKS URL, against a real HTTP server on loopback: RS256 and ES256 tokens signed with the
 * served keys pass; a foreign key, an unknown kid, an HS256 token made with the public key (algorithm confusion),
 * expiry, issuer and audience all fail as 401; an unreachable or silent JWKS server is a prompt 401, never a hang
 * or a 500. Supabase settings derive the JWKS URL, issuer and audience from SUPABASE_URL alone.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Authenticator, JwtAuthenticator } from '../../src/api/auth/authenticator.ts';
import { buildApp } from '../../src/api/build-app.ts';
import { loadConfig } from '../../src/config.ts';
import { createAuthenticator } from '../../src/container.ts';
import { freePort } from '../harness/free-port.ts';
import { createTestApp, type TestApp } from '../support/test-app.ts';

const JWKS_PATH = '/auth/v1/.well-known/jwks.json';
const ISSUER = 'https://issuer.example/auth';
const AUDIENCE = 'thread-tracker-api';

interface KeyPair {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

async function keyPair(alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey };
}

const now = () => Math.floor(Date.now() / 1000);

function sign(
  key: { alg: string; kid?: string; privateKey: CryptoKey | Uint8Array },
  claims: Record<string, unknown> = {},
  options: { issuer?: string; audience?: string } = {},
): Promise<string> {
  return new SignJWT({
    sub: 'jwks-user',
    iss: options.issuer ?? ISSUER,
    aud: options.audience ?? AUDIENCE,
    iat: now(),
    exp: now() + 600,
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(key.kid ? { kid: key.kid } : {}) })
    .sign(key.privateKey);
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no port'));
      else resolve(address.port);
    });
  });
}

let t: TestApp;
let rsa: KeyPair;
let ec: KeyPair;
let jwksServer: Server;
let jwksBase: string;
let jwksRequests = 0;
let silentServer: ReturnType<typeof createTcpServer>;
const silentSockets = new Set<Socket>();
const apps: FastifyInstance[] = [];

async function appWith(authenticator: Authenticator): Promise<FastifyInstance> {
  const app = await buildApp({ service: t.service, leads: t.leads, health: t.health, authenticator });
  await app.ready();
  apps.push(app);
  return app;
}

const jwksAuthenticator = (jwksUrl: string) =>
  new JwtAuthenticator({
    jwksUrl,
    algorithms: ['RS256', 'ES256'],
    issuer: ISSUER,
    audience: AUDIENCE,
    adminClaim: 'role',
    adminValue: 'admin',
  });

async function me(app: FastifyInstance, token: string) {
  const res = await app.inject({
    method: 'GET',
    url: '/api/v1/me',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown>, res };
}

beforeAll(async () => {
  t = await createTestApp();
  [rsa, ec] = await Promise.all([keyPair('RS256', 'rsa-1'), keyPair('ES256', 'ec-1')]);
  const keys: JWK[] = await Promise.all(
    [rsa, ec].map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, alg: k.alg, use: 'sig' })),
  );
  jwksServer = createHttpServer((req, res) => {
    if (req.method === 'GET' && req.url === JWKS_PATH) {
      jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    } else {
      res.writeHead(404).end();
    }
  });
  jwksBase = `http://127.0.0.1:${await listen(jwksServer)}`;
  // Accepts connections and never answers: a JWKS endpoint that hangs.
  silentServer = createTcpServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  await listen(silentServer);
});

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const socket of silentSockets) socket.destroy();
  await new Promise<void>((resolve) => silentServer?.close(() => resolve()) ?? resolve());
  jwksServer?.closeAllConnections();
  await new Promise<void>((resolve) => jwksServer?.close(() => resolve()) ?? resolve());
  await t?.close();
});

describe('keys from a JWKS URL', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await appWith(jwksAuthenticator(`${jwksBase}${JWKS_PATH}`));
  });

  it('accepts RS256 and ES256 tokens signed with the served keys', async () => {
    for (const key of [rsa, ec]) {
      const { status, body } = await me(app, await sign(key, { sub: `user-${key.alg}` }));
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ userId: `user-${key.alg}`, admin: false, authMode: 'jwt' });
    }
    const admin = await me(app, await sign(ec, { sub: 'boss', role: 'admin' }));
    expect(admin.body).toMatchObject({ userId: 'boss', admin: true });
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it('refuses a token signed by a key the server does not publish, under a published kid', async () => {
    const stranger = await keyPair('RS256', 'rsa-1');
    const strangerEc = await keyPair('ES256', 'ec-1');
    for (const key of [stranger, strangerEc]) {
      const { status, body, res } = await me(app, await sign(key));
      expect(status).toBe(401);
      expect(body.code).toBe('UNAUTHENTICATED');
      expect(res.headers['www-authenticate']).toContain('Bearer');
    }
  });

  it('refuses a token whose kid is unknown, or that has no kid and a foreign key', async () => {
    const unknownKid = await me(app, await sign({ ...rsa, kid: 'rotated-away' }));
    expect(unknownKid.status).toBe(401);
    const stranger = await keyPair('ES256', 'unused');
    const noKid = await me(app, await sign({ alg: 'ES256', privateKey: stranger.privateKey }));
    expect(noKid.status).toBe(401);
  });

  it('refuses HS256 tokens keyed with the public key (algorithm confusion), alg none and unlisted algorithms', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const jwkText = new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey)));
    for (const secret of [pem, jwkText]) {
      const token = await sign({ alg: 'HS256', kid: rsa.kid, privateKey: secret });
      expect((await me(app, token)).status).toBe(401);
    }
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', iss: ISSUER, aud: AUDIENCE, exp: now() + 600 })}.`;
    expect((await me(app, unsigned)).status).toBe(401);
    const rs384 = await generateKeyPair('RS384');
    const unlisted = await sign({ alg: 'RS384', kid: rsa.kid, privateKey: rs384.privateKey });
    expect((await me(app, unlisted)).status).toBe(401);
  });

  it('refuses expired, not-yet-valid, mis-issued and mis-addressed tokens', async () => {
    const cases: [string, Promise<string>][] = [
      ['expired', sign(rsa, { iat: now() - 3600, exp: now() - 60 })],
      ['no exp', sign(rsa, { exp: undefined })],
      ['not yet valid', sign(ec, { nbf: now() + 600 })],
      ['wrong issuer', sign(rsa, {}, { issuer: 'https://evil.example/auth' })],
      ['wrong audience', sign(ec, {}, { audience: 'another-api' })],
      ['no subject', sign(rsa, { sub: undefined })],
    ];
    for (const [label, token] of cases) {
      const { status, body } = await me(app, await token);
      expect(status, label).toBe(401);
      expect(body.code, label).toBe('UNAUTHENTICATED');
    }
  });
});

describe('an unavailable JWKS server', () => {
  it('answers 401 promptly when nothing listens at the JWKS URL', async () => {
    const app = await appWith(jwksAuthenticator(`http://127.0.0.1:${await freePort()}${JWKS_PATH}`));
    const started = Date.now();
    const results = await Promise.all([rsa, ec, rsa].map(async (k) => me(app, await sign(k))));
    expect(Date.now() - started).toBeLessThan(2500);
    for (const { status, body } of results) {
      expect(status).toBe(401);
      expect(body.code).toBe('UNAUTHENTICATED');
    }
  });

  it('answers 401 within about 2.5 s when the JWKS server accepts and never answers', async () => {
    const address = silentServer.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const app = await appWith(jwksAuthenticator(`http://127.0.0.1:${address.port}${JWKS_PATH}`));
    const started = Date.now();
    const results = await Promise.all([rsa, ec].map(async (k) => me(app, await sign(k))));
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(2800);
    for (const { status } of results) expect(status).toBe(401);
  });

  it('answers 401 when the JWKS URL serves something other than keys', async () => {
    const app = await appWith(jwksAuthenticator(`${jwksBase}/not-the-jwks.json`));
    const { status, body } = await me(app, await sign(rsa));
    expect(status).toBe(401);
    expect(body.code).toBe('UNAUTHENTICATED');
  });
});

describe('Supabase Auth settings', () => {
  it('derives the JWKS URL, issuer and audience from SUPABASE_URL', async () => {
    // A trailing slash on the URL must not double up in the derived addresses.
    for (const supabaseUrl of [jwksBase, `${jwksBase}/`]) {
      const config = loadConfig({ SUPABASE_URL: supabaseUrl });
      expect(config.authMode).toBe('jwt');
      const app = await appWith(createAuthenticator(config));
      const issuer = `${jwksBase}/auth/v1`;
      const good = { issuer, audience: 'authenticated' };
      for (const key of [rsa, ec]) {
        const { status, body } = await me(app, await sign(key, { sub: 'supabase-user' }, good));
        expect(status, JSON.stringify(body)).toBe(200);
        expect(body.userId).toBe('supabase-user');
      }
      const wrongAudience = await me(app, await sign(rsa, {}, { issuer, audience: AUDIENCE }));
      expect(wrongAudience.status).toBe(401);
      const wrongIssuer = await me(app, await sign(ec, {}, { issuer: ISSUER, audience: 'authenticated' }));
      expect(wrongIssuer.status).toBe(401);
    }
  });

  it('prefers an explicit JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE over the derived ones', async () => {
    const config = loadConfig({
      SUPABASE_URL: `http://127.0.0.1:${await freePort()}`,
      JWT_JWKS_URL: `${jwksBase}${JWKS_PATH}`,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
    });
    const app = await appWith(createAuthenticator(config));
    expect((await me(app, await sign(rsa))).status).toBe(200);
    const derived = await me(
      app,
      await sign(rsa, {}, { issuer: `${config.SUPABASE_URL}/auth/v1`, audience: 'authenticated' }),
    );
    expect(derived.status).toBe(401);
  });
});
