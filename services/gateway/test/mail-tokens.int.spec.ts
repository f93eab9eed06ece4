/* eslint-disable @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- JSON response bodies are read loosely in assertions */
/**
 * No live link token is visible to anyone but its owner's mailbox (issue 13): the gateway and the
 * mailer (as a process of its own, as the fleet runs it) with a real SMTP server; an administrator
 * reads every admin route while a verification, a reset and an address-change link are live, and
 * neither those answers, the gateway's or the mailer's stored rows, nor any log line of either holds
 * one of them. The links still work afterwards, so the tokens looked for were the live ones.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
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
import { queuesOf, testConfig } from '../../mailer/test/support/config.ts';
import { startMailerProcess, type MailerProcess } from '../../mailer/test/support/mailer-process.ts';
import { startSinkProcess, type SinkProcess } from '../../mailer/test/support/sink-process.ts';
import { serviceSecret, startHarness, type Harness } from './support/harness.ts';

const gatewayLog: string[] = [];
let h: Harness;
let sink: SinkProcess;
let mailerDatabase: TestDatabase;
let mailer: MailerProcess;
const mailerQueue = `mailer.${uniqueName('tokens')}`;

before(async () => {
  h = await startHarness(
    import.meta.filename,
    { REGISTER_LIMIT_PER_IP: '100' },
    {
      log: createLogger({
        service: 'gateway-test',
        level: 'trace',
        destination: new Writable({
          write(chunk: Buffer, _encoding, done) {
            gatewayLog.push(chunk.toString('utf8'));
            done();
          },
        }),
      }),
    },
  );
  sink = await startSinkProcess();
  mailerDatabase = await createTestDatabase({ name: 'gateway-mail-tokens-mailer', poolSize: 2 });
  mailer = await startMailerProcess({
    NODE_ENV: 'test',
    LOG_LEVEL: 'trace',
    PORT: '0',
    DATABASE_URL: testDatabaseUrl(),
    MAILER_DB_SCHEMA: mailerDatabase.schema,
    MAILER_DB_POOL_SIZE: '3',
    AMQP_URL: testAmqpUrl(),
    MAILER_QUEUE: mailerQueue,
    MAILER_EXCHANGE: h.config.GATEWAY_EXCHANGE,
    SMTP_URL: sink.smtpUrl,
    WAMP_URL: h.routerUrl,
    VECHE_SERVICE_SECRET: serviceSecret,
    VECHE_PUBLIC_URL: 'https://veche.test',
    MAIL_POLL_INTERVAL_MS: '20',
  });
});
after(async () => {
  mailer?.kill('SIGTERM');
  await mailer?.exited;
  const connection = await amqp.connect(testAmqpUrl());
  const channel = await connection.createChannel();
  for (const queue of queuesOf(testConfig({ MAILER_QUEUE: mailerQueue })))
    await channel.deleteQueue(queue).catch(() => {});
  await connection.close();
  await sink?.stop();
  await mailerDatabase?.drop();
  await h?.close();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies read loosely
type Json = any;
async function call(method: 'GET' | 'POST', url: string, body?: object, token?: string) {
  const r = await h.gateway.app.inject({
    method,
    url,
    ...(body ? { payload: body } : {}),
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: r.statusCode, text: r.body, json: r.body ? JSON.parse(r.body) : undefined };
}

/** The token of the latest link to `path` in the mails `address` received. */
async function linkToken(address: string, path: string, count = 1): Promise<string> {
  const mails = await eventually(
    async () => {
      const found = (await sink.messagesTo(address)).filter((m) => m.links.some((l) => l.includes(path)));
      return found.length >= count ? found : undefined;
    },
    { message: `mail ${count} with ${path} to ${address}`, timeoutMs: 30_000 },
  );
  const link = mails.at(-1)?.links.find((l) => l.includes(path)) ?? '';
  const token = new URL(link).searchParams.get('token');
  assert.ok(token && token.length >= 40, `a real token in ${link}`);
  return token;
}

