/**
 * A Gmail API emulator on a loopback port, for tests and benchmarks that run the real @googleapis/gmail client.
 *
 * It speaks the REST paths and JSON of the real API for what the product uses: users.getProfile, users.threads
 * list/get, users.messages list/get/send, users.drafts.create, users.history.list (paged, with the 404 Gmail
 * answers for a history id it no longer keeps), users.watch; and Google's OAuth 2.0 endpoints: the consent page
 * (it consents at once, as the configured mailbox, and redirects back with a code bound to the PKCE challenge) and
 * the token endpoint (authorization_code with the verifier, refresh_token). It also serves a JWKS and signs Pub/Sub
 * push tokens, for the push endpoint.
 *
 * Scriptable: `throttle` answers the next N API calls with 429 or 403 and a Retry-After, `expireHistory` drops
 * every history record (the stored id becomes too old), `revoke` invalidates a mailbox's tokens, and `expireTokens`
 * makes access tokens stale (the client must refresh). Every API call is counted by route in `calls`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { simpleParser } from 'mailparser';
import { parseHeaderBlock } from '../../../src/mail/mime.ts';

interface Message {
  id: string;
  threadId: string;
  labels: Set<string>;
  headers: [string, string][];
  internalDate: number;
  historyId: number;
  mimeType: string;
  snippet: string;
}

interface HistoryRecord {
  id: number;
  messages: { id: string; threadId: string }[];
  messagesAdded?: { message: { id: string; threadId: string; labelIds: string[] } }[];
  messagesDeleted?: { message: { id: string; threadId: string } }[];
  labelsAdded?: { message: { id: string; threadId: string; labelIds: string[] }; labelIds: string[] }[];
  labelsRemoved?: { message: { id: string; threadId: string; labelIds: string[] }; labelIds: string[] }[];
}

interface Mailbox {
  email: string;
  messages: Map<string, Message>;
  threads: Map<string, Set<string>>;
  /** RFC 5322 Message-ID → message id. */
  byRfcId: Map<string, string>;
  historyId: number;
  history: HistoryRecord[];
  /** Records below this id are gone: a startHistoryId below it is answered with 404. */
  oldestHistoryId: number;
}

export interface Throttle {
  status: 429 | 403;
  retryAfterSeconds: number;
  /** API calls to refuse (default 1). */
  calls?: number;
  /** Only calls whose path matches. */
  path?: RegExp;
}

export interface EmulatorOptions {
  clientId: string;
  clientSecret: string;
  /** Access token lifetime, seconds. */
  tokenLifetimeSeconds?: number;
}

const SCOPES = [
  'https://www.googleapis.com/auth/gmail.readonly',
  'https://www.googleapis.com/auth/gmail.send',
  'https://www.googleapis.com/auth/gmail.compose',
];

const hexId = () => randomBytes(8).toString('hex');

interface Keys {
  privateKey: CryptoKey;
  jwk: JWK;
}

function apiError(res: ServerResponse, status: number, reason: string, message: string, headers = {}) {
  const body = JSON.stringify({
    error: {
      code: status,
      message,
      errors: [{ message, domain: status === 429 || status === 403 ? 'usageLimits' : 'global', reason }],
      status:
        status === 404
          ? 'NOT_FOUND'
          : status === 401
            ? 'UNAUTHENTICATED'
            : status === 429
              ? 'RESOURCE_EXHAUSTED'
              : 'PERMISSION_DENIED',
    },
  });
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers }).end(body);
}

