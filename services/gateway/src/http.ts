/**
 * The public HTTP API under /api (Fastify 5): every route declared in @veche/contracts is mounted with
 * its TypeBox schemas (validator, TypeScript type and OpenAPI entry at once), authenticated here, and
 * either served by the gateway itself or forwarded: `rpc` routes as WAMP calls with `{actor, input}`
 * (api/rpc-routes.ts), `stream` routes as raw HTTP to the owning service with a signed actor header
 * (api/stream-routes.ts).
 */
import type { ApiRoute } from '@veche/contracts';
import type { Logger } from '@veche/log';
import { createServiceHttp, type ReadinessChecks } from '@veche/service';
import type { WampService } from '@veche/wamp';
import type { FastifyInstance } from 'fastify';
import type { Principal } from './accounts/index.ts';
import { authenticateRoute } from './api/authentication.ts';
import { registerPlugins } from './api/plugins.ts';
import { requestContextOf } from './api/request-context.ts';
import { assertUniqueRoutes, declaredRoutes } from './api/route-schemas.ts';
import { mountRpcRoute, type LocalHandler } from './api/rpc-routes.ts';
import { answerExpectContinue, mountStreamRoute } from './api/stream-routes.ts';
import type { RateLimiter } from './rate-limit.ts';

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

export async function buildHttp(options: HttpOptions): Promise<FastifyInstance> {
  // The kit's server: /api/health, /api/ready, the one error handler and the error shape.
  const app = await createServiceHttp({
    log: options.log,
    readiness: options.readiness,
    probePrefix: '/api',
    trustProxy: options.trustProxy,
    bodyLimit: options.bodyLimit,
  });
  app.decorateRequest('principal', null);
  await registerPlugins(app, options.publicUrl);
  answerExpectContinue(app);

  const routes = options.routes ?? declaredRoutes();
  assertUniqueRoutes(routes);
  const contextOf = requestContextOf(new URL(options.publicUrl).protocol === 'https:');
  for (const route of routes) {
    const onRequest = authenticateRoute(route, options);
    if (route.kind === 'rpc') mountRpcRoute(app, route, onRequest, { ...options, contextOf });
    else await mountStreamRoute(app, route, onRequest, options);
  }
  return app;
}
