/**
 * PostgreSQL stops under the gateway and comes back: meanwhile requests answer 503 with Retry-After
 * (never a hang, a 500 or SQL), readiness says so, health stays up; afterwards everything works again
 * and nothing half-done was left behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDatabase, sql, type Database } from '@veche/db';
import { createLogger } from '@veche/log';
import { eventually, testAmqpUrl, uniqueName } from '@veche/testing';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  startRouter,
  type WampRouter,
} from '@veche/wamp-router';
import { createGateway, type Gateway } from '../src/app.ts';
import { removeExchange } from './support/bus-cleanup.ts';
import { loadGatewayConfig } from '../src/env.ts';
import { serviceSecret } from './support/harness.ts';
import {
  createPrivatePostgres,
  privatePostgresUnavailable,
  type PrivatePostgres,
} from './support/private-postgres.ts';

const skip = privatePostgresUnavailable();
let postgres: PrivatePostgres;
let router: WampRouter;
let gateway: Gateway;
let database: Database<unknown>;

const exchange = uniqueName('events');

describe('PostgreSQL restart under the gateway', { skip }, () => {
  before(async () => {
    postgres = await createPrivatePostgres();
    const log = createLogger({ service: 'gateway-test', level: 'silent' });
    router = await startRouter({
      log,
      port: 0,
      authenticate: composeAuthenticators(
        serviceAuthenticator(serviceSecret),
        procedureAuthenticator('veche.gateway.authenticate'),
      ),
      guardUnhandledRejections: false,
    });
    const config = loadGatewayConfig({
      NODE_ENV: 'test',
      DATABASE_URL: postgres.url,
      AMQP_URL: testAmqpUrl(),
      WAMP_URL: router.url,
      VECHE_SERVICE_SECRET: serviceSecret,
      GATEWAY_EXCHANGE: exchange,
      REQUIRE_VERIFIED_EMAIL: 'false',
      ARGON2_MEMORY_KIB: '8192',
      ARGON2_PASSES: '1',
    });
    const { ensureDatabaseExists } = await import('@veche/db');
    await ensureDatabaseExists(postgres.url);
    database = createDatabase({
      url: postgres.url,
      schema: 'gateway',
      poolSize: 4,
      connectionTimeoutMs: 2_000,
    });
    gateway = await createGateway({ config, log, database, internalUrls: {} });
    await gateway.start({ listen: false });
  });
  after(async () => {
    await gateway?.stop().catch(() => {});
    await database?.close().catch(() => {});
    await router?.close().catch(() => {});
    await removeExchange(exchange).catch(() => {});
    postgres?.destroy();
  });

  const post = (url: string, payload: object) => gateway.app.inject({ method: 'POST', url, payload });

  it('answers 503 while it is down and works again once it is back, with nothing half-done', async () => {
    assert.equal(
      (
        await post('/api/auth/register', {
          email: 'before@example.org',
          password: 'long enough password',
          displayName: 'Before',
        })
      ).statusCode,
      201,
    );
    const { accessToken } = (
      await post('/api/auth/login', { email: 'before@example.org', password: 'long enough password' })
    ).json<{ accessToken: string }>();
    const me = () =>
      gateway.app.inject({
        method: 'GET',
        url: '/api/me',
        headers: { authorization: `Bearer ${accessToken}` },
      });

    postgres.stop();
    const started = Date.now();
    const down = await me();
    assert.equal(down.statusCode, 503, down.body);
    assert.equal(down.json<{ error: { code: string } }>().error.code, 'unavailable');
    assert.equal(down.headers['retry-after'], '1');
    assert.doesNotMatch(down.body, /select|ECONNREFUSED|postgres/i);
    const refused = await post('/api/auth/register', {
      email: 'during@example.org',
      password: 'long enough password',
      displayName: 'During',
    });
    assert.equal(refused.statusCode, 503, refused.body);
    assert.ok(Date.now() - started < 10_000, 'answered without hanging');
    const ready = await gateway.app.inject({ method: 'GET', url: '/api/ready' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.json<{ checks: { postgres: boolean } }>().checks.postgres, false);
    assert.equal((await gateway.app.inject({ method: 'GET', url: '/api/health' })).statusCode, 200);

    postgres.start();
    await eventually(async () => (await me()).statusCode === 200, {
      timeoutMs: 20_000,
      message: '/api/me after the restart',
    });
    // The registration refused during the outage left nothing: it can simply be made again.
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from events where data->>'email' = 'during@example.org'`.execute(
      database.db,
    );
    assert.equal(rows[0]?.n, 0);
    assert.equal(
      (
        await post('/api/auth/register', {
          email: 'during@example.org',
          password: 'long enough password',
          displayName: 'During',
        })
      ).statusCode,
      201,
    );
    assert.equal((await gateway.app.inject({ method: 'GET', url: '/api/ready' })).statusCode, 200);
  });
});
