import { describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.ts';
import { parseGmailError, retryAfterSeconds } from './parse-gmail-error.ts';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const API = 'https://gmail.googleapis.com/gmail/v1/users/me';

function gaxios(
  status: number | undefined,
  data: unknown,
  opts: { url?: string; headers?: Record<string, string>; code?: string } = {},
) {
  const headers = new Headers(opts.headers ?? {});
  return Object.assign(new Error(`Request failed with status code ${status}`), {
    status,
    code: opts.code ?? (status === undefined ? undefined : String(status)),
    config: { url: opts.url ?? `${API}/threads` },
    response: status === undefined ? undefined : { status, data, headers },
  });
}
const apiError = (code: number, reason: string, message = 'message') => ({
  error: { code, message, errors: [{ message, domain: 'usageLimits', reason }], status: 'X' },
});

describe('parseGmailError', () => {
  it.each<[string, unknown, string, number | undefined]>([
    [
      'refresh refused: invalid_grant',
      gaxios(
        400,
        { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
        { url: 'https://oauth2.googleapis.com/token' },
      ),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      '401 after a refresh',
      gaxios(401, { error: { code: 401, message: 'Request had invalid authentication credentials.' } }),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      '403 insufficient permissions',
      gaxios(403, apiError(403, 'insufficientPermissions')),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      '429 with Retry-After seconds',
      gaxios(429, apiError(429, 'rateLimitExceeded'), { headers: { 'retry-after': '7' } }),
      'MAIL_RATE_LIMITED',
      7,
    ],
    ['429 without Retry-After', gaxios(429, apiError(429, 'rateLimitExceeded')), 'MAIL_RATE_LIMITED', 30],
    [
      '403 userRateLimitExceeded with a date in the message',
      gaxios(
        403,
        apiError(
          403,
          'userRateLimitExceeded',
          'User-rate limit exceeded.  Retry after 2026-06-01T12:00:42.000Z',
        ),
      ),
      'MAIL_RATE_LIMITED',
      42,
    ],
    [
      '403 rate limit with an HTTP-date Retry-After',
      gaxios(403, apiError(403, 'rateLimitExceeded'), {
        headers: { 'retry-after': new Date(NOW + 90_000).toUTCString() },
      }),
      'MAIL_RATE_LIMITED',
      90,
    ],
    [
      '404 on history: expired cursor',
      gaxios(404, apiError(404, 'notFound', 'Requested entity was not found.'), {
        url: `${API}/history?startHistoryId=1`,
      }),
      'MAIL_CURSOR_EXPIRED',
      undefined,
    ],
    ['404 on a thread', gaxios(404, apiError(404, 'notFound')), 'MAIL_NOT_FOUND', undefined],
    ['503', gaxios(503, apiError(503, 'backendError')), 'MAIL_TEMPORARY', 30],
    ['500 with Retry-After', gaxios(500, {}, { headers: { 'retry-after': '5' } }), 'MAIL_TEMPORARY', 5],
    [
      'connection reset (no response)',
      gaxios(undefined, undefined, { code: 'ECONNRESET' }),
      'MAIL_TEMPORARY',
      30,
    ],
    ['400 bad request', gaxios(400, apiError(400, 'invalidArgument')), 'MAIL_PERMANENT', undefined],
    ['OAuth invalid_client', gaxios(401, { error: 'invalid_client' }), 'MAIL_AUTH_REVOKED', undefined],
  ])('%s → %s', (_name, error, code, retryAfter) => {
    const parsed = parseGmailError(error, NOW) as AppError;
    expect(parsed).toBeInstanceOf(AppError);
    expect(parsed.code).toBe(code);
    expect(parsed.retryAfter).toBe(retryAfter);
    expect(parsed.cause).toBe(error);
  });

  it('passes AppErrors and other errors through', () => {
    const app = new AppError('MAIL_TEMPORARY', 'x');
    expect(parseGmailError(app)).toBe(app);
    const bug = new RangeError('bug');
    expect(parseGmailError(bug)).toBe(bug);
  });
});

describe('retryAfterSeconds', () => {
  it.each<[string | undefined, string, number | undefined]>([
    ['12', '', 12],
    [' 0 ', '', 0],
    [new Date(NOW + 5_000).toUTCString(), '', 5],
    [new Date(NOW - 5_000).toUTCString(), '', 0],
    [undefined, 'Retry after 2026-06-01T12:01:00.000Z', 60],
    [undefined, 'nothing here', undefined],
    ['soon', '', undefined],
  ])('%j / %j → %j', (value, message, seconds) => {
    expect(retryAfterSeconds(value, message, NOW)).toBe(seconds);
  });
});
