/**
 * One error type for the whole product. Codes are stable (clients and tests match on them); only the API's error
 * handler turns them into HTTP, so the status here is a hint the handler honours, never something domain code sends.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  INVALID_CURSOR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  THREAD_NOT_FOUND: 404,
  LEAD_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  THREAD_EXISTS: 409,
  LEAD_EXISTS: 409,
  CONFLICT: 409,
  THREAD_STATE_CONFLICT: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  FOLLOWUP_IN_PAST: 422,
  ALREADY_APPLIED: 409,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DB_UNAVAILABLE: 503,
  DB_TIMEOUT: 503,
  JOURNAL_FULL: 503,
  JOURNAL_UNAVAILABLE: 503,
  CACHE_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
  // Mail accounts and sync. The MAIL_* codes come from the providers' error parsers (src/mail/*/parse-*-error.ts).
  ACCOUNT_NOT_FOUND: 404,
  OAUTH_STATE_INVALID: 400,
  MAIL_NOT_CONFIGURED: 503,
  MAIL_AUTH_REVOKED: 422,
  MAIL_RATE_LIMITED: 429,
  MAIL_CURSOR_EXPIRED: 409,
  MAIL_NOT_FOUND: 404,
  MAIL_TEMPORARY: 503,
  MAIL_PERMANENT: 502,
  // Follow-up drafting. The DRAFTER_* codes come from the language model client's error parser
  // (src/ai/parse-openai-error.ts); DRAFT_REJECTED: no drafter produced a text that passes the draft checks.
  DRAFTER_RATE_LIMITED: 429,
  DRAFTER_UNAVAILABLE: 503,
  DRAFTER_FAILED: 502,
  DRAFT_REJECTED: 422,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetail[] | undefined;
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; details?: ErrorDetail[]; retryAfter?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.details = options.details;
    this.retryAfter = options.retryAfter;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

export const threadNotFound = (threadId: string): AppError =>
  new AppError('THREAD_NOT_FOUND', `Thread ${JSON.stringify(threadId)} was not found`);
