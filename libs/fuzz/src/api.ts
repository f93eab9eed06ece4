/**
 * `/api` requests generated from the route declarations of @veche/contracts: path parameters, query
 * strings and bodies, valid and invalid, with the oracle every answer is judged by (see
 * {@link judgeAnswer}). A route added to the contracts is fuzzed without touching this file.
 */
import fc from 'fast-check';
import { Type, type TSchema } from '@sinclair/typebox';
import { convertParameterValues, declaredApiRoutes, type ApiRoute } from '@veche/contracts';
import { errorCodes, httpStatusOf, isErrorCode } from '@veche/errors';
import { canBeInvalid, checkerOf, invalidArbitrary, optionalSchema, validArbitrary } from './schema.ts';

/** Every route @veche/contracts declares (the gateway serves exactly these). */
export const apiRoutes = declaredApiRoutes;

export type Credentials = 'user' | 'none' | 'garbage';

export interface ApiCase {
  /** How fast-check prints a counterexample: the request, not the route's schemas. */
  [fc.toStringMethod]: () => string;
  route: ApiRoute;
  method: string;
  /** Path and query, under the origin: `/api/rooms/abc/messages?limit=3`. */
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  credentials: Credentials;
  /** Every part passes its schema (after the gateway's text conversion of path and query). */
  valid: boolean;
  /** A parameter left a segment empty: the request reached another route (or none). */
  rerouted: boolean;
  /** Which part was broken, for the tally. */
  broken: 'none' | 'params' | 'querystring' | 'body' | 'raw-body' | 'content-type';
}

/** Known ids the generator mixes into path parameters and bodies, so valid cases reach real rows. */
export type KnownIds = Partial<Record<string, readonly string[]>>;

interface ObjectShape {
  properties?: Record<string, TSchema>;
}

/** Valid values of an object schema, with known ids for the properties they name. */
function validWithIds(schema: TSchema, ids: KnownIds): fc.Arbitrary<unknown> {
  const properties = (schema as ObjectShape).properties ?? {};
  const named = Object.keys(properties).filter((key) => (ids[key]?.length ?? 0) > 0);
  if (named.length === 0) return validArbitrary(schema);
  const check = checkerOf(schema);
  return fc
    .tuple(
      validArbitrary(schema),
      fc.record(
        Object.fromEntries(named.map((key) => [key, fc.option(fc.constantFrom(...ids[key]!), { freq: 3 })])),
      ),
    )
    .map(([value, known]) => {
      if (typeof value !== 'object' || value === null) return value;
      const merged: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [key, id] of Object.entries(known)) if (id !== null && key in merged) merged[key] = id;
      return check(merged) ? merged : value;
    });
}

/** Text form of a path or query value, as a client would put it in a URL. */
const asText = (value: unknown): string =>
  typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));

export function queryText(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '';
  const search = new URLSearchParams();
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (field === undefined) continue;
    if (Array.isArray(field)) for (const item of field) search.append(key, asText(item));
    else search.append(key, asText(field));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The values the gateway sees for a path or query object once it has parsed the URL. */
function asParsed(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, field]) => field !== undefined)
      .map(([key, field]) => [key, Array.isArray(field) ? field.map(asText) : asText(field)]),
  );
}

