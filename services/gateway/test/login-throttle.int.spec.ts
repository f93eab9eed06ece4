/**
 * Password guessing is slowed, never turned into a lock (issue 13, OWASP): growing waits by client
 * address and by account, a known device judged on its own failures, re-entered passwords counted on
 * the session. "The wait has run out" is arranged by moving the stored deadline, not by sleeping.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from '@veche/db';
import { createLogger } from '@veche/log';
import { createGateway, type Gateway } from '../src/app.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let replica: Gateway | undefined;
before(async () => {
  h = await startHarness(import.meta.filename, {
    REQUIRE_VERIFIED_EMAIL: 'false',
    LOGIN_FAILURES_PER_ACCOUNT: '3',
    LOGIN_FAILURES_PER_IP: '5',
    LOGIN_FAILURES_PER_DEVICE: '3',
    LOGIN_LIMIT_PER_IP: '1000',
    // Long enough that a slow machine never sees a wait run out by itself between two requests.
    LOGIN_FIRST_DELAY_SECONDS: '60',
    LOGIN_MAX_DELAY_SECONDS: '3600',
  });
});
after(async () => {
  await replica?.stop();
  await h?.close();
});

const password = 'the right password';
const wrong = 'not the password';

async function register(email: string) {
  const r = await h.gateway.app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { email, password, displayName: email.split('@')[0] },
    headers: { 'x-forwarded-for': '198.51.100.200' },
  });
  assert.equal(r.statusCode, 201, r.body);
}

interface Attempt {
  status: number;
  retryAfter: number | undefined;
  device: string | undefined;
  accessToken: string | undefined;
}

async function login(
  email: string,
  secret: string,
  ip: string,
  device?: string,
  gateway: Gateway = h.gateway,
): Promise<Attempt> {
  const r = await gateway.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email, password: secret },
    headers: { 'x-forwarded-for': ip },
    ...(device ? { cookies: { veche_device: device } } : {}),
  });
  const body = r.json<{ accessToken?: string; error?: { code: string } }>();
  if (r.statusCode === 429) assert.equal(body.error?.code, 'rate_limited');
  return {
    status: r.statusCode,
    retryAfter: r.headers['retry-after'] === undefined ? undefined : Number(r.headers['retry-after']),
    device: r.cookies.find((c) => c.name === 'veche_device')?.value,
    accessToken: body.accessToken,
  };
}

/** Every wait under way has run out (as if its Retry-After had passed). */
async function waitsRunOut() {
  await sql`update login_throttle set blocked_until = now() where blocked_until > now()`.execute(
    h.database.db,
  );
}

