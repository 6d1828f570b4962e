import { describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.ts';
import { parseImapError } from './parse-imap-error.ts';

const err = (message: string, props: Record<string, unknown>) => Object.assign(new Error(message), props);

describe('parseImapError', () => {
  it.each<[string, unknown, string, number | undefined]>([
    [
      'imapflow login refused',
      err('Command failed', { authenticationFailed: true, responseText: 'Authentication failed.' }),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      '[AUTHENTICATIONFAILED]',
      err('Command failed', { serverResponseCode: 'AUTHENTICATIONFAILED' }),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      '[EXPIRED] password',
      err('Command failed', { serverResponseCode: 'EXPIRED' }),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      'SMTP 535',
      err('Invalid login: 535 5.7.8 Error: authentication failed', { code: 'EAUTH', responseCode: 535 }),
      'MAIL_AUTH_REVOKED',
      undefined,
    ],
    [
      'imapflow throttle',
      err('Throttled', { code: 'ETHROTTLE', throttleReset: 12_300 }),
      'MAIL_RATE_LIMITED',
      13,
    ],
    ['[LIMIT]', err('Command failed', { serverResponseCode: 'LIMIT' }), 'MAIL_RATE_LIMITED', 60],
    [
      'Gmail too many connections',
      err('Command failed', { responseText: 'Too many simultaneous connections. (Failure)' }),
      'MAIL_RATE_LIMITED',
      60,
    ],
    [
      'SMTP 421 rate',
      err('421 4.7.0 Try again later, closing connection.', { responseCode: 421 }),
      'MAIL_RATE_LIMITED',
      60,
    ],
    [
      'connection refused',
      err('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED' }),
      'MAIL_TEMPORARY',
      60,
    ],
    ['connection closed', err('Connection not available', { code: 'NoConnection' }), 'MAIL_TEMPORARY', 60],
    ['greeting timeout', err('Greeting never received', { code: 'GREETING_TIMEOUT' }), 'MAIL_TEMPORARY', 60],
    ['[UNAVAILABLE]', err('Command failed', { serverResponseCode: 'UNAVAILABLE' }), 'MAIL_TEMPORARY', 60],
    ['SMTP 451', err('451 4.3.0 temporary', { responseCode: 451 }), 'MAIL_TEMPORARY', 60],
    [
      'TLS failure',
      err('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'MAIL_PERMANENT',
      undefined,
    ],
    [
      'unknown host',
      err('getaddrinfo ENOTFOUND imap.nowhere', { code: 'ENOTFOUND' }),
      'MAIL_PERMANENT',
      undefined,
    ],
    [
      '[NONEXISTENT] folder',
      err('Command failed', { serverResponseCode: 'NONEXISTENT', responseStatus: 'NO' }),
      'MAIL_PERMANENT',
      undefined,
    ],
    ['SMTP 550', err('550 5.1.1 user unknown', { responseCode: 550 }), 'MAIL_PERMANENT', undefined],
  ])('%s → %s', (_name, error, code, retryAfter) => {
    const parsed = parseImapError(error);
    expect(parsed).toBeInstanceOf(AppError);
    expect((parsed as AppError).code).toBe(code);
    expect((parsed as AppError).retryAfter).toBe(retryAfter);
    expect((parsed as AppError).cause).toBe(error);
  });

  it('passes AppErrors and unknown errors through', () => {
    const app = new AppError('MAIL_PERMANENT', 'x');
    expect(parseImapError(app)).toBe(app);
    const bug = new TypeError('undefined is not a function');
    expect(parseImapError(bug)).toBe(bug);
    expect(parseImapError('text')).toBe('text');
  });

  it('never repeats a password given in the error', () => {
    const parsed = parseImapError(err('Command failed', { authenticationFailed: true })) as AppError;
    expect(parsed.message).not.toMatch(/pass/i);
  });
});
