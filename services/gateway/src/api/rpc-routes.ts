/**
 * `rpc` routes: the merged, validated input either goes to a procedure the gateway serves itself or
 * is forwarded as a WAMP call with `{actor, input}` to the service that registered the procedure.
 */
import type { RpcRoute } from '@veche/contracts';
import { unavailable, validationError } from '@veche/errors';
import { withCorrelationId } from '@veche/log';
import type { WampService } from '@veche/wamp';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal, RequestContext } from '../accounts/index.ts';
import { schemaOf } from './route-schemas.ts';

/** What a locally served route's handler gets. */
export interface LocalCall {
  input: Record<string, unknown>;
  principal: Principal | null;
  context: RequestContext;
}
export type LocalHandler = (call: LocalCall) => Promise<unknown>;

export interface RpcRouteOptions {
  /** Procedures the gateway serves itself, by name. */
  localHandlers: ReadonlyMap<string, LocalHandler>;
  /** The forwarding session; `undefined` answers 503 for forwarded routes. */
  wamp: () => WampService | undefined;
  forwardTimeoutMs: number;
  /** How long to wait for a callee to appear before answering 503. */
  calleeWaitMs: number;
  contextOf: (request: FastifyRequest, reply: FastifyReply) => RequestContext;
}

/** Body, querystring and params as one input (params win over querystring over body). */
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

const rpcHandler = (route: RpcRoute, options: RpcRouteOptions) => {
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
      if (local) return local({ input, principal, context: options.contextOf(request, reply) });
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

export function mountRpcRoute(
  app: FastifyInstance,
  route: RpcRoute,
  onRequest: (request: FastifyRequest) => Promise<void>,
  options: RpcRouteOptions,
): void {
  app.route({
    method: route.method,
    url: `/api${route.url}`,
    schema: schemaOf(route),
    onRequest,
    handler: rpcHandler(route, options),
  });
}