const password = 'long enough password';
async function registerVerified(email: string) {
  assert.equal(
    (await call('POST', '/api/auth/register', { email, password, displayName: email })).status,
    201,
  );
  const token = await linkToken(email, '/verify-email');
  assert.equal((await call('POST', '/api/auth/verify', { token })).status, 200);
  return (await call('POST', '/api/auth/login', { email, password })).json.accessToken as string;
}

describe('live mail tokens', () => {
  it('reach the owner’s mailbox only: not an admin route, not a stored row, not a log line', async () => {
    const admin = await registerVerified('admin@example.org');
    const victim = await registerVerified('victim@example.org');
    assert.equal(
      (
        await call('POST', '/api/auth/register', {
          email: 'pending@example.org',
          password,
          displayName: 'Pending',
        })
      ).status,
      201,
    );
    assert.equal(
      (await call('POST', '/api/auth/password-reset', { email: 'victim@example.org' })).status,
      202,
    );
    assert.equal(
      (await call('POST', '/api/me/email', { newEmail: 'victim-new@example.org', password }, victim)).status,
      202,
    );
    const live = {
      verify: await linkToken('pending@example.org', '/verify-email'),
      reset: await linkToken('victim@example.org', '/reset-password'),
      emailChange: await linkToken('victim-new@example.org', '/confirm-email'),
    };
    await eventually(
      async () =>
        (await call('GET', '/api/admin/mails?limit=500', undefined, admin)).json.mails?.every(
          (m: Json) => m.state === 'sent',
        ),
      { message: 'every mail recorded as sent' },
    );

    const seen: string[] = [];
    const list = await call('GET', '/api/admin/mails?limit=500', undefined, admin);
    assert.equal(list.status, 200);
    seen.push(list.text);
    for (const mail of list.json.mails as { mailId: string }[]) {
      const detail = await call('GET', `/api/admin/mails/${mail.mailId}`, undefined, admin);
      assert.equal(detail.status, 200);
      seen.push(detail.text);
    }
    for (const url of ['/api/admin/users', '/api/admin/suppressions']) {
      const r = await call('GET', url, undefined, admin);
      assert.equal(r.status, 200, url);
      seen.push(r.text);
    }
    const resetMail = (list.json.mails as { mailId: string; kind: string }[]).find(
      (m) => m.kind === 'password_reset',
    );
    const resetDetail = (await call('GET', `/api/admin/mails/${resetMail?.mailId ?? ''}`, undefined, admin))
      .json;
    assert.match(
      resetDetail.text,
      /https:\/\/veche\.test\/reset-password\?token=\[hidden\]/,
      'the mail is still shown',
    );

    const storedGateway = await sql<{ row: string }>`
      select data::text as row from events union all select row_to_json(t)::text from account_tokens t`.execute(
      h.database.db,
    );
    const storedMailer = await sql<{ row: string }>`select row_to_json(m)::text as row from mails m`.execute(
      mailerDatabase.db,
    );
    const places: [string, string][] = [
      ['admin answers', seen.join('\n')],
      ['the gateway’s rows', storedGateway.rows.map((r) => r.row).join('\n')],
      ['the mailer’s rows', storedMailer.rows.map((r) => r.row).join('\n')],
      ['the gateway’s log', gatewayLog.join('')],
      ['the mailer’s log', mailer.lines.join('\n')],
    ];
    assert.ok(gatewayLog.length > 20 && mailer.lines.length > 5, 'the logs were captured');
    for (const [where, text] of places) {
      for (const [kind, token] of Object.entries(live))
        assert.ok(!text.includes(token), `the live ${kind} token is in ${where}`);
    }

    // They were the live ones: each link still works for its owner.
    assert.equal((await call('POST', '/api/auth/verify', { token: live.verify })).status, 200);
    assert.equal((await call('POST', '/api/me/email/confirm', { token: live.emailChange })).status, 200);
    assert.equal(
      (
        await call('POST', '/api/auth/password-reset/confirm', {
          token: live.reset,
          password: 'the new password',
        })
      ).status,
      200,
    );
  });
});
