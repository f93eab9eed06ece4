/**
 * Two gateway replicas on one database: every decision holds across them (one account per address,
 * no lost rotation of a refresh token), and the outbox relay publishes each event exactly once (one leader).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import amqp from 'amqplib';
import { decodeEntries, unroutedQueueName } from '@veche/bus';
import { createLogger } from '@veche/log';
import { eventually, testAmqpUrl } from '@veche/testing';
import { createGateway, type Gateway } from '../src/app.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let second: Gateway;
let connection: amqp.ChannelModel;
let channel: amqp.Channel;
const tap = `gateway-replicas-tap-${process.pid}-${Date.now()}`;
const published: { id: string; type: string }[] = [];

before(async () => {
  h = await startHarness(import.meta.filename, { REQUIRE_VERIFIED_EMAIL: 'false' });
  second = await createGateway({
    config: h.config,
    log: createLogger({ service: 't', level: 'silent' }),
    database: h.database,
    internalUrls: {},
  });
  await second.start({ listen: false });
  connection = await amqp.connect(testAmqpUrl());
  channel = await connection.createChannel();
  await channel.assertExchange(h.config.GATEWAY_EXCHANGE, 'topic', { durable: true });
  await channel.assertQueue(tap, { exclusive: true });
  await channel.bindQueue(tap, h.config.GATEWAY_EXCHANGE, 'account.*');
  // The relay packs consecutive events of one type into one message (libs/bus): count events.
  await channel.consume(
    tap,
    (m) => {
      if (!m) return;
      for (const entry of decodeEntries(m.content, m.properties)) {
        if (entry.ok) published.push({ id: entry.event.metadata.eventId, type: entry.event.type });
      }
    },
    { noAck: true },
  );
});
after(async () => {
  await channel?.deleteExchange(h.config.GATEWAY_EXCHANGE).catch(() => {});
  await channel?.deleteQueue(unroutedQueueName(h.config.GATEWAY_EXCHANGE)).catch(() => {});
  await connection?.close().catch(() => {});
  await second?.stop();
  await h?.close();
});

const replicas = () => [h.gateway.app, second.app];

it('one account per address, no lost rotation of a refresh token, each event published once', async () => {
  const [a, b] = replicas();
  if (!a || !b) throw new Error('two replicas');
  const payload = { email: 'twice@example.org', password: 'long enough password', displayName: 'Twice' };
  const results = await Promise.all([
    a.inject({ method: 'POST', url: '/api/auth/register', payload }),
    b.inject({ method: 'POST', url: '/api/auth/register', payload }),
  ]);
  // A taken address answers like a new one (issue 13): both 201, but one account; the loser's
  // attempt becomes account.registration_attempted (the owner is mailed), not a second account.
  assert.deepEqual(
    results.map((r) => r.statusCode),
    [201, 201],
  );

  const login = (
    await a.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: payload.email, password: payload.password },
    })
  ).json<{ refreshToken: string; accessToken: string }>();
  const refreshes = await Promise.all([
    a.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: login.refreshToken } }),
    b.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: login.refreshToken } }),
  ]);
  // The same token at both replicas at once: the optimistic append lets one rotate first; the other
  // reads the session again and finds the token just replaced, within the leeway a lost reply gets, so
  // it rotates once more. Two distinct pairs, no rotation lost: the first token is then two
  // generations old, and spending it again is a reuse that ends the session everywhere.
  assert.deepEqual(
    refreshes.map((r) => r.statusCode),
    [200, 200],
  );
  const pairs = refreshes.map((r) => r.json<{ refreshToken: string; accessToken: string }>());
  assert.notEqual(pairs[0]!.refreshToken, pairs[1]!.refreshToken);
  const reuse = await a.inject({
    method: 'POST',
    url: '/api/auth/refresh',
    payload: { refreshToken: login.refreshToken },
  });
  assert.equal(reuse.statusCode, 401);
  assert.equal(reuse.json<{ error: { details: { reason: string } } }>().error.details.reason, 'reused');
  for (const pair of pairs)
    assert.equal(
      (
        await b.inject({
          method: 'GET',
          url: '/api/me',
          headers: { authorization: `Bearer ${pair.accessToken}` },
        })
      ).statusCode,
      401,
    );

  for (let i = 0; i < 10; i += 1) {
    const app = i % 2 === 0 ? a : b;
    await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { email: `r${i}@example.org`, password: 'long enough password', displayName: `R${i}` },
    });
  }
  // Both replicas serve the router's authenticator and authorizer (shared registrations: Crossbar
  // refuses a second callee of a single one, and a gateway without them never becomes ready).
  for (const replica of [h.gateway, second]) assert.equal((await replica.ready())['wamp'], true);

  // 11 accounts and one attempt on a taken address: 12 events, each on the wire exactly once.
  const ofType = (type: string) => published.filter((p) => p.type === type).length;
  await eventually(() => published.length >= 12, { message: '12 events published', timeoutMs: 15_000 });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(published.length, 12);
  assert.equal(new Set(published.map((p) => p.id)).size, 12);
  assert.equal(ofType('account.registered'), 11);
  assert.equal(ofType('account.registration_attempted'), 1);
});