function json(res: ServerResponse, body: unknown, status = 200) {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const header = (m: Message, name: string) => m.headers.find(([n]) => n.toLowerCase() === name)?.[1];
const rfcId = (value: string | undefined) => value?.trim().replace(/^<|>$/g, '');

export class GmailEmulator {
  readonly url: string;
  readonly calls = new Map<string, number>();
  /** Every API call in order: method and route. */
  readonly log: string[] = [];
  readonly #server: Server;
  readonly #options: EmulatorOptions;
  readonly #mailboxes = new Map<string, Mailbox>();
  readonly #codes = new Map<string, { email: string; challenge: string; redirectUri: string }>();
  readonly #accessTokens = new Map<string, { email: string; expiresAt: number }>();
  readonly #refreshTokens = new Map<string, string>();
  readonly #throttles: Throttle[] = [];
  readonly #keys: Keys;
  #consentAs: string | undefined;

  private constructor(server: Server, url: string, options: EmulatorOptions, keys: Keys) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.#keys = keys;
  }

  static async start(options: EmulatorOptions): Promise<GmailEmulator> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'emulator-key', alg: 'RS256', use: 'sig' };
    let emulator: GmailEmulator | undefined;
    const server = createServer((req, res) => {
      emulator!.#handle(req, res).catch((error: Error) => {
        if (!res.headersSent) apiError(res, 500, 'backendError', error.message);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    emulator = new GmailEmulator(server, `http://127.0.0.1:${port}`, options, { privateKey, jwk });
    return emulator;
  }

  /** Settings for the product's Gmail client, pointed at this emulator. */
  settings(redirectUri: string) {
    return {
      clientId: this.#options.clientId,
      clientSecret: this.#options.clientSecret,
      redirectUri,
      authUrl: `${this.url}/o/oauth2/v2/auth`,
      tokenUrl: `${this.url}/token`,
      apiUrl: `${this.url}/`,
      timeoutMs: 10_000,
    };
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Scripting

  mailbox(email: string): Mailbox {
    let box = this.#mailboxes.get(email);
    if (!box) {
      box = {
        email,
        messages: new Map(),
        threads: new Map(),
        byRfcId: new Map(),
        historyId: 1000,
        history: [],
        oldestHistoryId: 1,
      };
      this.#mailboxes.set(email, box);
    }
    return box;
  }

  /** The mailbox the consent page signs in as. */
  consentAs(email: string): void {
    this.mailbox(email);
    this.#consentAs = email;
  }

  /**
   * Adds a message (raw RFC 5322). Its thread: `threadKey` (messages given the same key share a thread, as Gmail's
   * own threading would put them), else the thread of a message it replies to, else a new one.
   */
  deliver(
    email: string,
    raw: string,
    options: { labels: string[]; internalDate?: Date; threadKey?: string; threadId?: string },
  ): { id: string; threadId: string } {
    const box = this.mailbox(email);
    const headers = [...parseHeaderBlock(raw).entries()];
    const contentType = headers.find(([n]) => n === 'content-type')?.[1] ?? 'text/plain';
    const message: Message = {
      id: hexId(),
      threadId: '',
      labels: new Set(options.labels),
      headers: headers.map(([name, value]) => [
        name.replace(/(^|-)([a-z])/g, (_, d, c) => d + c.toUpperCase()),
        value,
      ]),
      internalDate: (options.internalDate ?? new Date()).getTime(),
      historyId: 0,
      mimeType: contentType.split(';')[0]!.trim(),
      snippet: raw.split(/\r?\n\r?\n/)[1]?.slice(0, 100) ?? '',
    };
    message.threadId =
      options.threadId && box.threads.has(options.threadId)
        ? options.threadId
        : this.#threadFor(box, message, options.threadKey);
    this.#add(box, message);
    return { id: message.id, threadId: message.threadId };
  }

  /** Removes a message for good (as after emptying the trash). */
  deleteMessage(email: string, id: string): void {
    const box = this.mailbox(email);
    const message = box.messages.get(id);
    if (!message) return;
    box.messages.delete(id);
    box.threads.get(message.threadId)?.delete(id);
    if (box.threads.get(message.threadId)?.size === 0) box.threads.delete(message.threadId);
    this.#record(box, { messagesDeleted: [{ message: { id, threadId: message.threadId } }] }, [message]);
  }

  /** The message ids of a mailbox with this RFC 5322 Message-ID. */
  findByMessageId(email: string, messageId: string): { id: string; threadId: string } | undefined {
    const id = this.mailbox(email).byRfcId.get(rfcId(messageId) ?? '');
    const message = id ? this.mailbox(email).messages.get(id) : undefined;
    return message ? { id: message.id, threadId: message.threadId } : undefined;
  }

  threadIds(email: string): string[] {
    return [...this.mailbox(email).threads.keys()];
  }

  /** The next API calls (matching `path`) are refused with 429/403 and a Retry-After. */
  throttle(throttle: Throttle): void {
    this.#throttles.push({ calls: 1, ...throttle });
  }

  /** Gmail keeps history for a limited time: after this, any stored history id is too old (404). */
  expireHistory(email: string): void {
    const box = this.mailbox(email);
    box.history = [];
    box.oldestHistoryId = box.historyId + 1;
  }

  /** The user removed the app's access: every token of the mailbox stops working. */
  revoke(email: string): void {
    for (const [token, owner] of this.#refreshTokens) if (owner === email) this.#refreshTokens.delete(token);
    for (const [token, t] of this.#accessTokens) if (t.email === email) this.#accessTokens.delete(token);
  }

  /** Access tokens expire now: the next call must refresh. */
  expireTokens(): void {
    this.#accessTokens.clear();
  }

  /** A Pub/Sub push token as Google signs it (OIDC, RS256), and the body it comes with. */
  async push(email: string, audience: string, serviceAccount = 'push@project.iam.gserviceaccount.com') {
    const token = await new SignJWT({ email: serviceAccount, email_verified: true })
      .setProtectedHeader({ alg: 'RS256', kid: 'emulator-key' })
      .setIssuer('https://accounts.google.com')
      .setAudience(audience)
      .setSubject('1234567890')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(this.#keys.privateKey);
    const data = Buffer.from(
      JSON.stringify({ emailAddress: email, historyId: this.mailbox(email).historyId }),
    ).toString('base64');
    return {
      authorization: `Bearer ${token}`,
      body: { message: { data, messageId: hexId() }, subscription: 'projects/p/subscriptions/s' },
    };
  }

  // ---------------------------------------------------------------------------------------------------------

  #threadFor(box: Mailbox, message: Message, threadKey: string | undefined): string {
    if (threadKey !== undefined) {
      const key = `key:${threadKey}`;
      const existing = box.byRfcId.get(key);
      if (existing) return existing;
      const threadId = hexId();
      box.byRfcId.set(key, threadId);
      return threadId;
    }
    const refs = `${header(message, 'in-reply-to') ?? ''} ${header(message, 'references') ?? ''}`.match(
      /<[^>]+>/g,
    );
    for (const ref of refs ?? []) {
      const parent = box.messages.get(box.byRfcId.get(rfcId(ref)!) ?? '');
      if (parent) return parent.threadId;
    }
    return hexId();
  }

  #add(box: Mailbox, message: Message): void {
    box.messages.set(message.id, message);
    let thread = box.threads.get(message.threadId);
    if (!thread) {
      thread = new Set();
      box.threads.set(message.threadId, thread);
    }
    thread.add(message.id);
    const id = rfcId(header(message, 'message-id'));
    if (id && !box.byRfcId.has(id)) box.byRfcId.set(id, message.id);
    this.#record(
      box,
      {
        messagesAdded: [
          { message: { id: message.id, threadId: message.threadId, labelIds: [...message.labels] } },
        ],
      },
      [message],
    );
  }

  #record(box: Mailbox, change: Omit<HistoryRecord, 'id' | 'messages'>, messages: Message[]): void {
    box.historyId++;
    for (const m of messages) m.historyId = box.historyId;
    box.history.push({
      id: box.historyId,
      messages: messages.map((m) => ({ id: m.id, threadId: m.threadId })),
      ...change,
    });
  }

  #count(route: string): void {
    this.calls.set(route, (this.calls.get(route) ?? 0) + 1);
    this.log.push(route);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    if (req.method === 'GET' && path === '/o/oauth2/v2/auth') return this.#consent(url, res);
    if (req.method === 'POST' && path === '/token') return this.#token(req, res);
    if (req.method === 'GET' && path === '/oauth2/v3/certs') return json(res, { keys: [this.#keys.jwk] });
    const api = /^\/gmail\/v1\/users\/([^/]+)\/(.+)$/.exec(path);
    if (!api) return apiError(res, 404, 'notFound', `No route ${path}`);
    const route = `${req.method} ${api[2]!.replace(/\/[0-9a-f]{16}$/, '/:id')}`;
    this.#count(route);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const session = token ? this.#accessTokens.get(token) : undefined;
    if (!session || session.expiresAt < Date.now()) {
      return apiError(res, 401, 'authError', 'Request had invalid authentication credentials.');
    }
    const throttle = this.#throttles.find((t) => !t.path || t.path.test(route));
    if (throttle) {
      throttle.calls = (throttle.calls ?? 1) - 1;
      if (throttle.calls <= 0) this.#throttles.splice(this.#throttles.indexOf(throttle), 1);
      const until = new Date(Date.now() + throttle.retryAfterSeconds * 1000).toISOString();
      return throttle.status === 429
        ? apiError(res, 429, 'rateLimitExceeded', 'Too many concurrent requests for user.', {
            'retry-after': String(throttle.retryAfterSeconds),
          })
        : apiError(res, 403, 'userRateLimitExceeded', `User-rate limit exceeded.  Retry after ${until}`);
    }
    const box = this.mailbox(session.email);
    const rest = api[2]!;
    const body = req.method === 'POST' ? await readBody(req) : '';
    if (req.method === 'GET' && rest === 'profile') return this.#profile(box, res);
    if (req.method === 'GET' && rest === 'threads') return this.#listThreads(box, url, res);
    if (req.method === 'GET' && rest.startsWith('threads/'))
      return this.#getThread(box, rest.slice(8), url, res);
    if (req.method === 'GET' && rest === 'messages') return this.#listMessages(box, url, res);
    if (req.method === 'GET' && rest.startsWith('messages/')) {
      const message = box.messages.get(rest.slice(9));
      if (!message) return apiError(res, 404, 'notFound', 'Requested entity was not found.');
      return json(res, this.#resource(message, url.searchParams.getAll('metadataHeaders')));
    }
    if (req.method === 'POST' && rest === 'messages/send')
      return this.#send(box, JSON.parse(body), res, ['SENT']);
    if (req.method === 'POST' && rest === 'drafts') {
      const draft = JSON.parse(body) as { message: { raw: string; threadId?: string } };
      return this.#send(box, draft.message, res, ['DRAFT']);
    }
    if (req.method === 'GET' && rest === 'history') return this.#history(box, url, res);
    if (req.method === 'POST' && rest === 'watch') {
      return json(res, { historyId: String(box.historyId), expiration: String(Date.now() + 7 * 86_400_000) });
    }
    return apiError(res, 404, 'notFound', `No route ${req.method} ${path}`);
  }

  #consent(url: URL, res: ServerResponse): void {
    const p = url.searchParams;
    const redirect = p.get('redirect_uri') ?? '';
    const scopes = (p.get('scope') ?? '').split(' ');
    const problems = [
      p.get('client_id') !== this.#options.clientId && 'unknown client_id',
      p.get('response_type') !== 'code' && 'response_type must be code',
      p.get('access_type') !== 'offline' && 'access_type must be offline',
      p.get('code_challenge_method') !== 'S256' && 'PKCE with S256 is required',
      !SCOPES.every((s) => scopes.includes(s)) && 'missing scopes',
      !this.#consentAs && 'no mailbox to consent as',
    ].filter(Boolean);
    if (problems.length > 0) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(problems.join('; '));
      return;
    }
    const code = `code-${hexId()}`;
    this.#codes.set(code, {
      email: this.#consentAs!,
      challenge: p.get('code_challenge') ?? '',
      redirectUri: redirect,
    });
    const target = new URL(redirect);
    target.searchParams.set('code', code);
    target.searchParams.set('state', p.get('state') ?? '');
    target.searchParams.set('scope', SCOPES.join(' '));
    res.writeHead(302, { location: target.toString() }).end();
  }

  async #token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#count('POST token');
    const form = new URLSearchParams(await readBody(req));
    const refused = (error: string, description: string) =>
      json(res, { error, error_description: description }, error === 'invalid_client' ? 401 : 400);
    if (
      form.get('client_id') !== this.#options.clientId ||
      form.get('client_secret') !== this.#options.clientSecret
    ) {
      return refused('invalid_client', 'The OAuth client was not found.');
    }
    let email: string | undefined;
    let refreshToken: string | undefined;
    if (form.get('grant_type') === 'authorization_code') {
      const grant = this.#codes.get(form.get('code') ?? '');
      this.#codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (!grant || grant.challenge !== challenge || grant.redirectUri !== form.get('redirect_uri')) {
        return refused('invalid_grant', 'Malformed auth code.');
      }
      email = grant.email;
      refreshToken = `refresh-${hexId()}`;
      this.#refreshTokens.set(refreshToken, email);
    } else if (form.get('grant_type') === 'refresh_token') {
      email = this.#refreshTokens.get(form.get('refresh_token') ?? '');
      if (!email) return refused('invalid_grant', 'Token has been expired or revoked.');
    } else {
      return refused('unsupported_grant_type', 'Invalid grant_type');
    }
    const lifetime = this.#options.tokenLifetimeSeconds ?? 3600;
    const accessToken = `access-${hexId()}`;
    this.#accessTokens.set(accessToken, { email, expiresAt: Date.now() + lifetime * 1000 });
    json(res, {
      access_token: accessToken,
      expires_in: lifetime,
      scope: SCOPES.join(' '),
      token_type: 'Bearer',
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
    });
  }

  #profile(box: Mailbox, res: ServerResponse): void {
    json(res, {
      emailAddress: box.email,
      messagesTotal: box.messages.size,
      threadsTotal: box.threads.size,
      historyId: String(box.historyId),
    });
  }

  /** Gmail search, the part the product uses: in:/label:, after:, newer_than:, rfc822msgid:. */
  #matches(m: Message, q: string): boolean {
    if (m.labels.has('TRASH') || m.labels.has('SPAM')) return false;
    for (const term of q.split(/\s+/).filter(Boolean)) {
      const [key, value = ''] = term.split(':', 2) as [string, string];
      const v = term.slice(key.length + 1);
      if (key === 'in' || key === 'label') {
        if (!m.labels.has(value.toUpperCase())) return false;
      } else if (key === 'after') {
        const after = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v.replaceAll('/', '-'));
        if (m.internalDate <= after) return false;
      } else if (key === 'newer_than') {
        const days = Number(/^(\d+)d$/.exec(v)?.[1] ?? 0);
        if (m.internalDate < Date.now() - days * 86_400_000) return false;
      } else if (key === 'rfc822msgid') {
        if (rfcId(header(m, 'message-id')) !== rfcId(v)) return false;
      }
    }
    return true;
  }

  #listThreads(box: Mailbox, url: URL, res: ServerResponse): void {
    const q = url.searchParams.get('q') ?? '';
    const max = Math.min(500, Number(url.searchParams.get('maxResults') ?? 100));
    const threads = [...box.threads.entries()]
      .map(([id, ids]) => {
        const messages = [...ids].map((i) => box.messages.get(i)!);
        return { id, messages, latest: Math.max(...messages.map((m) => m.internalDate)) };
      })
      .filter((t) => t.messages.some((m) => this.#matches(m, q)))
      // Newest first, as Gmail lists; ties by id. The page token is the last row's key (rows listed are skipped,
      // a thread that arrives meanwhile lands above and is left for history to report).
      .sort((a, b) => b.latest - a.latest || (a.id < b.id ? -1 : 1));
    const token = url.searchParams.get('pageToken');
    const after = token
      ? (JSON.parse(Buffer.from(token, 'base64url').toString()) as [number, string])
      : undefined;
    const start = after
      ? threads.findIndex((t) => t.latest < after[0] || (t.latest === after[0] && t.id > after[1]))
      : 0;
    const page = start < 0 ? [] : threads.slice(start, start + max);
    const last = page.at(-1);
    const more = start >= 0 && start + max < threads.length;
    json(res, {
      threads: page.map((t) => ({
        id: t.id,
        snippet: t.messages[0]!.snippet,
        historyId: String(box.historyId),
      })),
      ...(more && last
        ? { nextPageToken: Buffer.from(JSON.stringify([last.latest, last.id])).toString('base64url') }
        : {}),
      resultSizeEstimate: threads.length,
    });
  }

  #resource(m: Message, metadataHeaders: string[]) {
    const wanted = new Set(metadataHeaders.map((h) => h.toLowerCase()));
    return {
      id: m.id,
      threadId: m.threadId,
      labelIds: [...m.labels],
      snippet: m.snippet,
      historyId: String(m.historyId),
      internalDate: String(m.internalDate),
      sizeEstimate: 1000,
      payload: {
        mimeType: m.mimeType,
        headers: m.headers
          .filter(([name]) => wanted.size === 0 || wanted.has(name.toLowerCase()))
          .map(([name, value]) => ({ name, value })),
      },
    };
  }

  #getThread(box: Mailbox, id: string, url: URL, res: ServerResponse): void {
    const ids = box.threads.get(id);
    if (!ids) {
      apiError(res, 404, 'notFound', 'Requested entity was not found.');
      return;
    }
    const messages = [...ids]
      .map((i) => box.messages.get(i)!)
      .sort((a, b) => a.internalDate - b.internalDate);
    json(res, {
      id,
      historyId: String(Math.max(...messages.map((m) => m.historyId))),
      messages: messages.map((m) => this.#resource(m, url.searchParams.getAll('metadataHeaders'))),
    });
  }

  #listMessages(box: Mailbox, url: URL, res: ServerResponse): void {
    const q = url.searchParams.get('q') ?? '';
    const max = Number(url.searchParams.get('maxResults') ?? 100);
    const found = [...box.messages.values()].filter((m) => this.#matches(m, q)).slice(0, max);
    json(res, {
      messages: found.map((m) => ({ id: m.id, threadId: m.threadId })),
      resultSizeEstimate: found.length,
    });
  }

  async #send(box: Mailbox, body: { raw: string; threadId?: string }, res: ServerResponse, labels: string[]) {
    const raw = Buffer.from(body.raw, 'base64url').toString('utf8');
    // A message the client composed must parse as one (mailparser reads it as a mail client would).
    const parsed = await simpleParser(raw);
    if (!parsed.messageId || !parsed.from) {
      return apiError(res, 400, 'invalidArgument', 'Invalid To header / missing Message-ID');
    }
    if (body.threadId && !box.threads.has(body.threadId)) {
      return apiError(res, 404, 'notFound', 'Requested entity was not found.');
    }
    // The thread the client named (Gmail puts the message there when its headers agree), else by its headers.
    const sent = this.deliver(box.email, raw, {
      labels,
      ...(body.threadId ? { threadId: body.threadId } : {}),
    });
    if (labels.includes('DRAFT')) {
      return json(res, {
        id: `r${hexId()}`,
        message: { id: sent.id, threadId: sent.threadId, labelIds: labels },
      });
    }
    json(res, { id: sent.id, threadId: sent.threadId, labelIds: labels });
  }

  #history(box: Mailbox, url: URL, res: ServerResponse): void {
    const start = Number(url.searchParams.get('startHistoryId') ?? 'NaN');
    if (!Number.isFinite(start)) {
      apiError(res, 400, 'invalidArgument', 'Invalid startHistoryId');
      return;
    }
    if (start < box.oldestHistoryId - 1) {
      apiError(res, 404, 'notFound', 'Requested entity was not found.');
      return;
    }
    const max = Math.min(500, Number(url.searchParams.get('maxResults') ?? 100));
    const types = new Set(url.searchParams.getAll('historyTypes'));
    const token = url.searchParams.get('pageToken');
    const from = token ? Number(Buffer.from(token, 'base64url').toString()) : start;
    const records = box.history
      .filter((r) => r.id > from)
      .map((r) => {
        if (types.size === 0) return r;
        const keep: HistoryRecord = { id: r.id, messages: r.messages };
        if (types.has('messageAdded') && r.messagesAdded) keep.messagesAdded = r.messagesAdded;
        if (types.has('messageDeleted') && r.messagesDeleted) keep.messagesDeleted = r.messagesDeleted;
        if (types.has('labelAdded') && r.labelsAdded) keep.labelsAdded = r.labelsAdded;
        if (types.has('labelRemoved') && r.labelsRemoved) keep.labelsRemoved = r.labelsRemoved;
        return keep;
      });
    const page = records.slice(0, max);
    const more = records.length > max;
    json(res, {
      ...(page.length > 0 ? { history: page } : {}),
      ...(more ? { nextPageToken: Buffer.from(String(page.at(-1)!.id)).toString('base64url') } : {}),
      historyId: String(box.historyId),
    });
  }
}
