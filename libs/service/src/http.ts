/**
 * A service's HTTP server with the plumbing every service shares: `/health` (the process answers),
 * `/ready` (its declared dependencies answer), the one error handler, our error shape for what fastify
 * and Node refuse before any handler, request ids as correlation ids, one log line per request (none
 * for probes), JSON bodies validated by TypeBox, and 503 while closing. The service adds its routes.
 */
import { randomBytes } from 'node:crypto';
import { compileRouteValidator, internalHeaders } from '@veche/contracts';
import { errorBody, validationError, type VecheError } from '@veche/errors';
import type { Logger } from '@veche/log';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { answerClientError, httpFailureOf, logFailure, noRoute } from './http-errors.ts';
import { observability } from './observability.ts';
import { checkReadiness, type ReadinessChecks } from './readiness.ts';

export interface ServiceHttpOptions {
  log: Logger;
  /** What `/ready` checks, by name: `{ postgres: postgresCheck(database), rabbitmq: () => … }`. */
  readiness: ReadinessChecks;
  /** Where the probes live: `/health` and `/ready` under it (the gateway: `/api`). Default: the root. */
  probePrefix?: string;
  /** Largest body in bytes (default 64 KiB). */
  bodyLimit?: number;
  trustProxy?: FastifyServerOptions['trustProxy'];
  /** Longest path parameter (default 200 characters; longer answers 414). */
  maxParamLength?: number;
  /** Longest URL, query included (default 8 KiB; longer answers 414). */
  maxUrlLength?: number;
  /** What answers a path no route serves (default: 404 in the error shape). The fleet serves its web client. */
  notFound?: (request: FastifyRequest, reply: FastifyReply) => unknown;
}

const requestIdPattern = /^[A-Za-z0-9._:-]{8,128}$/;

/** One line per request, when it completes (status and time), not two; probes are not logged. */
class ServiceLogController extends LogController {
  override incomingRequest(): void {}
}

/**
 * The request id: the caller's (the gateway's correlation id, or a client's X-Request-Id), or new: 32
 * hex digits like nginx's, so that it can be the request's trace id too.
 */
function requestIdOf(headers: Record<string, string | string[] | undefined>): string {
  for (const name of [internalHeaders.correlationId, 'x-request-id']) {
    const given = headers[name];
    if (typeof given === 'string' && requestIdPattern.test(given)) return given;
  }
  return randomBytes(16).toString('hex');
}

export function sendError(reply: FastifyReply, error: VecheError, status: number): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error));
}

export async function createServiceHttp(options: ServiceHttpOptions): Promise<FastifyInstance> {
  const { log } = options;
  const probePrefix = (options.probePrefix ?? '').replace(/\/+$/, '');
  const probes = new Set([`${probePrefix}/health`, `${probePrefix}/ready`]);
  const maxUrlLength = options.maxUrlLength ?? 8_192;
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: options.bodyLimit ?? 65_536,
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    requestIdHeader: false,
    genReqId: (request) => requestIdOf(request.headers),
    logController: new ServiceLogController({
      requestIdLogLabel: 'correlationId',
      disableRequestLogging: (request: { url?: string }) =>
        probes.has((request.url ?? '').split('?')[0] ?? ''),
    }),
    return503OnClosing: true,
    routerOptions: { maxParamLength: options.maxParamLength ?? 200, ignoreTrailingSlash: true },
    // Refusals made while routing (bad percent-encoding, an overlong parameter), before any handler.
    frameworkErrors: (error, request, reply) => {
      const failure = httpFailureOf(error);
      logFailure(request.log, failure, error);
      void sendError(reply, failure.error, failure.status);
    },
    // Refusals made by Node's HTTP parser, before any request exists.
    clientErrorHandler: (error, socket) => answerClientError(log, error, socket),
  });
  // TypeBox checks; query and path integers only from their canonical spelling (`limit=1.5` is a 400).
  app.setValidatorCompiler(compileRouteValidator);
  // JSON only: a text body is refused as an unsupported media type rather than parsed as a string.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((thrown, request, reply) => {
    const failure = httpFailureOf(thrown);
    logFailure(request.log, failure, thrown);
    return sendError(reply, failure.error, failure.status);
  });
  app.setNotFoundHandler(options.notFound ?? ((_request, reply) => sendError(reply, noRoute(), 404)));
  // Node's parser only limits the URL with the headers (431 past 16 KiB): a long URL is 414 here.
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.length <= maxUrlLength) return;
    const error = validationError('The URL is too long', { details: { reason: 'url_too_long' } });
    logFailure(request.log, { status: 414, error }, error);
    return sendError(reply, error, 414);
  });

  await app.register(observability);

  app.get(`${probePrefix}/health`, async () => ({ status: 'ok' }));
  app.get(`${probePrefix}/ready`, async (_request, reply) => {
    const { ready, checks } = await checkReadiness(options.readiness);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  return app as unknown as FastifyInstance; // pino's Logger and FastifyBaseLogger differ only in generics
}
