import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from '@veche/db';
import { createLogger } from '@veche/log';
import {
  createTestDatabase,
  eventually,
  testAmqpUrl,
  testDatabaseUrl,
  uniqueName,
  type TestDatabase,
} from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import { serviceAuthenticator, startRouter, type WampRouter } from '@veche/wamp-router';
import type { MailSummary } from '../src/api/admin.ts';
import type { MailRow } from '../src/outbox.ts';
import { cleanUp } from './support/cleanup.ts';
import { openTestBus, type TestBus } from './support/bus.ts';
import { queuesOf, sealedForTest, testConfig, testMailTokenSecret } from './support/config.ts';
import { startMailerProcess, type MailerProcess } from './support/mailer-process.ts';
import { startSinkProcess, type SinkProcess } from './support/sink-process.ts';

const secret = 'mailer-process-test-secret-0123';
const queue = `mailer.${uniqueName('p')}`;
const exchange = uniqueName('events');
const log = createLogger({ service: 'mailer-test', level: 'silent' });
let database: TestDatabase;
let sink: SinkProcess;
let bus: TestBus;
let router: WampRouter;
let gateway: WampService | undefined;
const running: MailerProcess[] = [];

const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  PORT: '0',
  DATABASE_URL: testDatabaseUrl(),
  MAILER_DB_SCHEMA: database.schema,
  MAILER_DB_POOL_SIZE: '3',
  AMQP_URL: testAmqpUrl(),
  MAILER_QUEUE: queue,
  MAILER_EXCHANGE: exchange,
  MAILER_EVENT_RETRY_DELAYS_MS: '200',
  SMTP_URL: sink.smtpUrl,
  WAMP_URL: router.url,
  VECHE_SERVICE_SECRET: secret,
  MAIL_TOKEN_SECRET: testMailTokenSecret,
  VECHE_PUBLIC_URL: 'https://veche.test',
  MAIL_FROM: 'Veche <no-reply@veche.test>',
  MAIL_POLL_INTERVAL_MS: '20',
  MAIL_RETRY_BASE_MS: '100',
  ...overrides,
});

async function spawnMailer(overrides: Record<string, string> = {}): Promise<MailerProcess> {
  const mailer = await startMailerProcess(env(overrides));
  running.push(mailer);
  return mailer;
}

before(async () => {
  database = await createTestDatabase({ name: import.meta.filename, poolSize: 2 });
  sink = await startSinkProcess();
  bus = await openTestBus(exchange, () =>
    queuesOf(testConfig({ MAILER_QUEUE: queue, MAILER_EVENT_RETRY_DELAYS_MS: '200' })),
  );
  router = await startRouter({ log, port: 0, authenticate: serviceAuthenticator(secret) });
});

after(() =>
  cleanUp(
    async () => {
      for (const mailer of running) mailer.kill('SIGKILL');
      await Promise.all(running.map((m) => m.exited));
    },
    () => gateway?.close(),
    () => router?.close(),
    () => bus?.close(),
    () => sink?.stop(),
    () => database?.drop(),
  ),
);

const mailsTo = async (address: string): Promise<MailRow[]> =>
  (await sql<MailRow>`select * from mails where to_address = ${address}`.execute(database.db)).rows;

const registration = (n: string, email: string) => ({
  userId: `user-${n}`,
  email,
  displayName: `Person ${n}`,
  locale: 'en',
  sealedToken: sealedForTest('verify_email', `user-${n}`, `verify-${n}`),
});

describe('the mailer process', () => {
  it('starts, answers /health and /ready, serves its procedures over WAMP, and stops cleanly on SIGTERM', async () => {
    const mailer = await spawnMailer();
    const health = await fetch(`http://127.0.0.1:${mailer.port}/health`);
    assert.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${mailer.port}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: 'ready',
      checks: { postgres: true, rabbitmq: true, wamp: true, started: true },
    });

    await bus.publish('account.registered', registration('w1', 'wanda@example.org'));
    await eventually(async () => (await mailsTo('wanda@example.org'))[0]?.state === 'sent', {
      message: 'the mail sent',
    });
    gateway = await connectService({
      url: router.url,
      authid: 'service:gateway',
      secret,
      log,
      connectTimeoutMs: 5_000,
    });
    const listed = await gateway.call<{ mails: MailSummary[] }>('veche.mailer.admin.list_mails', {
      actor: { userId: 'admin-1', role: 'admin' },
      input: { address: 'wanda@example.org' },
    });
    assert.equal(listed.mails.length, 1);
    assert.equal(listed.mails[0]?.state, 'sent');
    await assert.rejects(
      gateway.call('veche.mailer.admin.list_mails', {
        actor: { userId: 'admin-1', role: 'admin' },
        input: { state: 'lost' },
      }),
      {
        code: 'validation',
      },
    );

    mailer.kill('SIGTERM');
    assert.equal(await mailer.exited, 0);
  });

  it('a mailer killed in the middle of SMTP delivers the mail once after a restart, with the same Message-ID', async () => {
    const address = 'slow5000-carol@example.org';
    const first = await spawnMailer();
    await bus.publish('account.registered', registration('c1', address));
    // The sink holds its reply to DATA for 5 s: the mail is `sending` and the relay has not said 250.
    await eventually(async () => (await sink.holds()).some((h) => h.to.includes(address)), {
      message: 'the mail in DATA, its reply held',
      timeoutMs: 10_000,
    });
    assert.equal((await mailsTo(address))[0]?.state, 'sending');
    first.kill('SIGKILL');
    await first.exited;

    // The restarted mailer finds the mail stuck in `sending` past its lease and sends it again.
    await spawnMailer({ MAIL_SENDING_LEASE_MS: '6000' });
    const [row] = await eventually(
      async () => {
        const rows = await mailsTo(address);
        return rows[0]?.state === 'sent' ? rows : undefined;
      },
      { message: 'the mail sent after the restart', timeoutMs: 20_000 },
    );
    const outcomes = row?.history.map((h) => h.outcome) ?? [];
    assert.equal(outcomes[0], 'interrupted', JSON.stringify(row?.history));
    assert.equal(outcomes.at(-1), 'sent');
    // Wait out the sink's hold of the first attempt: a reply it would still give must not count.
    await new Promise((resolve) => setTimeout(resolve, 5_200));
    const received = await sink.messagesTo(address);
    assert.equal(received.length, 1, 'delivered exactly once');
    assert.equal(received[0]?.messageId, row?.message_id);
    const [held] = (await sink.holds()).filter((h) => h.to.includes(address));
    assert.equal(
      held?.messageId,
      received[0]?.messageId,
      'the resend carries the Message-ID of the interrupted send',
    );
    const tries = (await sink.attempts()).filter((a) => a.address === address);
    assert.ok(tries.length >= 2, 'the killed SMTP transaction and at least one more');
  });
});
