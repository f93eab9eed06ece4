/**
 * The gateway's account.* events through RabbitMQ to the real mailer and its SMTP sink: every event on
 * the wire matches the mailer's contract, and the links in the mails carry tokens the gateway accepts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { unroutedQueueName } from '@veche/bus';
import { createLogger } from '@veche/log';
import { createTestDatabase, eventually, testAmqpUrl, type TestDatabase } from '@veche/testing';
import { accountEventTypes, parseIntegrationEvent } from '@veche/contracts';
import { createMailer, type Mailer } from '@veche/mailer';
import { queuesOf, testConfig } from '../../mailer/test/support/config.ts';
import { startSinkProcess, type SinkProcess } from '../../mailer/test/support/sink-process.ts';
import { mailTokenSecret } from '../src/env.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let mailerDatabase: TestDatabase;
let mailer: Mailer;
let sink: SinkProcess;
let connection: amqp.ChannelModel;
let channel: amqp.Channel;
const tap = `gateway-test-tap-${process.pid}-${Date.now()}`;
const onTheWire: { type: string; data: unknown }[] = [];
let mailerQueues: string[] = [];

before(async () => {
  h = await startHarness(import.meta.filename, { REGISTER_LIMIT_PER_IP: '100' });
  connection = await amqp.connect(testAmqpUrl());
  channel = await connection.createChannel();
  await channel.assertExchange(h.config.GATEWAY_EXCHANGE, 'topic', { durable: true });
  await channel.assertQueue(tap, { exclusive: true });
  await channel.bindQueue(tap, h.config.GATEWAY_EXCHANGE, 'account.*');
  await channel.consume(
    tap,
    (message) => {
      if (message)
        onTheWire.push(JSON.parse(message.content.toString('utf8')) as { type: string; data: unknown });
    },
    { noAck: true },
  );
  sink = await startSinkProcess();
  mailerDatabase = await createTestDatabase({ name: 'gateway-mail-flow-mailer', poolSize: 5 });
  // The mailer opens the link tokens with the key the gateway seals them with.
  const config = testConfig({
    MAILER_EXCHANGE: h.config.GATEWAY_EXCHANGE,
    MAIL_TOKEN_SECRET: mailTokenSecret(h.config),
  });
  mailerQueues = queuesOf(config);
  mailer = createMailer({
    config,
    log: createLogger({ service: 'mailer-test', level: 'silent' }),
    smtpUrl: sink.smtpUrl,
    database: mailerDatabase,
    http: false,
  });
  await mailer.start();
});
after(async () => {
  await mailer?.stop().catch(() => {});
  for (const queue of mailerQueues) await channel?.deleteQueue(queue).catch(() => {});
  await channel?.deleteExchange(h.config.GATEWAY_EXCHANGE).catch(() => {});
  await channel?.deleteQueue(unroutedQueueName(h.config.GATEWAY_EXCHANGE)).catch(() => {});
  await connection?.close().catch(() => {});
  await sink?.stop();
  await mailerDatabase?.drop();
  await h?.close();
});

const inject = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, token?: string) =>
  h.gateway.app.inject({
    method,
    url,
    ...(payload ? { payload } : {}),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

async function linkIn(address: string, path: string, count = 1): Promise<string> {
  const mails = await eventually(
    async () => {
      const found = (await sink.messagesTo(address)).filter((m) => m.links.some((l) => l.includes(path)));
      return found.length >= count ? found : undefined;
    },
    { message: `mail ${count} with ${path} to ${address}`, timeoutMs: 20_000 },
  );
  const link = mails.at(-1)?.links.find((l) => l.includes(path));
  assert.ok(link);
  return new URL(link).searchParams.get('token') ?? '';
}

describe('mail through the mailer', () => {
  it('verification, password reset and e-mail change work from the links in the mails', async () => {
    const created = await inject('POST', '/api/auth/register', {
      email: 'mailflow@example.org',
      password: 'long enough password',
      displayName: 'Mail Flow',
    });
    assert.equal(created.statusCode, 201);
    const verifyToken = await linkIn('mailflow@example.org', '/verify-email?token=');
    assert.equal((await inject('POST', '/api/auth/verify', { token: verifyToken })).statusCode, 200);

    // Registering the address again answers as for a new one; the owner is told by mail.
    const again = await inject('POST', '/api/auth/register', {
      email: 'mailflow@example.org',
      password: 'someone else’s password',
      displayName: 'Someone',
    });
    assert.equal(again.statusCode, 201);
    const [attempt] = await eventually(
      async () => {
        const found = (await sink.messagesTo('mailflow@example.org')).filter((m) =>
          (m.subject ?? '').includes('someone tried to sign up'),
        );
        return found.length > 0 && found;
      },
      { message: 'the registration-attempt mail', timeoutMs: 20_000 },
    );
    assert.deepEqual(attempt?.links, ['https://veche.test/login', 'https://veche.test/reset-password']);

    assert.equal(
      (await inject('POST', '/api/auth/password-reset', { email: 'mailflow@example.org' })).statusCode,
      202,
    );
    const resetToken = await linkIn('mailflow@example.org', '/reset-password?token=');
    assert.equal(
      (
        await inject('POST', '/api/auth/password-reset/confirm', {
          token: resetToken,
          password: 'the new password',
        })
      ).statusCode,
      200,
    );

    const login = (
      await inject('POST', '/api/auth/login', { email: 'mailflow@example.org', password: 'the new password' })
    ).json<{ accessToken: string }>();
    assert.equal(
      (
        await inject(
          'POST',
          '/api/me/email',
          { newEmail: 'moved-mail@example.org', password: 'the new password' },
          login.accessToken,
        )
      ).statusCode,
      202,
    );
    const changeToken = await linkIn('moved-mail@example.org', '/confirm-email?token=');
    assert.equal((await inject('POST', '/api/me/email/confirm', { token: changeToken })).statusCode, 200);
    assert.equal(
      (await inject('PATCH', '/api/me', { displayName: 'Renamed', locale: 'ru' }, login.accessToken))
        .statusCode,
      200,
    );

    const types = [
      'account.registered',
      'account.password_reset_requested',
      'account.email_change_requested',
      'account.email_changed',
      'account.profile_updated',
      'account.registration_attempted',
    ];
    await eventually(() => types.every((t) => onTheWire.some((e) => e.type === t)), {
      message: 'every integration event type on the wire',
    });
    for (const event of onTheWire) {
      // The schema every consumer validates with, declared once in @veche/contracts.
      const parsed = parseIntegrationEvent(Object.values(accountEventTypes), event.type, event.data);
      assert.ok(parsed.ok, `${event.type}: ${parsed.ok ? '' : parsed.problems.join('; ')}`);
    }
    // Internal events (password hashes, token hashes, sessions) never leave the gateway.
    assert.ok(onTheWire.every((e) => types.includes(e.type)));
    assert.doesNotMatch(JSON.stringify(onTheWire), /argon2id|passwordHash|tokenHash|refreshToken/);
  });
});
