/**
 * The public HTTP API under /api (Fastify 5): every route declared in @veche/contracts is mounted with
 * its TypeBox schemas (validator, TypeScript type and OpenAPI entry at once), authenticated here, and
 * either served by the gateway itself or forwarded: `rpc` routes as WAMP calls with `{actor, input}`,
 * `stream` routes as raw HTTP to the owning service with a signed actor header.
 */
import { Transform } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyReplyFrom from '@fastify/reply-from';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import * as contracts from '@veche/contracts';
import { internalHeaders, signActor, type ApiRoute, type RpcRoute, type StreamRoute } from '@veche/contracts';
import { errorCodes, forbidden, unauthorized, unavailable, validationError } from '@veche/errors';
import { withCorrelationId, type Logger } from '@veche/log';
import { createServiceHttp, sendError, type ReadinessChecks } from '@veche/service';
import type { WampService } from '@veche/wamp';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal, RequestContext } from './accounts/index.ts';
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
  /** What /api/ready checks. */
  readiness: ReadinessChecks;
  publicUrl: string;
}

/** The device-token cookie (see domain/tokens.ts): sent only to the log-in routes, never to scripts. */
export const deviceCookie = {
  name: 'veche_device',
  path: '/api/auth',
  /** A year: a device stays known as long as it keeps coming back. */
  maxAgeSeconds: 365 * 86_400,
} as const;

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
    if (Array.isArray(value) && value.length > 0 && value.every(isApiRoute)) routes.push(...value);
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

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Fastify's own error for a body over the limit, which the kit's error handler answers with 413. */
const bodyTooLarge = () =>
  Object.assign(new Error('body too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });

const expectsContinue = (request: FastifyRequest) =>
  /^100-continue$/i.test(String(request.headers.expect ?? '').trim());

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

export async function buildHttp(options: HttpOptions): Promise<FastifyInstance> {
  const { log } = options;
  // The kit's server: /api/health, /api/ready, the one error handler and the error shape.
  const app = await createServiceHttp({
    log,
    readiness: options.readiness,
    probePrefix: '/api',
    trustProxy: options.trustProxy,
    bodyLimit: options.bodyLimit,
  });
  app.decorateRequest('principal', null);

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
  await app.register(fastifyCookie);
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

  // `Expect: 100-continue` (curl sends it for bodies over 1 MB): Node would answer "100 Continue" at
  // once; the gateway answers it only when the request may go on (signed in, allowed, its declared
  // size within the route's limit), so a refused upload is refused before its body travels.
  app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response));
  app.addHook('preParsing', async (request, reply, payload) => {
    if (!expectsContinue(request)) return payload;
    if (Number(request.headers['content-length'] ?? 0) > request.routeOptions.bodyLimit) throw bodyTooLarge();
    reply.raw.writeContinue();
    return payload;
  });

  const routes = options.routes ?? declaredRoutes();
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.url}`;
    if (seen.has(key)) throw new RangeError(`Two routes declare ${key}`);
    seen.add(key);
  }

  const secureCookies = new URL(options.publicUrl).protocol === 'https:';
  const contextOf = (request: FastifyRequest, reply: FastifyReply): RequestContext => ({
    ip: request.ip,
    userAgent: String(request.headers['user-agent'] ?? 'unknown').slice(0, 200),
    correlationId: request.id,
    deviceToken: request.cookies[deviceCookie.name],
    issueDeviceToken: (token) => {
      reply.setCookie(deviceCookie.name, token, {
        path: deviceCookie.path,
        maxAge: deviceCookie.maxAgeSeconds,
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookies,
      });
    },
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
        // `{}` is no body; `[]` is one (it passed as "no keys" until the /api fuzzing sent it).
        !(
          typeof request.body === 'object' &&
          !Array.isArray(request.body) &&
          Object.keys(request.body).length === 0
        )
      ) {
        throw validationError('This request takes no body', {
          details: [{ in: 'body', path: '', message: 'must be empty' }],
        });
      }
      const input = mergedInput(request);
      const principal = request.principal;
      const result = await withCorrelationId(request.id, async () => {
        if (local) return local({ input, principal, context: contextOf(request, reply) });
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
        // The client's Expect was answered here (above); the body is on its way, so the service
        // needs no Expect of its own (undici would refuse to send one anyway).
        const {
          authorization: _drop,
          [internalHeaders.actor]: _forged,
          expect: _answered,
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
          503,
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
            done(bodyTooLarge(), undefined);
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
  return app;
}
