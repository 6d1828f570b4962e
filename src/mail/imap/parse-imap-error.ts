/**
 * The IMAP / SMTP boundary's one error parser: imapflow, nodemailer and socket errors to the product's MAIL_* codes.
 * Errors it does not recognise (a defect, not the server) pass through unchanged.
 */
import { AppError } from '../../domain/errors.ts';

interface MailLikeError {
  message?: string;
  code?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  serverResponseCode?: string;
  responseStatus?: string;
  responseText?: string;
  /** imapflow ETHROTTLE: the back-off the server asked for, in ms. */
  throttleReset?: number;
  /** nodemailer: the SMTP reply code and text. */
  responseCode?: number;
  response?: unknown;
}

const AUTH_CODES = new Set(['AUTHENTICATIONFAILED', 'AUTHORIZATIONFAILED', 'EXPIRED', 'PRIVACYREQUIRED']);
const TEMPORARY_CODES = new Set(['UNAVAILABLE', 'INUSE', 'SERVERBUG', 'CONTACTADMIN']);
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ESOCKET',
  'ECONNECTION',
  'NoConnection',
  'EConnectionClosed',
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'UPGRADE_TIMEOUT',
  'ETIMEOUT',
  'PollFailed',
  'StateLogout',
]);
const BUSY =
  /too many (simultaneous |concurrent )?(connections|logins|requests|commands)|rate limit|throttl|try again later|slow down/i;

function text(e: MailLikeError): string {
  const response = typeof e.response === 'string' ? e.response : '';
  return [e.responseText, response, e.message].filter(Boolean).join(' ').slice(0, 300);
}

export function parseImapError(error: unknown, defaultRetryAfterSeconds = 60): unknown {
  if (error instanceof AppError) return error;
  if (error === null || typeof error !== 'object') return error;
  const e = error as MailLikeError;
  const detail = text(e);
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const serverCode = e.serverResponseCode?.toUpperCase();

  if (
    e.authenticationFailed === true ||
    (serverCode !== undefined && AUTH_CODES.has(serverCode)) ||
    e.code === 'EAUTH' ||
    responseCode === 535 ||
    responseCode === 534 ||
    responseCode === 530
  ) {
    return new AppError('MAIL_AUTH_REVOKED', `The mail server refused the credentials: ${detail}`, {
      cause: error,
    });
  }
  if (e.code === 'ETHROTTLE' || serverCode === 'LIMIT' || serverCode === 'THROTTLED' || BUSY.test(detail)) {
    const retryAfter =
      typeof e.throttleReset === 'number' && e.throttleReset > 0
        ? Math.ceil(e.throttleReset / 1000)
        : defaultRetryAfterSeconds;
    return new AppError('MAIL_RATE_LIMITED', `The mail server asks to slow down: ${detail}`, {
      cause: error,
      retryAfter,
    });
  }
  if (e.tlsFailed === true || /^(CERT_|ERR_TLS|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_VERIFY)/.test(e.code ?? '')) {
    return new AppError('MAIL_PERMANENT', `TLS with the mail server failed: ${detail}`, { cause: error });
  }
  if (e.code === 'ENOTFOUND') {
    return new AppError('MAIL_PERMANENT', `The mail server's host name does not resolve: ${detail}`, {
      cause: error,
    });
  }
  if (
    (e.code !== undefined && NETWORK.has(e.code)) ||
    (serverCode !== undefined && TEMPORARY_CODES.has(serverCode)) ||
    (responseCode !== undefined && responseCode >= 400 && responseCode < 500)
  ) {
    return new AppError('MAIL_TEMPORARY', `The mail server is unavailable for now: ${detail}`, {
      cause: error,
      retryAfter: defaultRetryAfterSeconds,
    });
  }
  if (
    serverCode !== undefined ||
    e.responseStatus === 'NO' ||
    e.responseStatus === 'BAD' ||
    (responseCode !== undefined && responseCode >= 500) ||
    e.code === 'EENVELOPE' ||
    e.code === 'EMESSAGE'
  ) {
    return new AppError('MAIL_PERMANENT', `The mail server refused the request: ${detail}`, { cause: error });
  }
  return error;
}
