/**
 * Table rows for the security tests: every string field of every `/api` route (path parameters,
 * query and body, as the contracts declare them) with each SQL-injection and path-traversal string in
 * turn, the rest of the request valid. Deterministic (the base values come from a fixed seed), so a
 * row that fails names the route, the field and the string, and fails the same way the next run.
 */
import fc from 'fast-check';
import type { TSchema } from '@sinclair/typebox';
import type { ApiRoute } from '@veche/contracts';
import { partIsValid, percentEncoded, queryText, type ApiCase } from './api.ts';
import { checkerOf, validArbitrary } from './schema.ts';

/** SQL injection: quotes closing a literal, a stacked statement, a time-based probe, a comment. */
export const sqlInjectionStrings: readonly string[] = [
  "' OR '1'='1",
  "'; DROP TABLE events; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)--',
  "') UNION SELECT email, password_hash FROM accounts--",
];

/** Path traversal: relative climbs, encoded and Windows ones, an absolute device path. */
export const pathTraversalStrings: readonly string[] = [
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '..\\..\\..\\windows\\win.ini',
  '/dev/zero',
];

export const injectionStrings: readonly string[] = [...sqlInjectionStrings, ...pathTraversalStrings];

interface Shape {
  type?: string;
  anyOf?: Shape[];
  items?: Shape;
  properties?: Record<string, Shape>;
}

const takesString = (shape: Shape): boolean =>
  shape.type === 'string' || (shape.anyOf ?? []).some(takesString);
const takesStrings = (shape: Shape): boolean =>
  takesString(shape) || (shape.type === 'array' && shape.items !== undefined && takesString(shape.items));

/** The top-level keys of an object schema that take text (a string, or a list of strings). */
export function stringFields(schema: TSchema | undefined): string[] {
  const properties = (schema as Shape | undefined)?.properties ?? {};
  return Object.entries(properties)
    .filter(([, shape]) => takesStrings(shape))
    .map(([key]) => key);
}

/** A valid value of an object schema, the same every run. */
function baseOf(schema: TSchema | undefined, seed: number): Record<string, unknown> {
  if (!schema) return {};
  const [value] = fc.sample(validArbitrary(schema), { seed, numRuns: 1 });
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? { ...(value as Record<string, unknown>) }
    : {};
}

export interface HostileRow extends ApiCase {
  part: 'params' | 'querystring' | 'body';
  field: string;
  value: string;
  /** `PUT /rooms/:roomId/name body.name = "' OR '1'='1"` */
  label: string;
}

/**
 * One row per (route, string field, hostile string). `valid` says whether the contract accepts the
 * string there (then the answer may be a success, or a typed refusal such as 404; otherwise a 400).
 */
export function hostileRows(
  routes: readonly ApiRoute[],
  strings: readonly string[] = injectionStrings,
  seed = 21,
): HostileRow[] {
  const rows: HostileRow[] = [];
  for (const route of routes) {
    const bodySchema = route.kind === 'rpc' ? route.body : undefined;
    const base = {
      params: baseOf(route.params, seed),
      querystring: baseOf(route.querystring, seed),
      body: baseOf(bodySchema, seed),
    };
    const schemas = { params: route.params, querystring: route.querystring, body: bodySchema };
    for (const part of ['params', 'querystring', 'body'] as const) {
      const fields =
        part === 'params'
          ? (route.url.match(/:[A-Za-z0-9_]+/g) ?? []).map((p) => p.slice(1))
          : stringFields(schemas[part]);
      for (const field of fields) {
        const shape = ((schemas[part] as Shape | undefined)?.properties ?? {})[field];
        for (const value of strings) {
          const parts = structuredClone(base);
          parts[part][field] = shape?.type === 'array' ? [value] : value;
          rows.push(rowOf(route, parts, { part, field, value }));
        }
      }
    }
  }
  return rows;
}

function rowOf(
  route: ApiRoute,
  parts: {
    params: Record<string, unknown>;
    querystring: Record<string, unknown>;
    body: Record<string, unknown>;
  },
  what: { part: HostileRow['part']; field: string; value: string },
): HostileRow {
  const bodySchema = route.kind === 'rpc' ? route.body : undefined;
  let path = route.url;
  const carried: Record<string, unknown> = {};
  for (const name of (route.url.match(/:[A-Za-z0-9_]+/g) ?? []).map((p) => p.slice(1))) {
    const value = parts.params[name];
    const text = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
    carried[name] = text;
    path = path.replace(`:${name}`, percentEncoded(text));
  }
  const search = route.querystring ? queryText(parts.querystring) : '';
  let valid = true;
  if (route.params && !partIsValid(route.params, carried)) valid = false;
  if (route.querystring && !partIsValid(route.querystring, Object.fromEntries(new URLSearchParams(search))))
    valid = false;
  const sendsBody = route.method !== 'GET' && route.kind === 'rpc';
  const body = sendsBody ? JSON.stringify(bodySchema ? parts.body : {}) : undefined;
  if (bodySchema && !checkerOf(bodySchema)(parts.body)) valid = false;
  const headers: Record<string, string> = { authorization: 'Bearer {{token}}' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const label = `${route.method} ${route.url} ${what.part}.${what.field} = ${JSON.stringify(what.value)}`;
  return {
    [fc.toStringMethod]: () => label,
    route,
    method: route.method,
    url: `/api${path}${search}`,
    headers,
    body,
    credentials: 'user',
    valid,
    rerouted: false,
    broken: valid ? 'none' : what.part,
    label,
    ...what,
  };
}

/**
 * What an answer must never carry: files read, password hashes, SQL errors, stack traces. A marker
 * the request itself carried (echoed back in a validation error's details) does not count.
 */
export function leakIn(text: string, sent = ''): string | undefined {
  const markers: [RegExp, string][] = [
    [/root:.*:0:0:/, 'the contents of /etc/passwd'],
    [/\[(fonts|extensions)\]/i, 'the contents of win.ini'],
    [/\$argon2|\$2[aby]\$\d+\$|password_hash/i, 'a password hash'],
    [
      /syntax error at or near|unterminated quoted string|pg_sleep\(\d+\) does not|relation "\w+" does not exist/i,
      'a PostgreSQL error',
    ],
    [/\bat .+\.ts:\d+|node_modules/, 'a stack trace'],
  ];
  for (const [pattern, what] of markers) if (pattern.test(text) && !pattern.test(sent)) return what;
  return undefined;
}
