/**
 * The one place that turns what the OpenAI-compatible client throws into stable codes:
 * - DRAFTER_RATE_LIMITED: 429 (retryAfter from the Retry-After header when the server sent one);
 * - DRAFTER_UNAVAILABLE: 5xx, timeouts, connection failures (worth retrying);
 * - DRAFTER_FAILED: everything else (a bad key, an unknown model, a refused request): retrying will not help.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { AppError } from '../domain/errors.ts';

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at an hour. */
function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const ms = headers?.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.min(3600, Math.max(0, Number(ms) / 1000));
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.min(3600, Math.max(0, seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.min(3600, Math.max(0, (date - Date.now()) / 1000));
}

export function parseOpenAiError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof APIUserAbortError) {
    return new AppError('DRAFTER_UNAVAILABLE', 'Drafting was cancelled', { cause: error });
  }
  if (error instanceof APIConnectionTimeoutError) {
    return new AppError('DRAFTER_UNAVAILABLE', 'The language model did not answer in time', { cause: error });
  }
  if (error instanceof APIConnectionError) {
    return new AppError('DRAFTER_UNAVAILABLE', `The language model cannot be reached: ${error.message}`, {
      cause: error,
    });
  }
  if (error instanceof APIError && typeof error.status === 'number') {
    const status = error.status;
    if (status === 429) {
      const retryAfter = retryAfterSeconds(error.headers);
      return new AppError('DRAFTER_RATE_LIMITED', 'The language model is rate limiting requests', {
        cause: error,
        ...(retryAfter === undefined ? {} : { retryAfter }),
      });
    }
    if (status >= 500 || status === 408) {
      return new AppError('DRAFTER_UNAVAILABLE', `The language model failed (${status})`, { cause: error });
    }
    return new AppError(
      'DRAFTER_FAILED',
      `The language model refused the request (${status}): ${error.message}`,
      {
        cause: error,
      },
    );
  }
  return new AppError('DRAFTER_FAILED', `Drafting failed: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  });
}

/** Whether trying again later may succeed. */
export function isRetryableDrafterError(error: AppError): boolean {
  return error.code === 'DRAFTER_RATE_LIMITED' || error.code === 'DRAFTER_UNAVAILABLE';
}