/** A path segment's text as UTF-8 bytes, percent-encoded (a lone surrogate becomes U+FFFD, as on the wire). */
export function percentEncoded(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** A query string as the gateway parses it: a repeated key is a list. */
function parsedQuery(search: string): Record<string, string | string[]> {
  const parsed: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(search)) {
    const previous = Object.hasOwn(parsed, key) ? parsed[key] : undefined;
    parsed[key] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return parsed;
}

export function partIsValid(schema: TSchema, value: unknown): boolean {
  const parsed = asParsed(value);
  return checkerOf(schema)(convertParameterValues(schema, parsed));
}

const rawBodies = fc.oneof(
  fc.constantFrom('{', '[', '"', 'null', 'true', '{"a":', '{}{}', '\u0000', '{"__proto__":{"x":1}}', ''),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
);

const EmptyObject = Type.Object({}, { additionalProperties: false });

/** One request to one route: valid parts, or exactly one part broken. */
export function apiCaseArbitrary(routes: readonly ApiRoute[], ids: KnownIds = {}): fc.Arbitrary<ApiCase> {
  return fc.constantFrom(...routes).chain((route) => routeCase(route, ids));
}

export function routeCase(route: ApiRoute, ids: KnownIds): fc.Arbitrary<ApiCase> {
  const paramsSchema = route.params ?? EmptyObject;
  const querySchema = route.querystring;
  const bodySchema = route.kind === 'rpc' ? route.body : undefined;
  const broken: ApiCase['broken'][] = ['none', 'none', 'none'];
  if (route.params && canBeInvalid(route.params)) broken.push('params');
  if (querySchema && canBeInvalid(querySchema)) broken.push('querystring');
  if (route.kind === 'rpc' && route.method !== 'GET') broken.push('body', 'raw-body', 'content-type');

  return fc
    .record({
      broken: fc.constantFrom(...broken),
      credentials: fc.constantFrom<Credentials>('user', 'user', 'user', 'user', 'user', 'none', 'garbage'),
      seed: fc.nat(),
    })
    .chain(({ broken: part, credentials }) =>
      fc
        .record({
          params: part === 'params' ? invalidArbitrary(paramsSchema) : validWithIds(paramsSchema, ids),
          query: querySchema
            ? part === 'querystring'
              ? invalidArbitrary(querySchema)
              : (querySchema as { required?: string[] }).required?.length
                ? validWithIds(querySchema, ids)
                : fc.option(validWithIds(querySchema, ids), { freq: 4 })
            : fc.constant(null),
          body: bodySchema
            ? part === 'body'
              ? invalidArbitrary(bodySchema)
              : optionalSchema(bodySchema)
                ? fc.option(validWithIds(bodySchema, ids), { freq: 3 }).map((v) => v ?? undefined)
                : validWithIds(bodySchema, ids)
            : part === 'body'
              ? fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), {
                  minKeys: 1,
                  maxKeys: 2,
                })
              : fc.constant(undefined),
          raw: rawBodies,
        })
        .map(({ params, query, body, raw }): ApiCase => {
          const paramValues = (typeof params === 'object' && params !== null ? params : {}) as Record<
            string,
            unknown
          >;
          let valid = true;
          let rerouted = false;
          let path = route.url;
          const carried: Record<string, unknown> = {};
          for (const name of (route.url.match(/:[A-Za-z0-9_]+/g) ?? []).map((p) => p.slice(1))) {
            const value = paramValues[name];
            const text = percentEncoded(value === undefined ? '' : asText(value));
            if (value !== undefined) carried[name] = decodeURIComponent(text);
            // An empty segment is another route (`/rooms/` is `/rooms`): judged as a refusal or that route's answer.
            if (text === '') rerouted = true;
            path = path.replace(`:${name}`, text);
          }
          // Judged by what the path carries (an unknown key of the object is not in it). An invalid
          // parameter may route elsewhere (an empty segment): the oracle then only asks for a
          // well-formed refusal.
          if (route.params && !partIsValid(route.params, carried)) valid = false;
          // Judged by what the URL carries (a query that is not an object sends nothing at all).
          const search = querySchema && query !== null ? queryText(query) : '';
          if (querySchema && !partIsValid(querySchema, parsedQuery(search))) valid = false;
          const headers: Record<string, string> = {};
          let text: string | undefined;
          if (part === 'raw-body') {
            text = raw;
            headers['content-type'] = 'application/json';
            try {
              const parsed: unknown = JSON.parse(raw);
              // JSON null and `{}` are no body at all to the gateway (a route without one takes them).
              const noBody =
                parsed === null ||
                (typeof parsed === 'object' && !Array.isArray(parsed) && Object.keys(parsed).length === 0);
              if (bodySchema ? !checkerOf(bodySchema)(parsed) : !noBody) valid = false;
            } catch {
              valid = false;
            }
            if (raw === '' && (!bodySchema || optionalSchema(bodySchema))) valid = false; // empty JSON: 400
          } else if (part === 'content-type') {
            text = JSON.stringify(body ?? {});
            headers['content-type'] = 'text/plain';
            valid = false;
          } else if (body !== undefined) {
            text = JSON.stringify(body);
            headers['content-type'] = 'application/json';
            if (!bodySchema || !checkerOf(bodySchema)(body)) valid = false;
          }
          if (credentials === 'user') headers['authorization'] = 'Bearer {{token}}';
          if (credentials === 'garbage')
            headers['authorization'] = 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
          return {
            [fc.toStringMethod]: () =>
              `${route.method} /api${path} body=${text ?? '(none)'} (${part}, ${credentials})`,
            route,
            rerouted,
            method: route.method,
            url: `/api${path}${search}`,
            headers,
            body: text,
            credentials,
            valid: valid && part !== 'content-type',
            broken: part,
          };
        }),
    );
}

