/**
 * The Gmail boundary's one error parser: Gaxios errors (the Gmail API and Google's OAuth token endpoint) to the
 * product's MAIL_* codes, with the wait a rate limit asks for (Retry-After in seconds or as a date, or the
 * "Retry after <date>" Gmail writes into 403 messages). Errors it does not recognise pass through unchanged.
 */
import { AppError } from '../../domain/errors.ts';

interface GaxiosLike {
  message?: string;
  status?: number;
  code?: string | number;
  name?: string;
  config?: { url?: string | URL };
  response?: {
    status?: number;
    data?: unknown;
    headers?: { get?: (name: string) => string | null } | Record<string, string | undefined>;
  };
}

const RATE_REASONS = new Set([
  'rateLimitExceeded',
  'userRateLimitExceeded',
  'quotaExceeded',
  'concurrentLimitExceeded',
  'dailyLimitExceeded',
  'backendError429',
]);
const AUTH_REASONS = new Set(['insufficientPermissions', 'authError', 'forbidden', 'domainPolicy']);
const NETWORK = /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|UND_ERR_\w+)$/;

function header(e: GaxiosLike, name: string): string | undefined {
  const headers = e.response?.headers;
  if (!headers) return undefined;
  if (typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const record = headers as Record<string, string | undefined>;
  return record[name] ?? record[name.toLowerCase()];
}

/** Seconds to wait, from Retry-After (seconds or an HTTP date) or a "Retry after <ISO date>" message. */
export function retryAfterSeconds(
  value: string | undefined,
  message: string,
  nowMs: number,
): number | undefined {
  if (value !== undefined && value.trim() !== '') {
    if (/^\d+$/.test(value.trim())) return Math.max(0, Number(value.trim()));
    const at = Date.parse(value);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  const inMessage = /retry after (\d{4}-\d{2}-\d{2}T[\d:.]+Z)/i.exec(message)?.[1];
  if (inMessage) return Math.max(0, Math.ceil((Date.parse(inMessage) - nowMs) / 1000));
  return undefined;
}

export function parseGmailError(error: unknown, nowMs = Date.now()): unknown {
  if (error instanceof AppError) return error;
  if (error === null || typeof error !== 'object') return error;
  const e = error as GaxiosLike;
  const status = e.response?.status ?? e.status;
  const data = e.response?.data as
    | {
        error?: string | { message?: string; errors?: { reason?: string }[]; status?: string };
        error_description?: string;
      }
    | undefined;
  const apiError = typeof data?.error === 'object' ? data.error : undefined;
  const oauthError = typeof data?.error === 'string' ? data.error : undefined;
  const reason = apiError?.errors?.[0]?.reason;
  const message = (apiError?.message ?? data?.error_description ?? oauthError ?? e.message ?? '').slice(
    0,
    300,
  );
  const url = String(e.config?.url ?? '');
  const wait = retryAfterSeconds(header(e, 'retry-after'), message, nowMs);

  if (oauthError === 'invalid_grant' || oauthError === 'unauthorized_client' || status === 401) {
    return new AppError(
      'MAIL_AUTH_REVOKED',
      `Google no longer accepts this account's authorization: ${message}`,
      {
        cause: error,
      },
    );
  }
  if (status === 429 || (status === 403 && reason !== undefined && RATE_REASONS.has(reason))) {
    return new AppError('MAIL_RATE_LIMITED', `Gmail rate limit: ${message}`, {
      cause: error,
      retryAfter: wait ?? (status === 429 ? 30 : 60),
    });
  }
  if (status === 403 && (reason === undefined || AUTH_REASONS.has(reason))) {
    return new AppError('MAIL_AUTH_REVOKED', `Gmail refused access: ${message}`, { cause: error });
  }
  if (
    (status === 404 || (status === 400 && /starthistoryid/i.test(message))) &&
    /\/history(\?|$)/.test(url)
  ) {
    return new AppError('MAIL_CURSOR_EXPIRED', 'The Gmail history id is too old; a full sync is needed', {
      cause: error,
    });
  }
  if (status === 404)
    return new AppError('MAIL_NOT_FOUND', `Not found in Gmail: ${message}`, { cause: error });
  if (
    status === 408 ||
    (status !== undefined && status >= 500) ||
    (status === undefined &&
      (NETWORK.test(String(e.code ?? '')) || e.name === 'AbortError' || e.name === 'TimeoutError'))
  ) {
    return new AppError('MAIL_TEMPORARY', `Gmail is unavailable for now: ${message}`, {
      cause: error,
      retryAfter: wait ?? 30,
    });
  }
  if (oauthError !== undefined || (status !== undefined && status >= 400)) {
    return new AppError('MAIL_PERMANENT', `Gmail refused the request: ${message}`, { cause: error });
  }
  return error;
}
