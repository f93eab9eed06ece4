/**
 * The one way the client talks to `/api`: JSON in and out, the access token attached, one refresh and
 * retry on 401, and every failure turned into an {@link ApiError} with the gateway's stable code.
 */

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(code: string, message: string, status: number, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
  /** Worth sending again later (no answer, or the server asked to wait), as opposed to refused. */
  get retryable(): boolean {
    return this.code === 'network' || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export interface TokenSource {
  accessToken(): string | undefined;
  /** Gets a new access token after a 401; false when the session is over. */
  refresh(): Promise<boolean>;
}

let tokens: TokenSource | undefined;
export function useTokenSource(source: TokenSource | undefined): void {
  tokens = source;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** A raw body (uploads), sent as is with its own content type. */
  raw?: Blob | FormData;
  signal?: AbortSignal;
  /** Set false for calls that must not carry the token (login, register). */
  auth?: boolean;
}

function url(path: string, query: Query | undefined): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return `/api${path}${text ? `?${text}` : ''}`;
}

async function send(method: string, path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.auth === false ? undefined : tokens?.accessToken();
  if (token) headers['authorization'] = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (options.raw) body = options.raw;
  else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  try {
    return await fetch(url(path, options.query), {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError('network', 'The server cannot be reached', 0);
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as {
      error?: { code?: unknown; message?: unknown; details?: unknown };
    };
    const error = body.error;
    if (error && typeof error.code === 'string') {
      return new ApiError(
        error.code,
        typeof error.message === 'string' ? error.message : '',
        response.status,
        error.details,
      );
    }
  } catch {
    // Not JSON (a proxy's page): fall through to a code made from the status.
  }
  return new ApiError(
    response.status >= 500 ? 'unavailable' : 'http_' + response.status,
    response.statusText,
    response.status,
  );
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  let response = await send(method, path, options);
  if (response.status === 401 && options.auth !== false && tokens && (await tokens.refresh())) {
    response = await send(method, path, options);
  }
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
