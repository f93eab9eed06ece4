import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from '@veche/db';
import type { Logger } from '@veche/log';
import { eventually, type TestDatabase } from '@veche/testing';
import { pruneInbox } from '@veche/bus';
import type { Mailer } from '../src/app.ts';
import type { MailRow } from '../src/outbox.ts';
import { createMailTransport } from '../src/transport.ts';
import type { TestBus } from './support/bus.ts';
import { startMailerHarness, type MailerHarness } from './support/harness.ts';
import { sealedForTest, testConfig } from './support/config.ts';
import type { SinkProcess } from './support/sink-process.ts';

const config = testConfig();

const admin = { userId: 'admin-1', role: 'admin' as const };
let log: Logger;
let database: TestDatabase;
let sink: SinkProcess;
let bus: TestBus;
let mailer: Mailer;
let harness: MailerHarness | undefined;

before(async () => {
  harness = await startMailerHarness(config, import.meta.filename);
  ({ log, database, sink, bus, mailer } = harness);
});

after(() => harness?.close());

const mailsOf = async (eventId: string): Promise<MailRow[]> =>
  (await sql<MailRow>`select * from mails where event_id = ${eventId} order by kind`.execute(database.db))
    .rows;

const registration = (n: string, email: string, locale = 'en') => ({
  userId: `user-${n}`,
  email,
  displayName: `Person ${n}`,
  locale,
  sealedToken: sealedForTest('verify_email', `user-${n}`, `verify-${n}`),
});

