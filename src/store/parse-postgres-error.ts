/**
 * The database boundary's one error parser: turns PostgreSQL / driver errors into the product's stable codes.
 * Errors it does not recognise pass through unchanged (they surface as INTERNAL, logged with their cause).
 */
import { AppError } from '../domain/errors.ts';

interface PgLikeError {
  code?: string;
  constraint?: string;
  constraint_name?: string;
  message?: string;
}

/** SQLSTATEs and Node network errors that mean the server cannot be reached or went away mid-statement. */
const UNAVAILABLE = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too_many_connections
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
]);

export function parsePostgresError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  const e = (error ?? {}) as PgLikeError;
  const constraint = e.constraint ?? e.constraint_name ?? '';
  switch (e.code) {
    case '23503':
      if (constraint.includes('lead_id')) {
        return new AppError('LEAD_NOT_FOUND', 'The lead does not exist (it may just have been deleted)', {
          cause: error,
        });
      }
      return new AppError('CONFLICT', 'A referenced record does not exist', { cause: error });
    case '23505':
      if (constraint === 'thread_events_op_id_unique') {
        return new AppError('ALREADY_APPLIED', 'This operation has already been applied', { cause: error });
      }
      return new AppError('CONFLICT', 'A record with the same identity already exists', { cause: error });
    case '57014':
      return new AppError('DB_TIMEOUT', 'The database statement was cancelled after its time limit', {
        cause: error,
      });
    case '40001':
    case '40P01':
      return new AppError('CONFLICT', 'A concurrent change got in the way; retry the request', {
        cause: error,
        retryAfter: 1,
      });
  }
  if (e.code && UNAVAILABLE.has(e.code)) {
    return new AppError('DB_UNAVAILABLE', 'The database is unavailable', { cause: error, retryAfter: 1 });
  }
  return error;
}

/** Whether an error (already parsed) is worth retrying for an operation that is safe to repeat. */
export function isTransient(error: unknown): boolean {
  const cause = (error as { cause?: PgLikeError }).cause ?? (error as PgLikeError);
  return (
    error instanceof AppError &&
    (error.code === 'DB_UNAVAILABLE' ||
      cause.code === '40001' ||
      cause.code === '40P01' ||
      cause.code === '57P01')
  );
}
