/**
 * Everything a request can fail with, in the one shape `{error: {code, message, details}}` and the
 * right status: our typed errors as they are; a dependency that is down as 503 `unavailable`; what
 * fastify or Node refuse before our handlers run (unknown route, bad URL encoding, long URL or
 * parameter, huge headers, bad JSON, wrong media type, oversize body) with a fixed message that
 * echoes nothing of the request; anything else as 500 `internal`, whose cause goes to the log only.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { isDependencyDown } from '@veche/db';
import {
  VecheError,
  asVecheError,
  errorBody,
  httpStatusOf,
  notFound,
  unavailable,
  type ErrorBody,
  type ErrorCode,
} from '@veche/errors';
import type { FastifyBaseLogger } from 'fastify';

export interface HttpFailure {
  status: number;
  error: VecheError;
}

/** The refusals fastify and its parsers make, by their code: a message of ours and a stable reason. */
const frameworkRefusals: Record<string, { message: string; reason: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { message: 'The request body is not valid JSON', reason: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    message: 'The body is empty but the content type says JSON',
    reason: 'empty_json',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: { message: 'The request body is too large', reason: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    message: 'Unsupported content type (send application/json)',
    reason: 'unsupported_media_type',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    message: 'Content-Length does not match the body',
    reason: 'content_length_mismatch',
  },
  FST_ERR_BAD_URL: { message: 'The URL is not correctly percent-encoded', reason: 'bad_url_encoding' },
  FST_ERR_MAX_PARAM_LENGTH: { message: 'A path parameter is too long', reason: 'parameter_too_long' },
  FST_ERR_NOT_FOUND: { message: 'No such route', reason: 'no_route' },
};

/** For 4xx errors nobody gave a message we trust (a plugin's, which may quote the request). */
const genericReasons: Record<number, string> = {
  400: 'bad_request',
  404: 'no_route',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  411: 'length_required',
  413: 'body_too_large',
  414: 'url_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
};

const codeOfStatus = (status: number): ErrorCode =>
  (
    ({
      401: 'unauthorized',
      403: 'forbidden',
      404: 'not_found',
      409: 'conflict',
      429: 'rate_limited',
    }) as Record<number, ErrorCode>
  )[status] ?? 'validation';

interface FrameworkError {
  statusCode?: unknown;
  code?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

/** TypeBox's and ajv's words for a property the schema does not declare. */
const unexpectedProperty = /^(Unexpected property|must NOT have additional properties)$/;

/**
 * The details of a schema failure: where and what, never the offending value. The path of an
 * undeclared property would be the client's own key, so it names the object that holds it instead.
 */
function validationDetails(error: FrameworkError): { in: string; path: string; message: string }[] {
  const context = typeof error.validationContext === 'string' ? error.validationContext : 'body';
  return (error.validation as { instancePath?: unknown; message?: unknown }[]).slice(0, 20).map((v) => {
    const message = typeof v.message === 'string' ? v.message.slice(0, 300) : 'invalid';
    const path = typeof v.instancePath === 'string' ? v.instancePath : '';
    return {
      in: context,
      path: (unexpectedProperty.test(message) ? path.replace(/\/[^/]*$/, '') : path).slice(0, 200),
      message,
    };
  });
}

/** Anything thrown while serving a request, as the status and typed error the client gets. */
export function httpFailureOf(thrown: unknown): HttpFailure {
  if (thrown instanceof VecheError) return { status: httpStatusOf(thrown.code), error: thrown };
  if (isDependencyDown(thrown)) {
    return {
      status: 503,
      error: unavailable('A dependency is unavailable; try again shortly', {
        retryAfterSeconds: 1,
        cause: thrown,
      }),
    };
  }
  const framework = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as FrameworkError;
  if (Array.isArray(framework.validation)) {
    return {
      status: 400,
      error: new VecheError('validation', 'The request does not match its schema', {
        details: validationDetails(framework),
        cause: thrown,
      }),
    };
  }
  const status = typeof framework.statusCode === 'number' ? framework.statusCode : undefined;
  if (status !== undefined && status >= 400 && status < 500) {
    const known = typeof framework.code === 'string' ? frameworkRefusals[framework.code] : undefined;
    const reason = known?.reason ?? genericReasons[status] ?? 'bad_request';
    const message = known?.message ?? STATUS_CODES[status] ?? 'Bad request';
    return {
      status,
      error: new VecheError(codeOfStatus(status), message, { details: { reason }, cause: thrown }),
    };
  }
  return { status: 500, error: asVecheError(thrown) };
}

/** Logs a failure once, at the level it deserves: a bug is an error, a refusal is information. */
export function logFailure(log: FastifyBaseLogger, failure: HttpFailure, thrown: unknown): void {
  const { error } = failure;
  if (error.code === 'internal') log.error({ err: thrown }, 'request failed');
  else if (error.code === 'unavailable')
    log.warn({ err: thrown, code: error.code }, 'dependency unavailable');
  else log.info({ code: error.code, status: failure.status, message: error.message }, 'request refused');
}

export const noRoute = (): VecheError => notFound('No such route', { details: { reason: 'no_route' } });

/** The whole HTTP response for a connection Node refused before any request existed. */
function rawResponse(status: number, body: ErrorBody): string {
  const json = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
  );
}

/**
 * Node's HTTP parser refusing a request (headers or URL over the size limit, a malformed request
 * line, a request timeout): answered in our shape, then the connection is closed.
 */
export function answerClientError(
  log: FastifyBaseLogger,
  error: NodeJS.ErrnoException,
  socket: Socket,
): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message, reason] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request headers (or the URL) are too large', 'headers_too_large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request took too long to arrive', 'request_timeout']
        : [400, 'The request is not valid HTTP', 'bad_request'];
  log.info({ code: error.code, status }, 'request refused by the HTTP parser');
  if (socket.writable) {
    socket.write(
      rawResponse(status, errorBody(new VecheError('validation', message, { details: { reason } }))),
    );
  }
  socket.destroy();
}