/** Statuses a route may answer with: its success, and the typed refusals. */
export function declaredStatuses(route: ApiRoute): Set<number> {
  const success = route.kind === 'rpc' ? [route.status ?? 200] : [200, 201, 204, 206, 304];
  // 404: a path whose parameter the router cannot match; 413/414/415/431: what the HTTP layer refuses.
  return new Set([...success, 400, 401, 403, 404, 409, 413, 414, 415, 429, 431, 503]);
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return text;
  }
}

/** What is wrong with an answer to a case, or undefined when it is what the contract promises. */
export function judgeAnswer(apiCase: ApiCase, answer: Answer): string | undefined {
  const { route } = apiCase;
  const { status } = answer;
  if (status >= 500 && status !== 503) return `status ${status}`;
  if (!declaredStatuses(route).has(status) && !apiCase.rerouted) return `undeclared status ${status}`;
  if (status >= 400) {
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return `a ${status} whose body is not JSON: ${answer.text.slice(0, 200)}`;
    }
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error !== 'object' || error === null) return `a ${status} without {error}`;
    if (!isErrorCode(error.code))
      return `a ${status} with code ${String(error.code)} (not one of ${errorCodes.join(', ')})`;
    if (typeof error.message !== 'string' || error.message === '') return `a ${status} without a message`;
    const expected = httpStatusOf(error.code);
    if (expected !== status && !(error.code === 'validation' && [413, 414, 415, 431].includes(status)))
      return `code ${error.code} with status ${status}`;
    if (/\bat .+\.ts:\d+|node_modules/.test(answer.text))
      return `a stack trace in ${answer.text.slice(0, 200)}`;
    // SQL the request itself carried may be echoed (a parameter in the details); other SQL may not.
    const sql =
      /\b(SELECT \S+ FROM|INSERT INTO|UPDATE \S+ SET|DELETE FROM)\b|syntax error at or near|violates \S+ constraint/;
    if (sql.test(answer.text) && !sql.test(`${safeDecode(apiCase.url)} ${apiCase.body ?? ''}`))
      return `SQL in ${answer.text.slice(0, 200)}`;
    return undefined;
  }
  // Another route's success; its own fuzzing judges it.
  if (apiCase.rerouted) return undefined;
  // A success: only for a request every part of which is valid and authenticated.
  if (!apiCase.valid) return `a ${status} for an invalid request (${apiCase.broken})`;
  if (route.auth !== 'public' && apiCase.credentials !== 'user') return `a ${status} without credentials`;
  if (route.kind === 'rpc' && status !== 204) {
    let body: unknown;
    try {
      body = JSON.parse(answer.text);
    } catch {
      return `a ${status} whose body is not JSON`;
    }
    if (!checkerOf(route.response)(body))
      return `a ${status} whose body does not match the declared response`;
  }
  return undefined;
}
