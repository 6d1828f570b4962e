/**
 * Errors to RFC 9457 problem details. The only place that turns error codes into HTTP. Internal errors are never
 * described to the client (no messages from the database, no stacks); their details go to the log.
 */
import { STATUS_CODES } from 'node:http';
import { AppError, type ErrorCode, type ErrorDetail } from '../domain/errors.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode | string;
  instance?: string;
  requestId?: string;
  errors?: ErrorDetail[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: {
    /** The zod issue code (fastify-type-provider-zod puts it here, and the issue's other fields in params). */
    keyword?: string;
    instancePath?: string;
    message?: string;
    params?: { keys?: string[]; issue?: { path?: PropertyKey[]; code?: string; keys?: string[] } };
  }[];
  validationContext?: string;
}

/** Fastify's own error codes that are the client's fault, mapped to stable product codes. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; detail?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', detail: 'The request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    detail: 'Send request bodies as application/json',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'VALIDATION_FAILED', detail: 'The JSON body is empty' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'VALIDATION_FAILED', detail: 'Content-Length does not match' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'VALIDATION_FAILED', detail: 'The body is not valid JSON' },
  FST_ERR_BAD_URL: { code: 'VALIDATION_FAILED', detail: 'The URL is not validly percent-encoded' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'VALIDATION_FAILED', detail: 'A path parameter is too long' },
};

export function toProblem(error: unknown, instance?: string, requestId?: string): Problem {
  const base = { ...(instance ? { instance } : {}), ...(requestId ? { requestId } : {}) };
  if (error instanceof AppError) {
    return {
      type: problemType(error.code),
      title: STATUS_CODES[error.status] ?? 'Error',
      status: error.status,
      detail: error.message,
      code: error.code,
      ...base,
      ...(error.details ? { errors: error.details } : {}),
    };
  }
  const e = (error ?? {}) as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    const where = e.validationContext ?? 'request';
    const errors = e.validation.flatMap((v) => {
      const path = [where, ...(v.params?.issue?.path?.map(String) ?? pathFromPointer(v.instancePath))];
      const issue = v.params?.issue;
      const keys = issue?.keys ?? v.params?.keys;
      // One entry per unknown field, named, so a client can see exactly what was refused.
      if ((issue?.code ?? v.keyword) === 'unrecognized_keys' && keys?.length) {
        return keys.map((key) => ({ path: [...path, key].join('.'), message: 'is not a known field' }));
      }
      return [{ path: path.filter(Boolean).join('.'), message: v.message ?? 'is not valid' }];
    });
    return {
      type: problemType('VALIDATION_FAILED'),
      title: 'Bad Request',
      status: 400,
      detail: `The ${where} is not valid: ${errors.map((x) => `${x.path} ${x.message}`).join('; ')}`.slice(
        0,
        1000,
      ),
      code: 'VALIDATION_FAILED',
      ...base,
      errors,
    };
  }
  const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
  const status =
    typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
  if (mapped || status < 500) {
    const code =
      mapped?.code ??
      (status === 404 ? 'NOT_FOUND' : status === 405 ? 'METHOD_NOT_ALLOWED' : 'VALIDATION_FAILED');
    const finalStatus = mapped ? new AppError(mapped.code, '').status : status;
    return {
      type: problemType(code),
      title: STATUS_CODES[finalStatus] ?? 'Error',
      status: finalStatus,
      detail: mapped?.detail ?? sanitize(e.message) ?? 'The request is not valid',
      code,
      ...base,
    };
  }
  return {
    type: problemType('INTERNAL'),
    title: 'Internal Server Error',
    status: 500,
    detail: 'An unexpected error occurred; it has been logged with this request id',
    code: 'INTERNAL',
    ...base,
  };
}

export const problemType = (code: string): string =>
  `urn:thread-tracker:problem:${code.toLowerCase().replace(/_/g, '-')}`;

function pathFromPointer(pointer: string | undefined): string[] {
  return (pointer ?? '').split('/').filter(Boolean);
}

/** Fastify's 4xx messages are safe to show, but keep them to one short line. */
function sanitize(message: string | undefined): string | undefined {
  return message?.split('\n')[0]?.slice(0, 300);
}
