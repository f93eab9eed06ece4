/** Rate limits: per IP (the real client behind a trusted proxy), per address asked for, with Retry-After. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@veche/log';
import { createGateway, type Gateway } from '../src/app.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let replica: Gateway | undefined;
before(async () => {
  h = await startHarness(import.meta.filename, {
    REQUIRE_VERIFIED_EMAIL: 'false',
    REGISTER_LIMIT_PER_IP: '3',
    LOGIN_LIMIT_PER_IP: '6',
    MAIL_LIMIT_PER_IP: '100',
    MAIL_LIMIT_PER_ACCOUNT: '2',
    RATE_WINDOW_SECONDS: '60',
  });
});
after(async () => {
  await replica?.stop();
  await h?.close();
});

async function post(url: string, payload: object, ip: string) {
  const r = await h.gateway.app.inject({ method: 'POST', url, payload, headers: { 'x-forwarded-for': ip } });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- arbitrary JSON
  return { status: r.statusCode, body: r.json<any>(), retryAfter: r.headers['retry-after'] };
}
const password = 'long enough password';

describe('rate limits', () => {
  it('registration is limited per client address, and the proxy’s X-Forwarded-For names the client', async () => {
    for (let i = 0; i < 3; i += 1) {
      assert.equal(
        (
          await post(
            '/api/auth/register',
            { email: `r${i}@example.org`, password, displayName: `R${i}` },
            '203.0.113.7',
          )
        ).status,
        201,
      );
    }
    const refused = await post(
      '/api/auth/register',
      { email: 'r9@example.org', password, displayName: 'R9' },
      '203.0.113.7',
    );
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, 'rate_limited');
    assert.ok(Number(refused.retryAfter) > 0 && Number(refused.retryAfter) <= 60, String(refused.retryAfter));
    assert.equal(refused.body.error.details.retryAfterSeconds, Number(refused.retryAfter));
    // Another client behind the same proxy is not affected.
    assert.equal(
      (
        await post(
          '/api/auth/register',
          { email: 'r9@example.org', password, displayName: 'R9' },
          '198.51.100.1',
        )
      ).status,
      201,
    );
  });

  it('limits log-in attempts per address whatever the account, successful ones included', async () => {
    const ip = '203.0.113.99';
    const statuses: number[] = [];
    for (let i = 0; i < 7; i += 1)
      statuses.push((await post('/api/auth/login', { email: 'r1@example.org', password }, ip)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429]);
  });

  it('limits reset mails per address asked for, without saying whether it exists', async () => {
    for (const email of ['r1@example.org', 'ghost@example.org']) {
      assert.equal((await post('/api/auth/password-reset', { email }, '203.0.113.20')).status, 202);
      assert.equal((await post('/api/auth/password-reset', { email }, '203.0.113.21')).status, 202);
      assert.equal((await post('/api/auth/password-reset', { email }, '203.0.113.22')).status, 429);
    }
  });

  it('holds across replicas: a second gateway on the same database shares the counters', async () => {
    replica = await createGateway({
      config: h.config,
      log: createLogger({ service: 't', level: 'silent' }),
      database: h.database,
      internalUrls: {},
    });
    await replica.start({ listen: false });
    const r = await replica.app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { email: 'other-replica@example.org', password, displayName: 'Other' },
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    assert.equal(r.statusCode, 429);
  });
});
