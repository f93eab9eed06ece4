/**
 * The small set of typed errors every Veche edge speaks, and their one mapping to HTTP and to WAMP.
 */

export const errorCodes = [
  'validation',
  'not_found',
  'conflict',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export interface VecheErrorOptions {
  details?: unknown;
  cause?: unknown;
  /** For `rate_limited` and `unavailable`: when the caller may try again. */
  retryAfterSeconds?: number;
}

export class VecheError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: VecheErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VecheError';
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

const make =
  (code: ErrorCode) =>
  (message: string, options?: VecheErrorOptions): VecheError =>
    new VecheError(code, message, options);

export const validationError = make('validation');
export const notFound = make('not_found');
export const conflict = make('conflict');
export const unauthorized = make('unauthorized');
export const forbidden = make('forbidden');
export const rateLimited = make('rate_limited');
export const unavailable = make('unavailable');
export const internalError = make('internal');

export function isVecheError(error: unknown, code?: ErrorCode): error is VecheError {
  return error instanceof VecheError && (code === undefined || error.code === code);
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (errorCodes as readonly string[]).includes(value);
}

/** Anything thrown becomes a VecheError; what is not one already is `internal` and keeps its cause. */
export function asVecheError(error: unknown): VecheError {
  if (error instanceof VecheError) return error;
  return new VecheError('internal', 'Internal error', { cause: error });
}

const httpStatuses: Record<ErrorCode, number> = {
  validation: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return httpStatuses[code];
}

/**
 * The public body of an error. An internal error never shows its message, details or cause: those
 * may hold SQL or stack traces, and belong in the log only.
 */
export function errorBody(error: VecheError): ErrorBody {
  if (error.code === 'internal') return { error: { code: 'internal', message: 'Internal error' } };
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  return body;
}

/** WAMP error URIs are `veche.error.<code>`; the message and details travel in kwargs. */
export const wampErrorPrefix = 'veche.error.';

export interface WampErrorParts {
  uri: string;
  args: unknown[];
  kwargs: { message: string; details?: unknown; retryAfterSeconds?: number };
}

export function toWampError(error: VecheError): WampErrorParts {
  const { error: body } = errorBody(error);
  const kwargs: WampErrorParts['kwargs'] = { message: body.message };
  if (body.details !== undefined) kwargs.details = body.details;
  if (error.retryAfterSeconds !== undefined) kwargs.retryAfterSeconds = error.retryAfterSeconds;
  return { uri: wampErrorPrefix + error.code, args: [], kwargs };
}

/** The inverse of toWampError; a URI from outside Veche (a router error) becomes `unavailable` or `internal`. */
export function fromWampError(uri: string, kwargs: unknown): VecheError {
  const fields = (typeof kwargs === 'object' && kwargs !== null ? kwargs : {}) as Record<string, unknown>;
  const message = typeof fields['message'] === 'string' ? fields['message'] : uri;
  const code = uri.startsWith(wampErrorPrefix) ? uri.slice(wampErrorPrefix.length) : undefined;
  if (isErrorCode(code)) {
    const options: VecheErrorOptions = { details: fields['details'] };
    if (typeof fields['retryAfterSeconds'] === 'number')
      options.retryAfterSeconds = fields['retryAfterSeconds'];
    return new VecheError(code, message, options);
  }
  // Router-level errors: nobody serves the procedure, or the session went away.
  if (
    uri === 'wamp.error.no_such_procedure' ||
    uri === 'wamp.error.canceled' ||
    uri === 'wamp.error.timeout'
  ) {
    return new VecheError('unavailable', `Service unavailable (${uri})`);
  }
  if (uri === 'wamp.error.not_authorized' || uri === 'wamp.error.authorization_failed') {
    return new VecheError('forbidden', 'Not authorized');
  }
  if (uri === 'wamp.error.invalid_argument') return new VecheError('validation', message);
  return new VecheError('internal', `Unexpected WAMP error ${uri}`, { details: fields });
}
