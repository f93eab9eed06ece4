/**
 * A service's WAMP procedures, typed from their route declarations in @veche/contracts: each handler
 * receives `{actor, input}` (what the gateway forwards) with `input` typed from the route's params,
 * querystring and body, and must return the route's response type. Every `rpc` route of the list
 * needs a handler (a missing one is a type error), and each call is validated against a schema built
 * from the same declaration before the handler runs.
 */
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { Actor, ApiRoute, RouteInput, RouteOutput, RpcRoute } from '@veche/contracts';
import { forbidden, validationError } from '@veche/errors';
import type { ProcedureContext, WampService } from '@veche/wamp';

const ActorSchema = Type.Object(
  {
    userId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
  },
  { additionalProperties: false },
);

/** The rpc routes of a route list. */
export type RpcRoutesOf<Routes extends readonly ApiRoute[]> = Extract<Routes[number], RpcRoute>;
/** The procedure names a route list declares. */
export type ProcedureNames<Routes extends readonly ApiRoute[]> = RpcRoutesOf<Routes>['procedure'];
/** The route that declares `procedure`. */
export type RouteOfProcedure<Routes extends readonly ApiRoute[], P extends string> = Extract<
  RpcRoutesOf<Routes>,
  { procedure: P }
>;

/** Who calls: nobody on a public route, a signed-in user (or an admin, on admin routes) otherwise. */
export type ActorOf<R extends RpcRoute> = R['auth'] extends 'public' ? null : Actor;

/** What a procedure's handler receives: the kwargs the gateway sends, typed from the route. */
export interface ProcedureCall<R extends RpcRoute> {
  actor: ActorOf<R>;
  input: RouteInput<R>;
}

export type RouteHandler<R extends RpcRoute> = (
  call: ProcedureCall<R>,
  context: ProcedureContext,
) => RouteOutput<R> | Promise<RouteOutput<R>>;

/** One handler per procedure of the route list, each typed from its own route. */
export type RouteHandlers<Routes extends readonly ApiRoute[]> = {
  [P in ProcedureNames<Routes>]: RouteHandler<RouteOfProcedure<Routes, P>>;
};

function propertiesOf(schema: TSchema | undefined): TProperties {
  return (schema as TObject | undefined)?.properties ?? {};
}

/** A route's merged input (params win over querystring over body, as the gateway merges them), closed. */
export function inputSchemaOf(route: ApiRoute): TObject {
  return Type.Object(
    {
      ...propertiesOf(route.kind === 'rpc' ? route.body : undefined),
      ...propertiesOf(route.querystring),
      ...propertiesOf(route.params),
    },
    { additionalProperties: false },
  );
}

/** The kwargs schema of a route's procedure: `{actor, input}`, as the gateway sends them. */
export function procedureSchemaOf(route: RpcRoute): TObject {
  return Type.Object(
    { actor: route.auth === 'public' ? Type.Null() : ActorSchema, input: inputSchemaOf(route) },
    { additionalProperties: false },
  );
}

/** The rpc route of `routes` that declares `procedure`. */
export function routeOfProcedure<const Routes extends readonly ApiRoute[], P extends ProcedureNames<Routes>>(
  routes: Routes,
  procedure: P,
): RouteOfProcedure<Routes, P> {
  const route = routes.find(
    (r): r is RouteOfProcedure<Routes, P> => r.kind === 'rpc' && r.procedure === procedure,
  );
  if (!route) throw new TypeError(`No route declares ${procedure}`);
  return route;
}

/**
 * A route's handler as a function of raw kwargs, for in-process callers (tests): the call is checked
 * as over WAMP (the schema built from the route, admin routes for administrators only) before it runs.
 */
export function inProcessProcedure<R extends RpcRoute, Out = RouteOutput<R>>(
  route: R,
  handler: (call: ProcedureCall<R>, context: ProcedureContext) => Out | Promise<Out>,
  context: ProcedureContext,
): (args: unknown) => Promise<Out> {
  const schema = procedureSchemaOf(route);
  // The schema is built from this very route: what it accepts is the route's `{actor, input}`.
  const isCall = (args: unknown): args is ProcedureCall<R> => Value.Check(schema, args);
  return async (args) => {
    if (!isCall(args)) {
      const problems = [...Value.Errors(schema, args)]
        .slice(0, 10)
        .map((e) => `${e.path || '/'}: ${e.message}`);
      throw validationError('The request does not match its schema', { details: { problems } });
    }
    const actor: Actor | null = args.actor;
    if (route.auth === 'admin' && actor?.role !== 'admin') throw forbidden('Administrators only');
    return handler(args, context);
  };
}

export interface ServeRoutesOptions {
  /** Runs before each handler (after validation): chat counts every call as a sign of life. */
  onCall?: (call: { procedure: string; actor: Actor | null }) => void;
}

/**
 * Registers a handler for every rpc route of `routes` on the service's WAMP session. Arguments are
 * validated against {@link procedureSchemaOf} first, and admin routes refuse a non-admin actor even
 * though the gateway already did: a service trusts its own check.
 */
export async function serveRoutes<const Routes extends readonly ApiRoute[]>(
  wamp: WampService,
  routes: Routes,
  handlers: RouteHandlers<Routes>,
  options: ServeRoutesOptions = {},
): Promise<void> {
  const byProcedure = handlers as Record<string, RouteHandler<RpcRoute>>;
  for (const route of routes) {
    if (route.kind !== 'rpc') continue;
    const handler = byProcedure[route.procedure];
    if (!handler) throw new TypeError(`No handler for ${route.procedure}`);
    const schema = procedureSchemaOf(route);
    await wamp.register(route.procedure, schema, (args: Static<typeof schema>, context) => {
      // Validated against the schema built from this very route: the arguments are its call.
      const call = args as { actor: Actor | null; input: unknown };
      if (route.auth === 'admin' && call.actor?.role !== 'admin') throw forbidden('Administrators only');
      options.onCall?.({ procedure: route.procedure, actor: call.actor });
      return handler(call as ProcedureCall<RpcRoute>, context);
    });
  }
}
