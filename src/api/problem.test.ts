import { describe, expect, it } from 'vitest';
import { AppError, ERROR_STATUS, type ErrorCode } from '../domain/errors.ts';
import { problemType, toProblem } from './problem.ts';

describe('toProblem: AppError', () => {
  it.each(Object.entries(ERROR_STATUS) as [ErrorCode, number][])('%s → %i', (code, status) => {
    const problem = toProblem(new AppError(code, `message for ${code}`), '/api/v1/x', 'req-1');
    expect(problem).toEqual({
      type: problemType(code),
      title: expect.any(String),
      status,
      detail: `message for ${code}`,
      code,
      instance: '/api/v1/x',
      requestId: 'req-1',
    });
    expect(problem.title).not.toBe('Error');
  });

  it('honours a status override and carries the details', () => {
    const details = [{ path: 'body.threadId', message: 'is required' }];
    const problem = toProblem(new AppError('CONFLICT', 'nope', { status: 423, details }));
    expect(problem).toEqual({
      type: 'urn:thread-tracker:problem:conflict',
      title: 'Locked',
      status: 423,
      detail: 'nope',
      code: 'CONFLICT',
      errors: details,
    });
  });

  it('never shows the cause', () => {
    const cause = new Error('relation "thread_tracking" violates constraint; select * from secrets');
    const problem = toProblem(new AppError('DB_UNAVAILABLE', 'The database is unavailable', { cause }));
    expect(JSON.stringify(problem)).not.toContain('thread_tracking');
    expect(JSON.stringify(problem)).not.toContain('select');
  });
});

describe('toProblem: validation errors', () => {
  it('names each unknown field, as fastify-type-provider-zod reports them', () => {
    const problem = toProblem({
      validation: [
        {
          keyword: 'unrecognized_keys',
          instancePath: '/threads/0',
          message: 'Unrecognized keys: "userId", "id"',
          params: { keys: ['userId', 'id'] },
        },
      ],
      validationContext: 'body',
    });
    expect(problem.errors).toEqual([
      { path: 'body.threads.0.userId', message: 'is not a known field' },
      { path: 'body.threads.0.id', message: 'is not a known field' },
    ]);
  });

  it('names each unknown field of a nested issue', () => {
    const problem = toProblem({
      validation: [
        {
          instancePath: '',
          message: 'Unrecognized keys',
          params: { issue: { path: [], code: 'unrecognized_keys', keys: ['userId', 'id'] } },
        },
      ],
      validationContext: 'body',
    });
    expect(problem).toMatchObject({
      status: 400,
      code: 'VALIDATION_FAILED',
      title: 'Bad Request',
      type: 'urn:thread-tracker:problem:validation-failed',
      errors: [
        { path: 'body.userId', message: 'is not a known field' },
        { path: 'body.id', message: 'is not a known field' },
      ],
    });
    expect(problem.detail).toContain('body.userId');
  });

  it('uses the issue path, else the JSON pointer', () => {
    const problem = toProblem({
      validation: [
        {
          instancePath: '/threads/0/subject',
          message: 'Too big',
          params: { issue: { path: ['threads', 0] } },
        },
        { instancePath: '/limit', message: 'Too small' },
        { instancePath: '' },
      ],
      validationContext: 'querystring',
    });
    expect(problem.errors).toEqual([
      { path: 'querystring.threads.0', message: 'Too big' },
      { path: 'querystring.limit', message: 'Too small' },
      { path: 'querystring', message: 'is not valid' },
    ]);
  });

  it('keeps the detail to 1000 characters', () => {
    const validation = Array.from({ length: 200 }, (_, i) => ({
      instancePath: `/field${i}`,
      message: 'x'.repeat(20),
    }));
    const problem = toProblem({ validation });
    expect(problem.detail.length).toBeLessThanOrEqual(1000);
    expect(problem.errors).toHaveLength(200);
    expect(problem.detail.startsWith('The request is not valid')).toBe(true);
  });
});

describe('toProblem: framework errors', () => {
  it.each([
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'PAYLOAD_TOO_LARGE'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'VALIDATION_FAILED'],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'VALIDATION_FAILED'],
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'VALIDATION_FAILED'],
  ])('%s → %i %s with a fixed message', (fastifyCode, status, code) => {
    const problem = toProblem({
      code: fastifyCode,
      statusCode: status,
      message: 'Unexpected token } in JSON at position 12: {"a":}',
    });
    expect(problem.status).toBe(status);
    expect(problem.code).toBe(code);
    expect(problem.detail).not.toContain('position');
  });

  it.each([
    [404, 'NOT_FOUND'],
    [405, 'METHOD_NOT_ALLOWED'],
    [400, 'VALIDATION_FAILED'],
    [406, 'VALIDATION_FAILED'],
  ])('a plain %i becomes %s', (statusCode, code) => {
    const problem = toProblem({ statusCode, message: 'Route not found' });
    expect(problem).toMatchObject({ status: statusCode, code, detail: 'Route not found' });
  });

  it('keeps a 4xx message to its first line and 300 characters', () => {
    const problem = toProblem({ statusCode: 400, message: `${'y'.repeat(400)}\nsecond line` });
    expect(problem.detail).toBe('y'.repeat(300));
  });
});

describe('toProblem: everything else is an opaque 500', () => {
  it.each([
    ['an Error', new Error('duplicate key value violates unique constraint "unique_user_thread"')],
    ['a 500 with a message', { statusCode: 500, message: 'select * from thread_tracking' }],
    ['a 503 from elsewhere', { statusCode: 503, message: 'connect ECONNREFUSED 127.0.0.1:5432' }],
    ['a 302', { statusCode: 302, message: 'moved' }],
    ['a string', 'boom'],
    ['null', null],
    ['undefined', undefined],
  ])('%s', (_name, error) => {
    const problem = toProblem(error, '/api/v1/threads', 'req-2');
    expect(problem).toEqual({
      type: 'urn:thread-tracker:problem:internal',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred; it has been logged with this request id',
      code: 'INTERNAL',
      instance: '/api/v1/threads',
      requestId: 'req-2',
    });
  });
});

describe('problemType', () => {
  it.each([
    ['THREAD_NOT_FOUND', 'urn:thread-tracker:problem:thread-not-found'],
    ['INTERNAL', 'urn:thread-tracker:problem:internal'],
    ['IDEMPOTENCY_KEY_REUSED', 'urn:thread-tracker:problem:idempotency-key-reused'],
  ])('%s → %s', (code, type) => {
    expect(problemType(code)).toBe(type);
  });
});
