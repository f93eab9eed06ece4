/**
 * Every route the contracts declare, every text field in its path, query and body: a NUL, and (in
 * JSON bodies, the only place one can arrive) a lone surrogate, are refused with 400 `validation`
 * naming the field, never forwarded (chat and the mailer used to answer 500: PostgreSQL refuses NUL,
 * jsonb refuses lone surrogates). Every integer query field is read strictly: `1.5`, `1e400`, `0x10`
 * are 400, not 1, 1 and 16. A URL cannot carry a lone surrogate: percent-encoded, invalid UTF-8 is a
 * 400 in a path and stays literal text in a query string.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as contracts from '@veche/contracts';
import { compileRouteValidator, type ApiRoute } from '@veche/contracts';
import type { TSchema } from '@sinclair/typebox';
import { startHarness, type Harness } from './support/harness.ts';

const isRoute = (value: unknown): value is ApiRoute =>
  typeof value === 'object' &&
  value !== null &&
  'kind' in value &&
  (value.kind === 'rpc' || value.kind === 'stream') &&
  'url' in value &&
  'method' in value;
const routes: ApiRoute[] = Object.values(contracts).flatMap((value) =>
  Array.isArray(value) && value.length > 0 && value.every(isRoute) ? value : [],
);

type Part = 'params' | 'querystring' | 'body';
interface FieldSchema {
  type?: string;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  minItems?: number;
  items?: FieldSchema;
  anyOf?: FieldSchema[];
  const?: unknown;
  properties?: Record<string, FieldSchema>;
  required?: string[];
  minProperties?: number;
}
const objectOf = (schema: TSchema | undefined): FieldSchema | undefined =>
  schema && (schema as FieldSchema).properties ? (schema as FieldSchema) : undefined;

/** Candidates for strings with a pattern, tried in order: the first that fits is the sample. */
const stringCandidates = [
  'someone@example.org',
  '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  '1234',
  'key-1',
  '1000*',
  '*',
  'wss://veche.example.org/pubsub/federation',
];
function sampleString(field: FieldSchema): string {
  const min = Math.max(1, field.minLength ?? 1);
  const fits = (value: string) =>
    value.length >= min &&
    value.length <= (field.maxLength ?? Infinity) &&
    (field.pattern === undefined || new RegExp(field.pattern).test(value));
  const found = ['x'.repeat(min), ...stringCandidates].find(fits);
  assert.ok(found !== undefined, `no sample for the pattern ${field.pattern}`);
  return found;
}
/** A valid value of a schema (the test checks it against the route's own validator below). */
function sample(field: FieldSchema): unknown {
  if (field.const !== undefined) return field.const;
  if (field.anyOf?.[0]) return sample(field.anyOf[0]);
  switch (field.type) {
    case 'integer':
    case 'number':
      return field.minimum ?? 1;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      return (field.minItems ?? 0) > 0 && field.items ? [sample(field.items)] : [];
    case 'object':
      return sampleObject(field);
    case 'string':
    case undefined:
    default:
      return sampleString(field);
  }
}
function sampleObject(object: FieldSchema | undefined): Record<string, unknown> {
  const required = object?.required ?? [];
  const names = [
    ...required,
    // `PATCH /me` needs one field at least: the first optional ones then.
    ...Object.keys(object?.properties ?? {})
      .filter((name) => !required.includes(name))
      .slice(0, Math.max(0, (object?.minProperties ?? 0) - required.length)),
  ];
  return Object.fromEntries(names.map((name) => [name, sample(object?.properties?.[name] ?? {})]));
}

/** The route's parts filled with valid values: a bad field then is the request's only fault. */
function validInput(route: ApiRoute): Record<Part, Record<string, unknown>> {
  const parts: Record<Part, Record<string, unknown>> = { params: {}, querystring: {}, body: {} };
  for (const part of ['params', 'querystring', 'body'] as const) {
    const schema = part === 'body' ? (route.kind === 'rpc' ? route.body : undefined) : route[part];
    parts[part] = sampleObject(objectOf(schema));
    if (schema) {
      const result = compileRouteValidator({ schema, httpPart: part })(parts[part]);
      assert.ok('value' in result, `${route.method} ${route.url}: the test's ${part} sample is invalid`);
    }
  }
  return parts;
}

function urlOf(route: ApiRoute, params: Record<string, unknown>, query: Record<string, unknown>): string {
  const path = route.url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) =>
    encodeURIComponent(String(params[name])),
  );
  const search = new URLSearchParams(
    Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return `/api${path}${search ? `?${search}` : ''}`;
}

