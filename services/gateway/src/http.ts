/**
 * The public HTTP API under /api (Fastify 5): every route declared in @veche/contracts is mounted with
 * its TypeBox schemas (validator, TypeScript type and OpenAPI entry at once), authenticated here, and
 * either served by the gateway itself or forwarded: `rpc` routes as WAMP calls with `{actor, input}`,
 * `stream` routes as raw HTTP to the owning service with a signed actor header.
 */
import { randomUUID } from 'node:crypto';
import { Transform } from 'node:stream';
import fastifyHelmet from '@fastify/helmet';
import fastifyReplyFrom from '@fastify/reply-from';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import * as contracts from '@veche/contracts';
import { internalHeaders, signActor, type ApiRoute, type RpcRoute, type StreamRoute } from '@veche/contracts';
import {
  VecheError,
  asVecheError,
  errorBody,
  errorCodes,
  forbidden,
  httpStatusOf,
  notFound,
  unauthorized,
  unavailable,
  validationError,
  type ErrorCode,
} from '@veche/errors';
import { withCorrelationId, type Logger } from '@veche/log';
import type { WampService } from '@veche/wamp';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';

/** One line per request (when it completes, with its status and time), not two. */
class QuietLogController extends LogController {
  override incomingRequest(): void {}
}
import type { Principal, RequestContext } from './accounts.ts';
import type { RateLimiter } from './rate-limit.ts';

/** What a locally served route's handler gets. */
export interface LocalCall {
  input: Record<string, unknown>;
  principal: Principal | null;
  context: RequestContext;
}
export type LocalHandler = (call: LocalCall) => Promise<unknown>;

export interface HttpOptions {
  log: Logger;
  trustProxy: boolean | string | string[] | ((address: string, hop: number) => boolean);
  bodyLimit: number;
  /** Every route the API serves (default: every ApiRoute array exported by @veche/contracts). */
  routes?: readonly ApiRoute[];
  /** Procedures the gateway serves itself, by name. */
  localHandlers: ReadonlyMap<string, LocalHandler>;
  authenticate: (accessToken: string) => Promise<Principal>;
  limiter: RateLimiter;
  /** The forwarding session; `undefined` answers 503 for forwarded routes. */
  wamp: () => WampService | undefined;
  forwardTimeoutMs: number;
  /** How long to wait for a callee to appear before answering 503. */
  calleeWaitMs: number;
  serviceSecret: string;
  /** `VECHE_INTERNAL_URL_<SERVICE>` values, by lower-case service name. */
  internalUrls: Readonly<Record<string, string>>;
  ready: () => Promise<Record<string, boolean>>;
  publicUrl: string;
}

const isApiRoute = (value: unknown): value is ApiRoute =>
  typeof value === 'object' &&
  value !== null &&
  ((value as ApiRoute).kind === 'rpc' || (value as ApiRoute).kind === 'stream') &&
  typeof (value as ApiRoute).url === 'string' &&
  typeof (value as ApiRoute).method === 'string';

/** Every route array @veche/contracts exports, whatever module declared it. */
export function declaredRoutes(): ApiRoute[] {
  const routes: ApiRoute[] = [];
  for (const value of Object.values(contracts)) {
    if (Array.isArray(value) && value.length > 0 && value.every(isApiRoute))
      routes.push(...(value as ApiRoute[]));
  }
  return routes;
}

/** The one error shape, documented on every route (and serialized through it). */
const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.Union(errorCodes.map((code) => Type.Literal(code))),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { description: 'Every error: code, message, details' },
);

const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;
const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

function statusCodeFor(error: VecheError, fallback?: number): number {
  return fallback ?? httpStatusOf(error.code);
}

/** Fastify's own 4xx errors (bad JSON, body too large, wrong media type) as our typed errors. */
function fromFastifyError(error: {
  statusCode?: number;
  message: string;
  code?: string;
  validation?: unknown;
  validationContext?: string;
}): { error: VecheError; status: number } | undefined {
  if (Array.isArray(error.validation)) {
    const details = (error.validation as { instancePath?: string; message?: string }[])
      .slice(0, 20)
      .map((v) => ({
        in: error.validationContext ?? 'body',
        path: v.instancePath ?? '',
        message: v.message ?? 'invalid',
      }));
    return { error: validationError('The request does not match its schema', { details }), status: 400 };
  }
  const status = error.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  const codes: Record<number, ErrorCode> = {
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    409: 'conflict',
    429: 'rate_limited',
  };
  const code = codes[status] ?? 'validation';
  const messages: Record<string, string> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is too large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported content type (send application/json)',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'The body is empty but the content type says JSON',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
  };
  const message =
    messages[error.code ?? ''] ??
    (code === 'validation' ? 'The request body is not valid JSON' : error.message);
  return {
    error: new VecheError(code, message, { details: { reason: error.code ?? 'bad_request' } }),
    status,
  };
}

