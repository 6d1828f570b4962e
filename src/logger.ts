/**
 * pino, configured once: JSON lines (pretty in a terminal unless LOG_FORMAT says otherwise), levels from LOG_LEVEL,
 * and secrets redacted wherever they could appear in a logged object.
 */
import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'secret',
  'apiKey',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.secret',
  '*.apiKey',
  '*.authorization',
];

const CENSOR = '[redacted]';
/** Field names ending like these hold secrets, whatever their case or separators (accessToken, JWT_SECRET). */
const SECRET_FIELD = /(password|passwd|secret|token|apikey|authorization|cookie)$/;
const isSecretField = (key: string) => SECRET_FIELD.test(key.toLowerCase().replace(/[-_]/g, ''));

/**
 * The redact paths above reach fixed depths only; this censors secret fields at any depth (nested accounts,
 * arrays, an HTTP client error's request headers). Copy-on-write: the caller's objects are never changed, and an
 * object without secrets is returned as is.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 10 || ArrayBuffer.isView(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const field = (value as Record<string, unknown>)[key];
    const next = field != null && isSecretField(key) ? CENSOR : redactSecrets(field, depth + 1);
    if (next === field) continue;
    copy ??= copyOf(value);
    copy[key] = next;
  }
  return copy ?? value;
}

function copyOf(value: object): Record<string, unknown> {
  if (Array.isArray(value)) return [...value] as unknown as Record<string, unknown>;
  if (value instanceof Error) {
    // Keeps the prototype and the non-enumerable message and stack, so pino still serializes it as an error.
    return Object.assign(Object.create(Object.getPrototypeOf(value)), value, {
      message: value.message,
      stack: value.stack,
      ...(value.cause === undefined ? {} : { cause: value.cause }),
    });
  }
  return { ...value };
}

export interface LoggerOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const base = {
    level: options.level,
    base: { service: 'thread-tracker' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label: string) => ({ level: label }),
      log: (object: Record<string, unknown>) => redactSecrets(object) as Record<string, unknown>,
    },
  };
  if (options.destination) return pino(base, options.destination);
  if (pretty) {
    return pino({
      ...base,
      formatters: { log: base.formatters.log },
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return pino(base);
}
