/**
 * The environment, parsed once with zod, frozen. Fails fast with one message that lists every problem.
 * Any variable can be given as <NAME>_FILE instead (a path whose contents are the value), for secrets.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { emailTypeRulesSchema } from './domain/detection.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A number of days, or `off`. */
const daysOrOff = z
  .union([z.literal('off'), int(1, 36_500)], { error: 'must be a whole number of days (1 to 36500) or off' })
  .transform((v) => (v === 'off' ? null : v));
const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const baseSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  HOST: z.string().default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  DATA_DIR: z.string().default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),

  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection string')
      .optional(),
  ),
  DATABASE_READ_URL: optionalString,
  DB_POOL_SIZE: int(1, 500).default(10),
  DB_QUERY_TIMEOUT_MS: int(0, 600_000).default(5_000),
  DB_CONNECT_TIMEOUT_MS: int(100, 60_000).default(1_000),
  DB_RETRY_ATTEMPTS: int(0, 10).default(3),
  DB_PREPARED_STATEMENTS: bool.optional(),
  MIGRATE_ON_START: bool.default(true),
  DB_HEARTBEAT_INTERVAL_MS: int(50, 60_000).default(250),
  DB_HEARTBEAT_TIMEOUT_MS: int(50, 60_000).default(500),
  DB_OUTAGE_WRITES: z.enum(['journal', 'reject']).optional(),
  JOURNAL_MAX_BYTES: int(4096, 10 * 1024 ** 3).default(64 * 1024 * 1024),
  JOURNAL_MAX_AGE_S: int(1, 30 * 86_400).default(86_400),
  STALE_READ_MAX_AGE_S: int(0, 30 * 86_400).default(3_600),
  DB_SLOW_QUERY_MS: int(0, 600_000).default(200),

  REDIS_URL: optionalString.pipe(
    z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
  ),
  REDIS_COMMAND_TIMEOUT_MS: int(10, 10_000).default(100),
  CACHE_L1_ENABLED: bool.default(true),
  CACHE_DEGRADED_TTL: int(1, 300).default(3),
  CACHE_WARM_THREADS: int(0, 1_000_000).default(2000),
  CACHE_WARM_USERS: int(0, 100_000).default(100),
  CACHE_WARM_BUDGET_MS: int(0, 600_000).default(10_000),
  THREAD_CACHE_TTL: int(1, 86_400).default(300),
  THREAD_BATCH_SIZE: int(1, 1_000).default(100),
  CACHE_MAX_SIZE: int(10, 10_000_000).default(1000),
  CACHE_CLEANUP_INTERVAL_MS: int(0, 3_600_000).default(60_000),

  AUTH_MODE: z.enum(['local', 'jwt']).optional(),
  LOCAL_USER_ID: z.string().min(1).max(255).default('me'),
  JWT_SECRET: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.url().optional()),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  JWT_ALGORITHMS: optionalString,
  JWT_ADMIN_CLAIM: z.string().default('role'),
  JWT_ADMIN_VALUE: z.string().default('admin'),
  SUPABASE_URL: optionalString.pipe(z.url().optional()),
  SUPABASE_ANON_KEY: optionalString,
  SUPABASE_SERVICE_ROLE_KEY: optionalString,
  SUPABASE_JWT_SECRET: optionalString,

  METRICS_ENABLED: bool.default(true),
  CLEANUP_INTERVAL_S: int(0, 30 * 86_400).default(86_400),
  CLEANUP_PURGE_DELETED_AFTER_DAYS: daysOrOff.default(30),
  EVENT_RETENTION_DAYS: daysOrOff.default(null),
  BODY_LIMIT_BYTES: int(1024, 10_485_760).default(102_400),
  TRUST_PROXY: bool.default(false),
  WEB_DIST_DIR: z.string().default('web/dist'),
  SHUTDOWN_TIMEOUT_MS: int(0, 120_000).default(10_000),

  // Mail accounts and sync (README: Mail accounts and sync).
  MAIL_SYNC_INTERVAL_S: int(0, 86_400).default(60),
  MAIL_SYNC_INITIAL_DAYS: int(1, 3650).default(90),
  MAIL_SYNC_PAGE_SIZE: int(1, 500).default(100),
  MAIL_SYNC_CONCURRENCY: int(1, 50).default(8),
  MAIL_SYNC_MAX_PARALLEL: int(1, 100).default(2),
  MAIL_SYNC_MAX_INLINE_WAIT_S: int(0, 600).default(30),
  MAIL_EMAIL_TYPE_RULES: optionalString.pipe(
    z
      .string()
      .transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON array of rules' });
          return z.NEVER;
        }
      })
      .pipe(emailTypeRulesSchema)
      .optional(),
  ),
  TOKEN_ENCRYPTION_KEY: optionalString.pipe(
    z
      .string()
      .refine(
        (v) =>
          /^[0-9a-fA-F]{64}$/.test(v) ||
          (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32),
        'must be 32 bytes as base64 or 64 hex digits (openssl rand -base64 32)',
      )
      .optional(),
  ),
  GOOGLE_CLIENT_ID: optionalString,
  GOOGLE_CLIENT_SECRET: optionalString,
  GOOGLE_REDIRECT_URI: optionalString.pipe(z.url().optional()),
  GOOGLE_AUTH_URL: z.url().default('https://accounts.google.com/o/oauth2/v2/auth'),
  GOOGLE_TOKEN_URL: z.url().default('https://oauth2.googleapis.com/token'),
  GMAIL_API_URL: z.url().default('https://gmail.googleapis.com/'),
  GMAIL_PUSH_TOPIC: optionalString,
  GMAIL_PUSH_AUDIENCE: optionalString,
  GMAIL_PUSH_SERVICE_ACCOUNT: optionalString,
  GOOGLE_JWKS_URL: z.url().default('https://www.googleapis.com/oauth2/v3/certs'),

  // Follow-ups (README: Follow-ups).
  FOLLOWUP_WORKER: bool.default(true),
  FOLLOWUP_POLL_INTERVAL_MS: int(50, 3_600_000).default(30_000),
  FOLLOWUP_LEASE_S: int(1, 3600).default(300),
  FOLLOWUP_CONCURRENCY: int(1, 100).default(4),
  FOLLOWUP_MAX_ATTEMPTS: int(1, 100).default(8),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  OPENAI_MODEL: z.string().trim().min(1).default('gpt-4o-mini'),
  OPENAI_TIMEOUT_MS: int(1000, 600_000).default(20_000),
  OPENAI_MAX_RETRIES: int(0, 10).default(3),
  PUBLIC_BASE_URL: optionalString.pipe(z.url().optional()),
  OPEN_TRACKING_GRACE_S: int(0, 3600).default(60),
});