describe('log-in throttling', () => {
  it('wrong passwords make the next try wait longer and longer; after the wait the right password gets in', async () => {
    await register('grow@example.org');
    const statuses = [];
    for (let i = 0; i < 4; i += 1)
      statuses.push((await login('grow@example.org', wrong, `192.0.2.${i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401], 'three free failures, the fourth starts a wait');
    const waits: (number | undefined)[] = [];
    for (let round = 0; round < 3; round += 1) {
      const refused = await login('grow@example.org', password, '192.0.2.100');
      assert.equal(refused.status, 429, 'even the right password waits: guesses are not checked meanwhile');
      waits.push(refused.retryAfter);
      await waitsRunOut();
      assert.equal((await login('grow@example.org', wrong, `192.0.2.${10 + round}`)).status, 401);
    }
    // Retry-After counts down from 60, 120, 240 s.
    assert.deepEqual(
      waits.map((w) => Math.ceil((w ?? 0) / 60)),
      [1, 2, 4],
    );
    await waitsRunOut();
    const owner = await login('grow@example.org', password, '192.0.2.100');
    assert.equal(owner.status, 200);
    assert.ok(owner.device, 'a successful log-in hands out a device token');
  });

  it('an unknown address is throttled exactly like a known one (no account enumeration)', async () => {
    const statuses = [];
    for (let i = 0; i < 5; i += 1)
      statuses.push((await login('nobody-here@example.org', wrong, `192.0.2.${40 + i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
  });

  it('the owner’s known device gets in at once while an attacker keeps the account waiting', async () => {
    await register('owner@example.org');
    const first = await login('owner@example.org', password, '198.51.100.7');
    assert.equal(first.status, 200);
    for (let i = 0; i < 4; i += 1) await login('owner@example.org', wrong, `192.0.2.${60 + i}`);
    assert.equal((await login('owner@example.org', password, '198.51.100.8')).status, 429);
    // From the attacker's own address too: a known device does not answer for the address.
    const known = await login('owner@example.org', password, '192.0.2.60', first.device);
    assert.equal(known.status, 200);
    assert.ok(known.device);

    // The device token of another account is no key to this one.
    await register('someone-else@example.org');
    const other = await login('someone-else@example.org', password, '198.51.100.9');
    for (let i = 0; i < 4; i += 1) await login('owner@example.org', wrong, `192.0.2.${70 + i}`);
    assert.equal((await login('owner@example.org', password, '198.51.100.9', other.device)).status, 429);

    // A stolen device token does not help guessing: after its own free failures it is judged like
    // any other client, and the account is waiting.
    await waitsRunOut();
    const device = known.device;
    const deviceStatuses = [];
    for (let i = 0; i < 4; i += 1)
      deviceStatuses.push((await login('owner@example.org', wrong, '203.0.113.80', device)).status);
    assert.deepEqual(deviceStatuses, [401, 401, 401, 401]);
    for (let i = 0; i < 4; i += 1) await login('owner@example.org', wrong, `192.0.2.${80 + i}`);
    assert.equal((await login('owner@example.org', password, '203.0.113.80', device)).status, 429);
  });

  it('password spraying from one address is slowed whatever the accounts; other addresses and known devices are not', async () => {
    await register('sprayed-owner@example.org');
    const known = await login('sprayed-owner@example.org', password, '203.0.113.50');
    const statuses = [];
    for (let i = 0; i < 10; i += 1)
      statuses.push((await login(`spray${i}@example.org`, wrong, '203.0.113.50')).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401, 429, 429, 429, 429]);
    await waitsRunOut();
    assert.equal((await login('spray10@example.org', wrong, '203.0.113.50')).status, 401);
    const second = await login('spray11@example.org', wrong, '203.0.113.50');
    assert.equal(second.status, 429);
    assert.ok((second.retryAfter ?? 0) > 60 && (second.retryAfter ?? 0) <= 120, String(second.retryAfter));
    assert.equal((await login('spray11@example.org', wrong, '203.0.113.51')).status, 401);
    assert.equal(
      (await login('sprayed-owner@example.org', password, '203.0.113.50', known.device)).status,
      200,
    );
  });

  it('a wrong current password while signed in slows that session only, never the log-in', async () => {
    await register('changer@example.org');
    const session = await login('changer@example.org', password, '198.51.100.30');
    const change = (currentPassword: string, url = '/api/me/password') =>
      h.gateway.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${session.accessToken ?? ''}` },
        payload:
          url === '/api/me/password'
            ? { currentPassword, newPassword: 'a brand new password' }
            : { newEmail: 'changed@example.org', password: currentPassword },
      });
    const statuses = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await change(wrong)).statusCode);
    assert.deepEqual(statuses, [403, 403, 403, 403, 429]);
    assert.equal(
      (await change(wrong, '/api/me/email')).statusCode,
      429,
      'the e-mail change asks the same session',
    );
    assert.equal((await login('changer@example.org', password, '198.51.100.31')).status, 200);
  });

  it('holds across replicas: a second gateway on the same database sees the wait', async () => {
    replica = await createGateway({
      config: h.config,
      log: createLogger({ service: 't', level: 'silent' }),
      database: h.database,
      internalUrls: {},
    });
    await replica.start({ listen: false });
    await register('replicated@example.org');
    for (let i = 0; i < 4; i += 1) await login('replicated@example.org', wrong, `192.0.2.${120 + i}`);
    const refused = await login('replicated@example.org', password, '198.51.100.40', undefined, replica);
    assert.equal(refused.status, 429);
    assert.ok((refused.retryAfter ?? 0) > 0 && (refused.retryAfter ?? 0) <= 60, String(refused.retryAfter));
  });
});
