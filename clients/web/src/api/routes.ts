/**
 * A typed caller for every `/api` route the contracts declare: `call('POST', '/rooms/:roomId/join',
 * {roomId})` checks the input and gives the response type from the route's own schemas.
 */
import type {
  accountRoutes,
  authRoutes,
  chatRoutes,
  logAlertRoutes,
  logRoutes,
  mailerRoutes,
  presenceRoutes,
  RouteInput,
  RouteOutput,
  RpcRoute,
} from '@veche/contracts';
import { request } from './http.ts';
import { place } from './place.ts';

type AnyRoute =
  | (typeof authRoutes)[number]
  | (typeof accountRoutes)[number]
  | (typeof chatRoutes)[number]
  | (typeof mailerRoutes)[number]
  | (typeof presenceRoutes)[number]
  | (typeof logRoutes)[number]
  | (typeof logAlertRoutes)[number];
type RpcRoutes = Extract<AnyRoute, RpcRoute>;

export type Method = RpcRoutes['method'];
export type UrlOf<M extends Method> = Extract<RpcRoutes, { method: M }>['url'];
export type RouteFor<M extends Method, U extends string> = Extract<RpcRoutes, { method: M; url: U }>;
/** `unknown` (no input) becomes an optional empty object. */
type InputOf<R extends RpcRoutes> = unknown extends RouteInput<R> ? Record<string, never> : RouteInput<R>;

export function call<M extends Method, U extends UrlOf<M>>(
  method: M,
  url: U,
  ...[input, options]: InputOf<RouteFor<M, U>> extends Record<string, never>
    ? [input?: InputOf<RouteFor<M, U>>, options?: { auth?: boolean }]
    : [input: InputOf<RouteFor<M, U>>, options?: { auth?: boolean }]
): Promise<RouteOutput<RouteFor<M, U>>> {
  const placed = place(method, url, input ?? {});
  return request<RouteOutput<RouteFor<M, U>>>(method, placed.path, {
    query: placed.query,
    ...(placed.body === undefined ? {} : { body: placed.body }),
    ...(options?.auth === false ? { auth: false } : {}),
  });
}
