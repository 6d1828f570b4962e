// The one place that talks HTTP. Every failure becomes an ApiError carrying the server's problem+json (stable
// `code`, human `detail`, field errors), so the UI can always show a sentence instead of a status number.
// Mutations carry an Idempotency-Key chosen once per user action: a request retried after a network failure is
// applied at most once by the server.

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fieldErrors: FieldError[];
  readonly requestId: string | undefined;

  constructor(opts: {
    status: number;
    code: string;
    message: string;
    fieldErrors?: FieldError[];
    requestId?: string | undefined;
  }) {
    super(opts.message);
    this.name = 'ApiError';
    this.status = opts.status;
    this.code = opts.code;
    this.fieldErrors = opts.fieldErrors ?? [];
    this.requestId = opts.requestId;
  }

  /** The route itself does not exist on this server (a capability not deployed yet), as opposed to a missing row. */
  get routeMissing(): boolean {
    return this.status === 404 && (this.code === 'NOT_FOUND' || this.code === 'HTTP_404');
  }
}

/** A sentence for the user, whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.fieldErrors
      .filter((f) => f.path && !error.message.includes(f.message))
      .map((f) => `${f.path.replace(/^(body|querystring|params)\./, '')} ${f.message}`);
    return fields.length > 0 ? `${error.message} (${fields.join('; ')})` : error.message;
  }
  if (error instanceof Error && error.name === 'AbortError') return 'The request was cancelled.';
  if (error instanceof Error) return error.message;
  return 'Something went wrong.';
}

export function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue> | undefined;
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Reuse a key when the same user action is sent again; otherwise one is made per call for mutations. */
  idempotencyKey?: string | undefined;
  /** Absolute or root-relative path outside /api/v1 (e.g. /api/config). */
  raw?: boolean;
}

export interface HttpClient {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  get<T>(path: string, options?: RequestOptions): Promise<T>;
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  patch<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  delete<T>(path: string, options?: RequestOptions): Promise<T>;
}

export interface HttpClientOptions {
  baseUrl?: string;
  getToken?: () => string | null;
  /** On a 401: gets a fresh token if it can (true = retry the request once with it). */
  refreshToken?: () => Promise<boolean>;
  /** Called on a 401 that a refresh did not cure, before the error is thrown (the session signs out). */
  onUnauthorized?: (error: ApiError) => void;
  fetch?: typeof fetch;
  /** Attempts after a network failure (not after an HTTP error). */
  retries?: number;
  retryDelayMs?: number;
}

export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  // randomUUID exists only in secure contexts; a LAN http:// address is not one.
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  c.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function toQueryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function toApiError(response: Response): Promise<ApiError> {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  let problem: { code?: unknown; detail?: unknown; title?: unknown; errors?: unknown } | undefined;
  try {
    const type = response.headers.get('content-type') ?? '';
    if (type.includes('json')) problem = await response.json();
  } catch {
    problem = undefined;
  }
  const detail =
    typeof problem?.detail === 'string' && problem.detail
      ? problem.detail
      : typeof problem?.title === 'string' && problem.title
        ? problem.title
        : statusSentence(response.status);
  const fieldErrors = Array.isArray(problem?.errors)
    ? (problem.errors as unknown[]).flatMap((e) =>
        e && typeof e === 'object' && 'message' in e
          ? [{ path: String((e as FieldError).path ?? ''), message: String((e as FieldError).message) }]
          : [],
      )
    : [];
  return new ApiError({
    status: response.status,
    code: typeof problem?.code === 'string' ? problem.code : `HTTP_${response.status}`,
    message: detail,
    fieldErrors,
    requestId,
  });
}

function statusSentence(status: number): string {
  if (status === 401) return 'You are not signed in.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'Not found.';
  if (status === 429) return 'Too many requests; try again in a moment.';
  if (status >= 500) return `The server failed to answer (HTTP ${status}). Try again.`;
  return `The request failed (HTTP ${status}).`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const baseUrl = options.baseUrl ?? '';
  const fetchImpl = options.fetch ?? ((...args: Parameters<typeof fetch>) => globalThis.fetch(...args));
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 300;

  async function request<T>(
    method: string,
    path: string,
    opts: RequestOptions = {},
    refreshed = false,
  ): Promise<T> {
    const url = `${baseUrl}${opts.raw ? path : `/api/v1${path}`}${toQueryString(opts.query)}`;
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    const token = options.getToken?.();
    if (token) headers.authorization = `Bearer ${token}`;
    const mutation = method !== 'GET' && method !== 'HEAD';
    // The key is fixed here so that a retry after a refreshed token is still the same action.
    const idempotencyKey = mutation ? (opts.idempotencyKey ?? newIdempotencyKey()) : undefined;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let response: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetchImpl(url, {
          method,
          headers,
          body,
          signal: opts.signal,
          credentials: 'same-origin',
        });
        break;
      } catch (error) {
        if (isAbort(error) || attempt >= retries) {
          if (isAbort(error)) throw error;
          throw new ApiError({
            status: 0,
            code: 'NETWORK_ERROR',
            message: 'The server cannot be reached. Check your connection and try again.',
          });
        }
        await sleep(retryDelayMs * 2 ** attempt);
      }
    }
    if (!response.ok) {
      const error = await toApiError(response);
      if (response.status === 401 && !opts.raw) {
        if (!refreshed && options.refreshToken && (await options.refreshToken())) {
          return request<T>(method, path, { ...opts, idempotencyKey }, true);
        }
        options.onUnauthorized?.(error);
      }
      throw error;
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return {
    request,
    get: (path, opts) => request('GET', path, opts),
    post: (path, body, opts) => request('POST', path, { ...opts, body: body ?? {} }),
    put: (path, body, opts) => request('PUT', path, { ...opts, body }),
    patch: (path, body, opts) => request('PATCH', path, { ...opts, body }),
    delete: (path, opts) => request('DELETE', path, opts),
  };
}
