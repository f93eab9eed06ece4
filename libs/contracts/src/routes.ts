/**
 * How the gateway exposes a service's procedure under `/api`: one declaration per route, read by the
 * gateway (to register, validate, document and forward it) and by the web client (for its types).
 */
import type { Static, TSchema } from '@sinclair/typebox';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Who may call a route: anyone, any signed-in user, or an admin. */
export type RouteAuth = 'public' | 'user' | 'admin';

interface RouteBase {
  method: HttpMethod;
  /** Path under `/api`, in fastify's syntax: `/rooms/:roomId/messages`. */
  url: string;
  auth: RouteAuth;
  summary: string;
  tags: string[];
  params?: TSchema;
  querystring?: TSchema;
  /** Optional per-route limit on top of the gateway's global one. */
  rateLimit?: { max: number; timeWindowMs: number; key: 'user' | 'ip' };
}

/**
 * Forwarded as a WAMP call to `procedure` with kwargs {@link RpcInput}; the procedure's result is the
 * response body, a thrown `VecheError` is the error response.
 */
export interface RpcRoute extends RouteBase {
  kind: 'rpc';
  procedure: string;
  body?: TSchema;
  response: TSchema;
  /** Success status, 200 unless stated. */
  status?: 200 | 201 | 202 | 204;
  timeoutMs?: number;
}

/**
 * Streamed (uploads, downloads): the gateway authenticates, then proxies the raw request to
 * `${VECHE_INTERNAL_URL_<SERVICE>}${upstreamUrl}` with the headers in {@link internalHeaders}.
 */
export interface StreamRoute extends RouteBase {
  kind: 'stream';
  service: string;
  /** Defaults to `url`; `:name` placeholders are filled from the request's params. */
  upstreamUrl?: string;
  /** Largest accepted request body in bytes (uploads). */
  bodyLimit?: number;
  /** For the OpenAPI document only: the response's JSON schema, when it is JSON. */
  response?: TSchema;
  consumes?: string[];
  produces?: string[];
}

export type ApiRoute = RpcRoute | StreamRoute;

/** The kwargs every forwarded procedure receives. */
export interface RpcInput<I = Record<string, unknown>> {
  /** The authenticated caller, set by the gateway only (absent on `public` routes). */
  actor: { userId: string; role: 'user' | 'admin' } | null;
  /** params, querystring and body merged (params win, then querystring); already validated. */
  input: I;
}

/** Headers the gateway adds to a streamed request (a service trusts them only with a valid signature). */
export const internalHeaders = {
  actor: 'x-veche-actor',
  correlationId: 'x-veche-correlation-id',
} as const;

export function defineRoutes<const T extends readonly ApiRoute[]>(routes: T): T {
  return routes;
}

/** The static type of a route's merged input. */
export type RouteInput<R extends ApiRoute> = (R['params'] extends TSchema ? Static<R['params']> : unknown) &
  (R['querystring'] extends TSchema ? Static<R['querystring']> : unknown) &
  (R extends RpcRoute ? (R['body'] extends TSchema ? Static<R['body']> : unknown) : unknown);

export type RouteOutput<R extends ApiRoute> = R['response'] extends TSchema ? Static<R['response']> : never;