// `when` runs the cross-field checks even when a field failed, so one message lists every problem.
const schema = baseSchema.superRefine(
  (env, ctx) => {
    const authMode = env.AUTH_MODE ?? defaultAuthMode(env);
    if (authMode === 'jwt') {
      const hasKey = env.JWT_SECRET || env.SUPABASE_JWT_SECRET || env.JWT_JWKS_URL || env.SUPABASE_URL;
      if (!hasKey) {
        ctx.addIssue({
          code: 'custom',
          path: ['AUTH_MODE'],
          message: 'jwt mode needs JWT_SECRET, SUPABASE_JWT_SECRET, JWT_JWKS_URL or SUPABASE_URL',
        });
      }
      for (const name of ['JWT_SECRET', 'SUPABASE_JWT_SECRET'] as const) {
        const secret = env[name];
        if (typeof secret === 'string' && secret && Buffer.byteLength(secret) < 32) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'must be at least 32 bytes for HS256' });
        }
      }
    }
    // A queued write is recognised as applied by its events; events must outlive the journal's oldest write.
    if (
      typeof env.EVENT_RETENTION_DAYS === 'number' &&
      env.EVENT_RETENTION_DAYS >= 1 &&
      typeof env.JOURNAL_MAX_AGE_S === 'number' &&
      env.EVENT_RETENTION_DAYS * 86_400 < env.JOURNAL_MAX_AGE_S
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['EVENT_RETENTION_DAYS'],
        message: `must keep events at least as long as JOURNAL_MAX_AGE_S (${env.JOURNAL_MAX_AGE_S} s)`,
      });
    }
    if (Boolean(env.GOOGLE_CLIENT_ID) !== Boolean(env.GOOGLE_CLIENT_SECRET)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.GOOGLE_CLIENT_ID ? 'GOOGLE_CLIENT_SECRET' : 'GOOGLE_CLIENT_ID'],
        message: 'Gmail needs both GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET',
      });
    }
    if (env.GMAIL_PUSH_TOPIC && !env.GMAIL_PUSH_AUDIENCE) {
      ctx.addIssue({
        code: 'custom',
        path: ['GMAIL_PUSH_AUDIENCE'],
        message: 'Gmail push needs the audience its push tokens are signed for',
      });
    }
    if (authMode === 'local' && !isLoopback(env.HOST)) {
      ctx.addIssue({
        code: 'custom',
        path: ['HOST'],
        message: `local mode (no authentication) only listens on a loopback address, not ${env.HOST}; set AUTH_MODE=jwt to serve other hosts`,
      });
    }
  },
  { when: () => true },
);

