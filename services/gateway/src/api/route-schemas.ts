/**
 * The routes the API serves, as @veche/contracts declares them, and each one's Fastify schema: the
 * same TypeBox declaration is the validator, the serializer and the OpenAPI entry.
 */
import { Type } from '@sinclair/typebox';
import { declaredApiRoutes, type ApiRoute } from '@veche/contracts';
import { errorCodes } from '@veche/errors';

/** Every route @veche/contracts declares. */
export const declaredRoutes = declaredApiRoutes;

/** Refuses a route list that declares one method and URL twice. */
export function assertUniqueRoutes(routes: readonly ApiRoute[]): void {
  const seen = new Set<string>();
  for (const route of routes) {
    const key = `${route.method} ${route.url}`;
    if (seen.has(key)) throw new RangeError(`Two routes declare ${key}`);
    seen.add(key);
  }
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

export const schemaOf = (route: ApiRoute) => ({
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