let h: Harness;
const tokens: Record<'user' | 'admin', string> = { user: '', admin: '' };

async function login(email: string): Promise<string> {
  const app = h.gateway.app;
  const password = 'long enough password';
  await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { email, password, displayName: email.split('@')[0] },
  });
  const response = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password } });
  return response.json<{ accessToken: string }>().accessToken;
}

before(async () => {
  h = await startHarness(import.meta.filename, {
    REQUIRE_VERIFIED_EMAIL: 'false',
    VECHE_ADMIN_EMAIL: 'admin@example.org',
    REGISTER_LIMIT_PER_IP: '1000',
    LOGIN_LIMIT_PER_IP: '1000',
  });
  tokens.user = await login('user@example.org');
  tokens.admin = await login('admin@example.org');
});
after(() => h?.close());

interface Answer {
  status: number;
  body: { error?: { code?: string; details?: { in?: string; path?: string }[] } } | undefined;
}

async function send(route: ApiRoute, url: string, payload?: string): Promise<Answer> {
  const response = await h.gateway.app.inject({
    method: route.method,
    url,
    headers: {
      ...(route.auth === 'public' ? {} : { authorization: `Bearer ${tokens[route.auth]}` }),
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload }),
  });
  return { status: response.statusCode, body: response.body ? response.json() : undefined };
}

/** `validation`, 400, and the field named among the details: refused for this field, not another. */
function refusedFor(answer: Answer, field: string): string | undefined {
  const paths = (answer.body?.error?.details ?? []).map((d) => d.path);
  if (answer.status === 400 && answer.body?.error?.code === 'validation' && paths.includes(`/${field}`))
    return undefined;
  return `${answer.status} ${JSON.stringify(answer.body).slice(0, 160)}`;
}

describe('text fields refuse NUL and lone surrogates, on every route', () => {
  it('covers every declared route', () => {
    assert.ok(routes.length >= 50, `${routes.length} routes`);
  });
  for (const route of routes) {
    it(`${route.method} ${route.url}`, async () => {
      const valid = validInput(route);
      const failures: string[] = [];
      for (const part of ['params', 'querystring', 'body'] as const) {
        if (part === 'body' && route.kind !== 'rpc') continue;
        const schema = part === 'body' ? (route.kind === 'rpc' ? route.body : undefined) : route[part];
        for (const [name, field] of Object.entries(objectOf(schema)?.properties ?? {})) {
          if (field.type !== 'string' || field.const !== undefined) continue;
          const values: [string, string][] = [['NUL', `a\u0000b`]];
          if (part === 'body') values.push(['lone surrogate', 'a\uD800b'], ['lone low surrogate', '\uDC00']);
          for (const [label, bad] of values) {
            const input = { ...valid, [part]: { ...valid[part], [name]: bad } };
            const body = route.kind === 'rpc' && route.body ? JSON.stringify(input.body) : undefined;
            const answer = await send(route, urlOf(route, input.params, input.querystring), body);
            const problem = refusedFor(answer, name);
            if (problem) failures.push(`${part}.${name} with ${label}: ${problem}`);
          }
        }
      }
      assert.deepEqual(failures, []);
    });
  }
  it('a percent-encoded surrogate in a path is a 400, never a value', async () => {
    const route = routes.find((r) => r.url === '/rooms/:roomId');
    assert.ok(route);
    const answer = await send(route, '/api/rooms/%ED%A0%80');
    assert.equal(answer.status, 400);
  });
});

describe('integer query fields are read strictly', () => {
  const withIntegers = routes.flatMap((route) =>
    Object.entries(objectOf(route.querystring)?.properties ?? {})
      .filter(([, field]) => field.type === 'integer')
      .map(([name]) => ({ route, name })),
  );
  it('there are integer query fields to check', () => {
    assert.ok(withIntegers.length >= 8, `${withIntegers.length} fields`);
  });
  for (const { route, name } of withIntegers) {
    it(`${route.method} ${route.url} ?${name}=`, async () => {
      const valid = validInput(route);
      const failures: string[] = [];
      for (const bad of ['1.5', '1e400', '0x10', '1e1', ' 5', '+5', '05']) {
        const url = urlOf(route, valid.params, { ...valid.querystring, [name]: bad });
        const problem = refusedFor(await send(route, url), name);
        if (problem) failures.push(`${name}=${bad}: ${problem}`);
      }
      assert.deepEqual(failures, []);
    });
  }
});