const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/** PostgreSQL (or another dependency) unreachable or restarting: a 503 the client may retry, not a bug. */
export function isDependencyDown(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (unreachableCodes.has(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    message,
  );
}

/** Passes a streamed body through, failing it once it exceeds `limit` bytes (chunked uploads). */
function limitStream(source: NodeJS.ReadableStream, limit: number): Transform {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new Error(`body over ${limit} bytes`));
      else callback(null, chunk);
    },
  });
  source.on('error', (error: Error) => counter.destroy(error));
  return source.pipe(counter);
}

function sendError(reply: FastifyReply, error: VecheError, status?: number): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply
    .code(statusCodeFor(error, status))
    .type('application/json; charset=utf-8')
    .send(errorBody(error));
}

export async function buildHttp(options: HttpOptions): Promise<FastifyInstance> {
  const { log } = options;
  const app = Fastify({
    loggerInstance: log,
    trustProxy: options.trustProxy,
    bodyLimit: options.bodyLimit,
    requestIdHeader: false,
    logController: new QuietLogController({ requestIdLogLabel: 'correlationId' }),
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
  });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.decorateRequest('principal', null);
  // JSON only: a text body is refused as an unsupported media type rather than parsed as a string.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  app.setErrorHandler((thrown, request, reply) => {
    const mapped = thrown instanceof VecheError ? undefined : fromFastifyError(thrown as never);
    const error =
      mapped?.error ??
      (isDependencyDown(thrown)
        ? unavailable('A dependency is unavailable; try again shortly', {
            retryAfterSeconds: 1,
            cause: thrown,
          })
        : asVecheError(thrown));
    if (error.code === 'internal') request.log.error({ err: thrown }, 'request failed');
    else if (error.code === 'unavailable')
      request.log.warn({ code: error.code, message: error.message }, 'dependency unavailable');
    else request.log.info({ code: error.code, message: error.message }, 'request refused');
    return sendError(reply, error, mapped?.status);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, notFound(`No route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}`)),
  );

  await app.register(fastifyHelmet, {
    // The API answers JSON only; the docs page needs its own scripts and styles (see below).
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", 'https:', "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
      },
    },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Veche API',
        version: '1',
        description: 'Errors: `{ "error": { "code", "message", "details" } }`.',
      },
      servers: [{ url: options.publicUrl }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  await app.register(fastifyReplyFrom, {
    disableRequestLogging: true,
    undici: { connectTimeout: 2_000, headersTimeout: 30_000 },
  });

  app.get('/api/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/api/ready', { schema: { hide: true } }, async (_request, reply) => {
    const checks = await options.ready();
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });

  const routes = options.routes ?? declaredRoutes();
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.url}`;
    if (seen.has(key)) throw new RangeError(`Two routes declare ${key}`);
    seen.add(key);
  }

  const contextOf = (request: FastifyRequest): RequestContext => ({
    ip: request.ip,
    userAgent: String(request.headers['user-agent'] ?? 'unknown').slice(0, 200),
    correlationId: request.id,
  });

  const authenticateRoute = (route: ApiRoute) => async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    if (route.auth === 'public') {
      request.principal = null;
    } else {
      const match = typeof header === 'string' ? bearer.exec(header) : null;
      if (!match?.[1])
        throw unauthorized('Sign in: send Authorization: Bearer <accessToken>', {
          details: { reason: 'missing_token' },
        });
      request.principal = await options.authenticate(match[1]);
      if (route.auth === 'admin' && request.principal.role !== 'admin')
        throw forbidden('Administrators only');
    }
    if (route.rateLimit) {
      const who = route.rateLimit.key === 'user' && request.principal ? request.principal.userId : request.ip;
      await options.limiter.hit(
        `route:${route.method} ${route.url}:${who}`,
        route.rateLimit.max,
        Math.ceil(route.rateLimit.timeWindowMs / 1000),
      );
    }
  };

  const schemaOf = (route: ApiRoute) => ({
    summary: route.summary,
    tags: route.tags,
    ...(route.auth === 'public' ? {} : { security: [{ bearer: [] }] }),
    ...(route.params ? { params: route.params } : {}),
    ...(route.querystring ? { querystring: route.querystring } : {}),
    ...(route.kind === 'rpc' && route.body ? { body: route.body } : {}),
    ...(route.kind === 'rpc'
      ? { response: { [route.status ?? 200]: route.response, '4xx': ErrorResponse, '5xx': ErrorResponse } }
      : {}),
    ...(route.kind === 'stream' && route.consumes ? { consumes: route.consumes } : {}),
    ...(route.kind === 'stream' && route.produces ? { produces: route.produces } : {}),
  });

  const mergedInput = (request: FastifyRequest): Record<string, unknown> => {
    const body = request.body;
    return {
      ...(typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : {}),
      ...((request.query ?? {}) as Record<string, unknown>),
      ...((request.params ?? {}) as Record<string, unknown>),
    };
  };

  const rpcHandler = (route: RpcRoute) => {
    const local = options.localHandlers.get(route.procedure);
    return async (request: FastifyRequest, reply: FastifyReply) => {
      if (
        !route.body &&
        request.body !== undefined &&
        request.body !== null &&
        !(typeof request.body === 'object' && Object.keys(request.body).length === 0)
      ) {
        throw validationError('This request takes no body', {
          details: [{ in: 'body', path: '', message: 'must be empty' }],
        });
      }
      const input = mergedInput(request);
      const principal = request.principal;
      const result = await withCorrelationId(request.id, async () => {
        if (local) return local({ input, principal, context: contextOf(request) });
        const wamp = options.wamp();
        if (!wamp?.isConnected)
          throw unavailable('The service is unavailable', { details: { procedure: route.procedure } });
        return wamp.call(
          route.procedure,
          { actor: principal ? { userId: principal.userId, role: principal.role } : null, input },
          {
            timeoutMs: route.timeoutMs ?? options.forwardTimeoutMs,
            calleeWaitMs: options.calleeWaitMs,
            correlationId: request.id,
          },
        );
      });
      return reply.code(route.status ?? 200).send(route.status === 204 ? undefined : result);
    };
  };

  const streamHandler = (route: StreamRoute) => async (request: FastifyRequest, reply: FastifyReply) => {
    const base = options.internalUrls[route.service.toLowerCase()];
    if (!base) throw unavailable('The service is unavailable', { details: { service: route.service } });
    const params = (request.params ?? {}) as Record<string, string>;
    const path = (route.upstreamUrl ?? route.url).replace(/:([A-Za-z0-9_]+)/g, (_, name: string) =>
      encodeURIComponent(params[name] ?? ''),
    );
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const principal = request.principal;
    return reply.from(`${base.replace(/\/+$/, '')}${path}${query}`, {
      rewriteRequestHeaders: (_req, headers) => {
        const {
          authorization: _drop,
          [internalHeaders.actor]: _forged,
          ...rest
        } = headers as Record<string, unknown>;
        return {
          ...rest,
          [internalHeaders.correlationId]: request.id,
          ...(principal
            ? {
                [internalHeaders.actor]: signActor(
                  { userId: principal.userId, role: principal.role },
                  options.serviceSecret,
                ),
              }
            : {}),
        };
      },
      onError: (proxyReply, { error }) => {
        request.log.warn({ err: error, service: route.service }, 'stream upstream failed');
        sendError(
          proxyReply as unknown as FastifyReply,
          unavailable('The service is unavailable', { details: { service: route.service } }),
        );
      },
    });
  };

  for (const route of routes) {
    const url = `/api${route.url}`;
    if (route.kind === 'rpc') {
      app.route({
        method: route.method,
        url,
        schema: schemaOf(route),
        onRequest: authenticateRoute(route),
        handler: rpcHandler(route),
      });
    } else {
      // Streamed bodies go upstream as they arrive: no parsing here, only the size limit.
      await app.register(async (scope) => {
        scope.removeAllContentTypeParsers();
        const limit = route.bodyLimit ?? options.bodyLimit;
        scope.addContentTypeParser('*', (request, payload, done) => {
          const declared = Number(request.headers['content-length'] ?? 0);
          if (declared > limit) {
            done(
              Object.assign(new Error('body too large'), {
                statusCode: 413,
                code: 'FST_ERR_CTP_BODY_TOO_LARGE',
              }),
              undefined,
            );
            return;
          }
          done(null, limitStream(payload, limit));
        });
        scope.route({
          method: route.method,
          url,
          schema: schemaOf(route),
          ...(route.bodyLimit ? { bodyLimit: route.bodyLimit } : {}),
          onRequest: authenticateRoute(route),
          handler: streamHandler(route),
        });
      });
    }
  }
  return app as unknown as FastifyInstance; // pino’s Logger and FastifyBaseLogger differ only in generics
}
