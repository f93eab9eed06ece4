/**
 * The bad-input table: every hostile or malformed request gets the right typed error, nothing leaks
 * (no stack, no SQL), and the gateway keeps serving. Runs through app.inject() and the real listener.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { tokenSecretOf } from '../src/app.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let token = '';
let userId = '';
before(async () => {
  h = await startHarness(import.meta.filename, {
    REQUIRE_VERIFIED_EMAIL: 'false',
    REGISTER_LIMIT_PER_IP: '1000',
    LOGIN_LIMIT_PER_IP: '1000',
  });
  await inject('POST', '/api/auth/register', {
    email: 'table@example.org',
    password: 'long enough password',
    displayName: 'Table',
  });
  const login = await inject('POST', '/api/auth/login', {
    email: 'table@example.org',
    password: 'long enough password',
  });
  token = login.body.accessToken;
  userId = login.body.userId;
});
after(() => h?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are arbitrary JSON
type Body = any;
async function inject(method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) {
  const r = await h.gateway.app.inject({
    method: method as 'POST',
    url,
    headers,
    ...(payload === undefined
      ? {}
      : typeof payload === 'string'
        ? { payload }
        : { payload: payload as object }),
  });
  return {
    status: r.statusCode,
    body: r.body ? JSON.parse(r.body) : undefined,
    raw: r.body,
    headers: r.headers,
  };
}

function assertCleanError(raw: string) {
  assert.doesNotMatch(
    raw,
    /node_modules|\bat .*\(|select |insert |violates|postgres/i,
    'no stack or SQL in the answer',
  );
}

const register = (body: unknown) => inject('POST', '/api/auth/register', body);
const valid = { email: 'ok@example.org', password: 'long enough password', displayName: 'Ok' };

describe('bad input is refused with a typed error', () => {
  const cases: [string, () => Promise<{ status: number; body: Body; raw: string }>, number, string][] = [
    ['email of the wrong type', () => register({ ...valid, email: 42 }), 400, 'validation'],
    ['password as an array', () => register({ ...valid, password: ['a'] }), 400, 'validation'],
    [
      'display name as an object',
      () => register({ ...valid, displayName: { $ne: null } }),
      400,
      'validation',
    ],
    ['null body fields', () => register({ ...valid, email: null }), 400, 'validation'],
    ['a missing field', () => register({ email: valid.email, password: valid.password }), 400, 'validation'],
    ['an unknown field', () => register({ ...valid, role: 'admin' }), 400, 'validation'],
    [
      'a prototype-pollution key',
      () =>
        inject(
          'POST',
          '/api/auth/register',
          '{"email":"p@example.org","password":"long enough password","displayName":"P","__proto__":{"role":"admin"}}',
          { 'content-type': 'application/json' },
        ),
      400,
      'validation',
    ],
    ['an array body', () => inject('POST', '/api/auth/login', [1, 2]), 400, 'validation'],
    [
      'invalid JSON',
      () => inject('POST', '/api/auth/login', '{"email": ', { 'content-type': 'application/json' }),
      400,
      'validation',
    ],
    [
      'a non-JSON content type',
      () => inject('POST', '/api/auth/login', 'email=a', { 'content-type': 'text/plain' }),
      415,
      'validation',
    ],
    ['an oversize body', () => register({ ...valid, displayName: 'x'.repeat(70_000) }), 413, 'validation'],
    [
      'a password over 256 characters',
      () => register({ ...valid, password: 'p'.repeat(257) }),
      400,
      'validation',
    ],
    ['a short password', () => register({ ...valid, password: 'short' }), 400, 'validation'],
    ['a trivial password', () => register({ ...valid, password: 'aaaaaaaaaaaa' }), 400, 'validation'],
    ['an address without @', () => register({ ...valid, email: 'no-at.example.org' }), 400, 'validation'],
    [
      'an address without a domain dot',
      () => register({ ...valid, email: 'a@localhost' }),
      400,
      'validation',
    ],
    ['an address with two @', () => register({ ...valid, email: 'a@@example.org' }), 400, 'validation'],
    ['an address with a space', () => register({ ...valid, email: 'a b@example.org' }), 400, 'validation'],
    [
      'an address with markup',
      () => register({ ...valid, email: '<script>@example.org' }),
      400,
      'validation',
    ],
    [
      'an address with a newline (header injection)',
      () => register({ ...valid, email: 'a@example.org\r\nBcc: x@evil.org' }),
      400,
      'validation',
    ],
    ['a non-ASCII address', () => register({ ...valid, email: 'zoë@example.org' }), 400, 'validation'],
    [
      'a name with a right-to-left override',
      () => register({ ...valid, email: 'rlo@example.org', displayName: 'admin\u202Egnp.exe' }),
      400,
      'validation',
    ],
    [
      'a name of zero-width spaces',
      () => register({ ...valid, email: 'zw@example.org', displayName: '\u200B\u200B' }),
      400,
      'validation',
    ],
    [
      'a name of blanks',
      () => register({ ...valid, email: 'blank@example.org', displayName: '   ' }),
      400,
      'validation',
    ],
    [
      'a name with a NUL',
      () => register({ ...valid, email: 'nul@example.org', displayName: 'a\u0000b' }),
      400,
      'validation',
    ],
    [
      'a name with a lone surrogate',
      () =>
        inject(
          'POST',
          '/api/auth/register',
          '{"email":"sur@example.org","password":"long enough password","displayName":"a\\ud800b"}',
          { 'content-type': 'application/json' },
        ),
      400,
      'validation',
    ],
    [
      'a name over 64 characters',
      () => register({ ...valid, email: 'long@example.org', displayName: 'n'.repeat(65) }),
      400,
      'validation',
    ],
    [
      'an unknown locale',
      () => register({ ...valid, email: 'loc@example.org', locale: 'de' }),
      400,
      'validation',
    ],
    [
      'an unknown time zone',
      () =>
        register({ ...valid, email: 'tz@example.org', timeZone: "Europe/Moscow'; drop table accounts; --" }),
      400,
      'validation',
    ],
    [
      'a malformed verification token',
      () => inject('POST', '/api/auth/verify', { token: "' OR 1=1 --" }),
      400,
      'validation',
    ],
    [
      'an unknown verification token',
      () => inject('POST', '/api/auth/verify', { token: 'A'.repeat(43) }),
      400,
      'validation',
    ],
    [
      'an unknown refresh token',
      () => inject('POST', '/api/auth/refresh', { refreshToken: 'B'.repeat(43) }),
      401,
      'unauthorized',
    ],
    [
      'SQL in the login address',
      () => inject('POST', '/api/auth/login', { email: "x'or'1'='1@example.org", password: "' OR '1'='1" }),
      401,
      'unauthorized',
    ],
    ['no token', () => inject('GET', '/api/me'), 401, 'unauthorized'],
    [
      'a Basic credential',
      () => inject('GET', '/api/me', undefined, { authorization: 'Basic YTpi' }),
      401,
      'unauthorized',
    ],
    [
      'a garbage token',
      () => inject('GET', '/api/me', undefined, { authorization: 'Bearer abc.def.ghi' }),
      401,
      'unauthorized',
    ],
    [
      'a body on a body-less route',
      () => inject('POST', '/api/auth/logout', { everything: true }, { authorization: `Bearer ${token}` }),
      400,
      'validation',
    ],
    [
      'a JSON array on a body-less route (found by libs/fuzz)',
      () =>
        inject('POST', '/api/auth/logout', '[]', {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
        }),
      400,
      'validation',
    ],
    [
      'a path parameter that is not a session id',
      () =>
        inject('DELETE', "/api/me/sessions/1'%20or%20'1'='1", undefined, {
          authorization: `Bearer ${token}`,
        }),
      400,
      'validation',
    ],
    [
      'a non-numeric limit',
      () => inject('GET', '/api/users?q=a&limit=ten', undefined, { authorization: `Bearer ${token}` }),
      400,
      'validation',
    ],
    [
      'an unknown query parameter',
      () => inject('GET', '/api/users?q=a&debug=1', undefined, { authorization: `Bearer ${token}` }),
      400,
      'validation',
    ],
    ['an unknown route', () => inject('GET', '/api/nothing/here'), 404, 'not_found'],
  ];
  for (const [name, run, status, code] of cases) {
    it(name, async () => {
      const r = await run();
      assert.equal(r.status, status, r.raw);
      if (code) {
        assert.equal(r.body.error.code, code, r.raw);
        assert.equal(typeof r.body.error.message, 'string');
      }
      assertCleanError(r.raw);
    });
  }

  it('stores SQL and script text literally where it is allowed, and finds nothing with LIKE wildcards', async () => {
    const nasty = "Robert'); DROP TABLE accounts;-- <script>alert(1)</script>";
    const created = await register({
      email: "o'brien+tag@example.org",
      password: 'long enough password',
      displayName: nasty,
    });
    assert.equal(created.status, 201, created.raw);
    const login = await inject('POST', '/api/auth/login', {
      email: "O'Brien+tag@EXAMPLE.org",
      password: 'long enough password',
    });
    assert.equal(login.status, 200, login.raw);
    const me = await inject('GET', '/api/me', undefined, {
      authorization: `Bearer ${login.body.accessToken}`,
    });
    assert.equal(me.body.displayName, nasty);
    assert.match(String(me.headers['content-type']), /^application\/json/);
    const search = await inject('GET', `/api/users?q=${encodeURIComponent("' OR '1'='1")}`, undefined, {
      authorization: `Bearer ${token}`,
    });
    assert.deepEqual(search.body, { users: [] });
    const wildcards = await inject('GET', '/api/users?q=_', undefined, { authorization: `Bearer ${token}` });
    assert.deepEqual(wildcards.body, { users: [] });
    const composed = await register({
      email: 'nfc@example.org',
      password: 'long enough password',
      displayName: 'Zoe\u0301 🎉',
    });
    assert.equal(composed.status, 201, composed.raw);
  });
});

describe('access tokens', () => {
  const key = () => new TextEncoder().encode(tokenSecretOf(h.config));
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const me = (t: string) => inject('GET', '/api/me', undefined, { authorization: `Bearer ${t}` });

  it('refuses expired, forged, alg-none, wrong-audience and tampered tokens', async () => {
    const claims = { sid: 'nope', role: 'admin' };
    const base = () =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuer('veche-gateway');
    const expired = await base()
      .setAudience('veche')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
      .sign(key());
    const forged = await base()
      .setAudience('veche')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('someone else’s key, 32+ characters'));
    const audience = await base().setAudience('elsewhere').setExpirationTime('5m').sign(key());
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: userId, sid: 'x', role: 'admin', iss: 'veche-gateway', aud: 'veche', exp: 9_999_999_999 })}.`;
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${b64({ sub: userId, sid: 'x', role: 'admin', iss: 'veche-gateway', aud: 'veche', exp: 9_999_999_999 })}.${signature}`;
    const expiredAnswer = await me(expired);
    assert.equal(expiredAnswer.status, 401);
    assert.equal(expiredAnswer.body.error.details.reason, 'expired');
    for (const t of [forged, audience, algNone, tampered, `${token}x`]) {
      const r = await me(t);
      assert.equal(r.status, 401, t);
      assert.equal(r.body.error.code, 'unauthorized');
    }
    // A valid signature on a session that does not exist is refused too.
    const ghost = await base().setAudience('veche').setExpirationTime('5m').sign(key());
    assert.equal((await me(ghost)).status, 401);
  });
});

describe('the real listener', () => {
  it('answers with security headers and a request id, and still serves after the table', async () => {
    const r = await fetch(`${h.baseUrl}/api/health`, { headers: { 'x-request-id': 'req-12345678' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-request-id'), 'req-12345678');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(r.headers.get('content-security-policy'));
    const ready = await fetch(`${h.baseUrl}/api/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: 'ready',
      checks: { postgres: true, rabbitmq: true, wamp: true },
    });
  });

  it('refuses an oversize body over the wire without reading it all', async () => {
    const r = await fetch(`${h.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'x'.repeat(200_000) }),
    });
    assert.equal(r.status, 413);
    assert.equal(((await r.json()) as Body).error.code, 'validation');
  });

  it('serves the OpenAPI document and the docs page', async () => {
    const json = (await (await fetch(`${h.baseUrl}/api/docs/json`)).json()) as Body;
    assert.equal(json.openapi, '3.1.0');
    assert.ok(json.paths['/api/auth/login'].post);
    assert.ok(json.paths['/api/me'].get.security);
    // The error shape is documented on every route.
    assert.ok(
      Object.keys(json.paths['/api/auth/login'].post.responses as Record<string, unknown>).some(
        (status: string) => /^4xx$/i.test(status),
      ),
    );
    const page = await fetch(`${h.baseUrl}/api/docs/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /swagger/i);
  });
});