describe('mail delivery through a real SMTP server', () => {
  it('account.registered sends one verification mail with the right headers, body and link', async () => {
    const eventId = await bus.publish('account.registered', registration('a1', 'alice@example.org'));
    const [message] = await eventually(
      async () => {
        const found = await sink.messagesTo('alice@example.org');
        return found.length > 0 && found;
      },
      { message: 'the verification mail', timeoutMs: 10_000 },
    );
    assert.ok(message);
    assert.equal(message.subject, 'Veche: confirm your e-mail address');
    assert.match(message.from ?? '', /Veche.*<no-reply@veche\.test>/);
    assert.match(message.to ?? '', /Person a1.*alice@example\.org/);
    assert.deepEqual(message.links, ['https://veche.test/verify-email?token=verify-a1']);
    assert.match(message.html, /href="https:\/\/veche\.test\/verify-email\?token=verify-a1"/);
    assert.equal(message.headers['list-unsubscribe'], undefined, 'security mail has no unsubscribe link');
    assert.equal(message.headers['auto-submitted'], 'auto-generated');

    const rows = await eventually(
      async () => {
        const found = await mailsOf(eventId);
        return found[0]?.state === 'sent' && found;
      },
      { message: 'the mail recorded as sent' },
    );
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row.idempotency_key, `${eventId}/user-a1/verify_email`);
    assert.equal(message.messageId, row.message_id, 'the Message-ID comes from the idempotency key');
    assert.match(row.message_id, /^<[0-9a-f]{32}@veche\.test>$/);
    assert.match(row.relay_message_id ?? '', /^sink-\d+$/, "the relay's queue id is recorded");
    assert.equal(row.attempts, 1);
    assert.equal(row.correlation_id, `corr-${eventId}`);
  });

  it('renders in Russian for a Russian-speaking user', async () => {
    await bus.publish('account.registered', registration('r1', 'ivan@example.org', 'ru-RU'));
    const [message] = await eventually(
      async () => {
        const found = await sink.messagesTo('ivan@example.org');
        return found.length > 0 && found;
      },
      { message: 'the Russian mail' },
    );
    assert.equal(message?.subject, 'Veche: подтвердите адрес почты');
    assert.match(message?.text ?? '', /Здравствуйте, Person r1!/);
  });

  it('the same event delivered twice sends one mail', async () => {
    const data = registration('d1', 'dora@example.org');
    const eventId = await bus.publish('account.registered', data);
    await bus.publish('account.registered', data, eventId);
    await eventually(async () => (await mailsOf(eventId))[0]?.state === 'sent', {
      message: 'the first mail sent',
    });
    // A third copy after the inbox forgot the event (pruned): the idempotency key still holds.
    await pruneInbox(database.db, new Date(Date.now() + 60_000));
    await bus.publish('account.registered', data, eventId);
    await eventually(
      async () => mailer.consumer.stats().handled >= 1 && mailer.consumer.stats().duplicates >= 1,
      {
        message: 'the duplicate seen by the inbox',
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal((await mailsOf(eventId)).length, 1);
    assert.equal((await sink.messagesTo('dora@example.org')).length, 1);
  });

  it('an e-mail change sends the confirmation to the new address and a notice to the current one', async () => {
    const eventId = await bus.publish('account.email_change_requested', {
      userId: 'user-e1',
      currentEmail: 'old-erin@example.org',
      newEmail: 'new-erin@example.org',
      displayName: 'Erin',
      locale: 'en',
      sealedToken: sealedForTest('confirm_email_change', 'user-e1', 'change-e1'),
    });
    await eventually(
      async () => {
        // One read: two would let an empty first answer and a later 'queued' pair pass together.
        const mails = await mailsOf(eventId);
        return mails.length === 2 && mails.every((m) => m.state === 'sent');
      },
      { message: 'both mails sent' },
    );
    const [confirm] = await sink.messagesTo('new-erin@example.org');
    const [notice] = await sink.messagesTo('old-erin@example.org');
    assert.deepEqual(confirm?.links, ['https://veche.test/confirm-email?token=change-e1']);
    assert.equal(notice?.subject, 'Veche: e-mail address change requested');
    assert.deepEqual(notice?.links, [], 'the notice carries no confirmation link');
  });

  it('a deferred mail is retried with growing delays and then sent', async () => {
    const address = 'flaky2-fred@example.org';
    const eventId = await bus.publish('account.password_reset_requested', {
      userId: 'user-f1',
      email: address,
      displayName: 'Fred',
      locale: 'en',
      sealedToken: sealedForTest('reset_password', 'user-f1', 'reset-f1'),
    });
    await eventually(async () => (await mailsOf(eventId))[0]?.state === 'sent', {
      message: 'the mail sent on its third attempt',
      timeoutMs: 15_000,
    });
    const tries = (await sink.attempts()).filter((a) => a.address === address);
    assert.deepEqual(
      tries.map((t) => t.outcome),
      ['deferred', 'deferred', 'accepted'],
    );
    const times = tries.map((t) => Date.parse(t.at));
    // base 150 ms: the first retry waits 150 ms, the second 300 ms.
    assert.ok(times[1]! - times[0]! >= 140, `first retry after ${times[1]! - times[0]!} ms`);
    assert.ok(times[2]! - times[1]! >= 290, `second retry after ${times[2]! - times[1]!} ms`);
    const [row] = await mailsOf(eventId);
    assert.equal(row?.attempts, 3);
    assert.deepEqual(
      row?.history.map((h) => h.outcome),
      ['deferred', 'deferred', 'sent'],
    );
    assert.match(row?.history[0]?.detail ?? '', /451/);
    assert.equal((await sink.messagesTo(address)).length, 1);
  });

  it('a rejected address fails for good and is suppressed; notifications respect it, security mail does not', async () => {
    const address = 'reject-rita@example.org';
    const first = await bus.publish('account.registered', registration('s1', address));
    const [failed] = await eventually(
      async () => {
        const rows = await mailsOf(first);
        return rows[0]?.state === 'failed' && rows;
      },
      { message: 'the mail failed' },
    );
    assert.equal(failed?.failure, 'rejected');
    assert.equal(failed?.attempts, 1, 'a 5xx is not retried');
    assert.match(failed?.last_error ?? '', /550/);
    const { suppressions } = await mailer.procedures.listSuppressions({ actor: admin, input: {} });
    assert.ok(suppressions.some((s) => s.address === address && /550/.test(s.reason)));

    // A notification to the suppressed address is not even tried.
    await mailer.procedures.setNotificationPreference({
      actor: { userId: 'user-s1', role: 'user' },
      input: { emailNotifications: 'immediately' },
    });
    const posted = await bus.publish('chat.message_posted', {
      roomId: 'room-s',
      roomKind: 'dm',
      messageId: 'm-s1',
      seq: 1,
      senderId: 'user-x',
      senderDisplayName: 'Xavier',
      text: 'are you there?',
      sentAt: new Date().toISOString(),
      notify: [{ userId: 'user-s1', reason: 'direct' }],
    });
    const [notification] = await eventually(
      async () => {
        const rows = await mailsOf(posted);
        return rows[0]?.state === 'suppressed' && rows;
      },
      { message: 'the notification suppressed' },
    );
    assert.equal(notification?.attempts, 0);

    // Security mail is still attempted (the relay refuses it again).
    const reset = await bus.publish('account.password_reset_requested', {
      userId: 'user-s1',
      email: address,
      displayName: 'Rita',
      locale: 'en',
      sealedToken: sealedForTest('reset_password', 'user-s1', 'reset-s1'),
    });
    await eventually(async () => (await mailsOf(reset))[0]?.state === 'failed', {
      message: 'the reset mail tried',
    });
    const tries = (await sink.attempts()).filter((a) => a.address === address);
    assert.equal(tries.length, 2, 'the registration and the reset were tried, the notification was not');

    // Lifting the suppression lets notifications through again.
    assert.deepEqual(await mailer.procedures.removeSuppression({ actor: admin, input: { address } }), {
      removed: true,
    });
  });

  it('a mail that exhausts its retries goes to the dead-letter queue with its history', async () => {
    const address = 'defer-dan@example.org';
    const eventId = await bus.publish('account.registered', registration('x1', address));
    const [row] = await eventually(
      async () => {
        const rows = await mailsOf(eventId);
        return rows[0]?.dead_lettered_at ? rows : undefined;
      },
      { message: 'the mail dead-lettered', timeoutMs: 20_000 },
    );
    assert.equal(row?.state, 'failed');
    assert.equal(row?.failure, 'exhausted');
    assert.equal(row?.attempts, 4);
    const dead = await bus.drain(mailer.deadMailQueue);
    const message = dead.find((m) => m.properties.messageId === row?.id);
    assert.ok(message, 'the dead-letter message is there');
    const body = JSON.parse(message.content.toString()) as { to: string; history: { outcome: string }[] };
    assert.equal(body.to, address);
    assert.deepEqual(
      body.history.map((h) => h.outcome),
      ['deferred', 'deferred', 'deferred', 'exhausted'],
    );
    assert.equal(message.properties.headers?.['x-veche-dead-reason'], 'smtp-retries-exhausted');
    assert.equal((await sink.messagesTo(address)).length, 0);
  });

  it('the admin procedures list mails by state and show one with its history', async () => {
    const sent = await mailer.procedures.listMails({ actor: admin, input: { state: 'sent', limit: 2 } });
    assert.equal(sent.mails.length, 2);
    assert.ok(sent.mails.every((m) => m.state === 'sent' && m.relayMessageId));
    assert.ok(sent.nextBefore, 'more than one page of sent mail');
    const next = await mailer.procedures.listMails({
      actor: admin,
      input: { state: 'sent', limit: 2, before: sent.nextBefore },
    });
    assert.ok(
      next.mails.every((m) => !sent.mails.some((s) => s.mailId === m.mailId)),
      'pages do not overlap',
    );
    const failed = await mailer.procedures.listMails({
      actor: admin,
      input: { address: 'DEFER-dan@example.org' },
    });
    assert.equal(failed.mails[0]?.state, 'failed');
    const detail = await mailer.procedures.getMail({
      actor: admin,
      input: { mailId: failed.mails[0].mailId },
    });
    assert.equal(detail.history.length, 4);
    assert.ok(detail.deadLetteredAt);
    await assert.rejects(mailer.procedures.getMail({ actor: admin, input: { mailId: 'nope' } }), {
      code: 'not_found',
    });
    await assert.rejects(mailer.procedures.listMails({ actor: admin, input: { state: 'lost' } }), {
      code: 'validation',
    });
    // The flat arguments of old, and a caller who is not an administrator, are refused.
    await assert.rejects(mailer.procedures.listMails({ userId: 'admin-1', state: 'sent' }), {
      code: 'validation',
    });
    await assert.rejects(mailer.procedures.listMails({ actor: { userId: 'u-1', role: 'user' }, input: {} }), {
      code: 'forbidden',
    });
  });

  it('an invalid payload is dead-lettered by the bus, not turned into a mail', async () => {
    const eventId = await bus.publish('account.registered', { userId: 'user-bad', email: 'not-an-address' });
    const dead = await eventually(
      async () => {
        const found = await bus.drain(`${config.MAILER_QUEUE}.dead`);
        return found.length > 0 && found;
      },
      { message: 'the invalid event in the dead-letter queue', timeoutMs: 15_000 },
    );
    assert.equal(dead[0]?.properties.messageId, eventId);
    assert.match(
      String(dead[0]?.properties.headers?.['x-veche-error']),
      /Invalid account\.registered payload/,
    );
    assert.equal((await mailsOf(eventId)).length, 0);
  });

  it('DKIM-signs mail when a key is configured', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const transport = createMailTransport({
      url: sink.smtpUrl,
      maxConnections: 1,
      log,
      dkim: {
        domainName: 'veche.test',
        keySelector: 'mail',
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
    });
    try {
      const result = await transport.send({
        from: config.MAIL_FROM,
        to: { name: 'Kim', address: 'kim@example.org' },
        subject: 'signed',
        text: 'hello',
        html: '<p>hello</p>',
        messageId: '<dkim-test@veche.test>',
        headers: {},
      });
      assert.equal(result.ok, true);
      const [message] = await sink.messagesTo('kim@example.org');
      assert.match(message?.headers['dkim-signature'] ?? '', /d=veche\.test;[\s\S]*s=mail;/);
    } finally {
      transport.close();
    }
  });
});