function defaultAuthMode(env: {
  JWT_SECRET?: string | undefined;
  SUPABASE_JWT_SECRET?: string | undefined;
  JWT_JWKS_URL?: string | undefined;
  SUPABASE_URL?: string | undefined;
}): 'local' | 'jwt' {
  return env.JWT_SECRET || env.SUPABASE_JWT_SECRET || env.JWT_JWKS_URL || env.SUPABASE_URL ? 'jwt' : 'local';
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

export type RawConfig = z.output<typeof schema>;

const KNOWN_VARIABLES = new Set(Object.keys(baseSchema.shape));

export interface Config extends RawConfig {
  authMode: 'local' | 'jwt';
  dataDir: string;
  database: { engine: 'pglite' } | { engine: 'postgres'; url: string };
  jwtAlgorithms: string[];
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `<NAME>_FILE` variables into `<NAME>` (the file wins only when NAME itself is unset). */
function resolveFileVariables(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const [name, path] of Object.entries(env)) {
    if (!name.endsWith('_FILE') || !path) continue;
    const target = name.slice(0, -'_FILE'.length);
    if (!KNOWN_VARIABLES.has(target)) continue;
    if (out[target] !== undefined && out[target] !== '') continue;
    try {
      out[target] = readFileSync(path, 'utf8').trim();
    } catch (error) {
      throw new ConfigError([`${name}: cannot read ${path} (${(error as Error).message})`]);
    }
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const parsed = schema.safeParse(resolveFileVariables(env));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`),
    );
  }
  const raw = parsed.data;
  const authMode = raw.AUTH_MODE ?? defaultAuthMode(raw);
  const config: Config = {
    ...raw,
    authMode,
    dataDir: resolve(raw.DATA_DIR),
    database: raw.DATABASE_URL ? { engine: 'postgres', url: raw.DATABASE_URL } : { engine: 'pglite' },
    jwtAlgorithms: raw.JWT_ALGORITHMS
      ? raw.JWT_ALGORITHMS.split(',').map((a) => a.trim())
      : [
          ...(raw.JWT_SECRET || raw.SUPABASE_JWT_SECRET ? ['HS256'] : []),
          ...(raw.JWT_JWKS_URL || raw.SUPABASE_URL ? ['RS256', 'ES256'] : []),
        ],
  };
  return Object.freeze(config);
}
