/**
 * `stream` routes (uploads and downloads): proxied as raw HTTP to the owning service with a signed
 * actor header, the body streamed as it arrives (never parsed here), only its size limited. A body
 * announced with `Expect: 100-continue` is refused before it travels when it is too large.
 */
import { Transform } from 'node:stream';
import { internalHeaders, signActor, type StreamRoute } from '@veche/contracts';
import { unavailable } from '@veche/errors';
import { sendError } from '@veche/service';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { schemaOf } from './route-schemas.ts';

export interface StreamRouteOptions {
  /** `VECHE_INTERNAL_URL_<SERVICE>` values, by lower-case service name. */
  internalUrls: Readonly<Record<string, string>>;
  serviceSecret: string;
  /** The body limit of a route that declares none. */
  bodyLimit: number;
}

/** Fastify's own error for a body over the limit, which the kit's error handler answers with 413. */
const bodyTooLarge = () =>
  Object.assign(new Error('body too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });

const expectsContinue = (request: FastifyRequest) =>
  /^100-continue$/i.test(String(request.headers.expect ?? '').trim());

/**
 * `Expect: 100-continue` (curl sends it for bodies over 1 MB): Node would answer "100 Continue" at
 * once; the gateway answers it only when the request may go on (signed in, allowed, its declared
 * size within the route's limit), so a refused upload is refused before its body travels.
 */
export function answerExpectContinue(app: FastifyInstance): void {
  app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response));
  app.addHook('preParsing', async (request, reply, payload) => {
    if (!expectsContinue(request)) return payload;
    if (Number(request.headers['content-length'] ?? 0) > request.routeOptions.bodyLimit) throw bodyTooLarge();
    reply.raw.writeContinue();
    return payload;
  });
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

const streamHandler =
  (route: StreamRoute, options: StreamRouteOptions) =>
  async (request: FastifyRequest, reply: FastifyReply) => {
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

/** Mounts one stream route in a scope of its own: no content-type parsing there, only the size limit. */
export async function mountStreamRoute(
  app: FastifyInstance,
  route: StreamRoute,
  onRequest: (request: FastifyRequest) => Promise<void>,
  options: StreamRouteOptions,
): Promise<void> {
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
      url: `/api${route.url}`,
      schema: schemaOf(route),
      ...(route.bodyLimit ? { bodyLimit: route.bodyLimit } : {}),
      onRequest,
      handler: streamHandler(route, options),
    });
  });
}
