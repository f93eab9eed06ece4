/**
 * Log alerts end to end, on real servers: alerts CRUD (owner-only, admins, validation); syslog lines
 * sent over TCP reach an alert's threshold, the evaluator appends `logs.alert_fired`, the outbox relay
 * publishes it on RabbitMQ, and the mailer (in-process, its real consumer) mails the source's owner in
 * Russian through the SMTP sink process the mailer's own tests use; a second firing inside the
 * cool-down is held back and counted, and the next mail after the cool-down reports it. The source
 * events (`logs.source_registered`, `logs.source_deleted`) are published with their contract.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import {
  logAlertProcedures as AP,
  logProcedures as P,
  parseIntegrationEvent,
  type LogAlert,
  type LogEventsPage,
} from '@veche/contracts';
import { sql } from '@veche/db';
import { isVecheError } from '@veche/errors';
import { eventually, testAmqpUrl } from '@veche/testing';
import { startMailerHarness, type MailerHarness } from '../../mailer/test/support/harness.ts';
import { sealedForTest, testConfig } from '../../mailer/test/support/config.ts';
import { sender, startHarness, write, type Harness } from './support/harness.ts';

const mailerConfig = testConfig();
let mail: MailerHarness;
let h: Harness;
let amqpConnection: amqp.ChannelModel;
let observer: amqp.Channel;
const observed: { type: string; data: unknown }[] = [];

before(async () => {
  mail = await startMailerHarness(mailerConfig, import.meta.filename);
  // The log-listener publishes where the mailer consumes.
  h = await startHarness(import.meta.filename, {
    overrides: { LOGS_EXCHANGE: mailerConfig.MAILER_EXCHANGE, LOGS_ALERT_EVAL_MS: '100' },
  });
  // A queue of our own on the same exchange sees every `logs.*` event the relay publishes.
  amqpConnection = await amqp.connect(testAmqpUrl());
  observer = await amqpConnection.createChannel();
  const { queue } = await observer.assertQueue('', { exclusive: true, autoDelete: true });
  await observer.bindQueue(queue, mailerConfig.MAILER_EXCHANGE, 'logs.#');
  await observer.consume(queue, (message) => {
    if (!message) return;
    const body = JSON.parse(message.content.toString()) as
      { type: string; data: unknown } | { events: { type: string; data: unknown }[] };
    for (const event of 'events' in body ? body.events : [body]) observed.push(event);
    observer.ack(message);
  });
});

after(async () => {
  await amqpConnection?.close().catch(() => undefined);
  await h?.close();
  await mail?.close();
});

const events = (userId: string, sourceId: string, query: Record<string, unknown> = {}) =>
  h.call<LogEventsPage>(userId, P.events, { sourceId, ...query });

async function registerRecipient(userId: string, email: string, locale: string): Promise<void> {
  const eventId = await mail.bus.publish('account.registered', {
    userId,
    email,
    displayName: `Имя ${userId}`,
    locale,
    sealedToken: sealedForTest('verify_email', userId, `t-${userId}`),
  });
  await eventually(
    async () =>
      (await sql`select 1 from mails where event_id = ${eventId}`.execute(mail.database.db)).rows.length > 0,
    { message: `${userId} known to the mailer` },
  );
}

const alertMailsTo = async (address: string) =>
  (await mail.sink.messagesTo(address)).filter((m) => m.subject?.includes('оповещение'));

describe('alerts', { timeout: 120_000 }, () => {
  it('are created, read, changed and deleted by the source owner and admins only', async () => {
    const s = await h.createSource('ann');
    const created = await h.call<LogAlert>('ann', AP.createAlert, {
      sourceId: s.sourceId,
      name: ' errors ',
      filter: { q: 'error', severity: 3 },
      threshold: 5,
      windowSeconds: 60,
    });
    assert.deepEqual(
      {
        name: created.name,
        filter: created.filter,
        threshold: created.threshold,
        windowSeconds: created.windowSeconds,
        coolDownSeconds: created.coolDownSeconds,
        enabled: created.enabled,
        firings: created.firings,
        lastFiredAt: created.lastFiredAt,
        ownerId: created.ownerId,
      },
      {
        name: 'errors',
        filter: { q: 'error', severity: 3 },
        threshold: 5,
        windowSeconds: 60,
        coolDownSeconds: 900,
        enabled: true,
        firings: 0,
        lastFiredAt: null,
        ownerId: 'ann',
      },
    );
    const ids = { sourceId: s.sourceId, alertId: created.alertId };
    const changed = await h.call<LogAlert>('ann', AP.updateAlert, { ...ids, enabled: false, threshold: 2 });
    assert.equal(changed.enabled, false);
    assert.equal(changed.threshold, 2);
    assert.equal(changed.name, 'errors');
    // An admin reads it; anyone else finds nothing, not even that it exists.
    assert.equal((await h.call<LogAlert>('root', AP.getAlert, ids, 'admin')).threshold, 2);
    for (const attempt of [
      () => h.call('mallory', AP.getAlert, ids),
      () => h.call('mallory', AP.listAlerts, { sourceId: s.sourceId }),
      () => h.call('mallory', AP.updateAlert, { ...ids, enabled: true }),
      () => h.call('mallory', AP.deleteAlert, ids),
      () => h.call('mallory', AP.createAlert, { sourceId: s.sourceId, name: 'x' }),
    ]) {
      await assert.rejects(attempt(), (e) => isVecheError(e, 'not_found'));
    }
    for (const bad of [{ threshold: 0 }, { windowSeconds: 5 }, { coolDownSeconds: 10 }, { name: '' }]) {
      await assert.rejects(h.call('ann', AP.createAlert, { sourceId: s.sourceId, name: 'n', ...bad }), (e) =>
        isVecheError(e, 'validation'),
      );
    }
    assert.deepEqual(
      (await h.call<{ alerts: LogAlert[] }>('ann', AP.listAlerts, { sourceId: s.sourceId })).alerts.map(
        (a) => a.alertId,
      ),
      [created.alertId],
    );
    await h.call('ann', AP.deleteAlert, ids);
    await assert.rejects(h.call('ann', AP.getAlert, ids), (e) => isVecheError(e, 'not_found'));
    // Deleting the source takes its alerts with it.
    const other = await h.call<LogAlert>('ann', AP.createAlert, { sourceId: s.sourceId, name: 'any' });
    await h.call('ann', P.deleteSource, { sourceId: s.sourceId });
    const left = await sql`select 1 from alerts where alert_id = ${other.alertId}`.execute(h.database.db);
    assert.equal(left.rows.length, 0);
  });

  it('fire on lines sent over TCP, mail the owner in Russian, and hold back firings inside the cool-down', async () => {
    await registerRecipient('olga', 'olga@example.org', 'ru-RU');
    const s = await h.createSource('olga', { name: 'билинг' });
    const alert = await h.call<LogAlert>('olga', AP.createAlert, {
      sourceId: s.sourceId,
      name: 'ошибки оплаты',
      filter: { q: 'payment failed' },
      threshold: 3,
      windowSeconds: 60,
      coolDownSeconds: 600,
    });
    const socket = await sender(s.port);
    const line = (n: number, text: string) =>
      write(socket, `<11>2026-12-02T03:04:0${n}Z billing-1 pay.log: ${text}\n`);
    await line(1, 'Payment FAILED for order 1');
    await line(2, 'payment ok for order 2');
    await line(3, 'payment failed for order 3');
    await eventually(async () => (await events('olga', s.sourceId)).events.length === 3, {
      message: 'three lines stored',
    });
    // Two matching lines of three needed: a round now (after the stored lines) does not fire.
    assert.deepEqual(await h.app.evaluator.runOnce(), []);

    await line(4, 'payment failed for order 4');
    // The timer's rounds fire it; the mailer sends it through the SMTP server.
    const [first] = await eventually(
      async () => {
        const mails = await alertMailsTo('olga@example.org');
        return mails.length > 0 ? mails : undefined;
      },
      { message: 'the alert mail reached the SMTP server', timeoutMs: 60_000 },
    );
    assert.ok(first);
    assert.match(first.subject ?? '', /сработало оповещение «ошибки оплаты» \(билинг\)/);
    assert.match(first.text, /3 строки за 1 мин/);
    assert.match(first.text, /payment failed for order 4/);
    assert.match(first.text, /Payment FAILED for order 1/);
    assert.doesNotMatch(first.text, /payment ok/);
    assert.ok(first.links.some((link) => link.endsWith(`/logs/${s.sourceId}`)));
    // The mail came from the appended event, published through the relay with its contract.
    const fired = (await h.app.store.readStream(`logalert-${alert.alertId}`)).filter(
      (e) => e.type === 'logs.alert_fired',
    );
    assert.equal(fired.length, 1);
    const row = await sql<{ event_id: string; kind: string; state: string }>`
      select event_id, kind, state from mails where kind = 'log_alert'`.execute(mail.database.db);
    assert.deepEqual(row.rows, [{ event_id: fired[0]!.eventId, kind: 'log_alert', state: 'sent' }]);
    const published = observed.filter((e) => e.type === 'logs.alert_fired');
    assert.equal(published.length, 1);
    assert.equal(
      parseIntegrationEvent(['logs.alert_fired'], 'logs.alert_fired', published[0]!.data).ok,
      true,
    );
    const afterFirst = await h.call<LogAlert>('olga', AP.getAlert, {
      sourceId: s.sourceId,
      alertId: alert.alertId,
    });
    assert.equal(afterFirst.firings, 1);
    assert.ok(afterFirst.lastFiredAt);

    // Three more matching lines: it fires again, inside the cool-down: counted, not mailed.
    for (const n of [5, 6, 7]) await line(n, `payment failed for order ${n}`);
    await eventually(
      async () => {
        const r = await sql<{ suppressed: number }>`
          select suppressed from log_alert_mails where alert_id = ${alert.alertId}`.execute(mail.database.db);
        return r.rows[0]?.suppressed === 1;
      },
      { message: 'the second firing was held back', timeoutMs: 60_000 },
    );
    assert.equal((await alertMailsTo('olga@example.org')).length, 1);
    assert.equal(
      (await sql`select 1 from mails where kind = 'log_alert'`.execute(mail.database.db)).rows.length,
      1,
    );

    // The cool-down has passed (arranged: the last mail is made older than it); the next firing is
    // mailed and says how many were held back.
    await sql`
      update log_alert_mails set last_mailed_at = last_mailed_at - interval '11 minutes'
      where alert_id = ${alert.alertId}`.execute(mail.database.db);
    for (const n of [8, 9, 0]) await line(n, `payment failed again, order ${n}`);
    const mails = await eventually(
      async () => {
        const all = await alertMailsTo('olga@example.org');
        return all.length === 2 ? all : undefined;
      },
      { message: 'the mail after the cool-down', timeoutMs: 60_000 },
    );
    const second = mails.find((m) => m.id !== first.id)!;
    assert.match(second.text, /срабатывало ещё 1 раз/);
    assert.match(second.text, /не чаще раза в 10 мин/);
    assert.equal(
      (await h.call<LogAlert>('olga', AP.getAlert, { sourceId: s.sourceId, alertId: alert.alertId })).firings,
      3,
    );
    socket.destroy();
  });

  it('publishes logs.source_registered and logs.source_deleted with their contracts', async () => {
    const s = await h.createSource('pete', { name: 'edge' });
    await h.call('pete', P.deleteSource, { sourceId: s.sourceId });
    const mine = await eventually(
      () => {
        const found = observed.filter((e) => (e.data as { sourceId?: string }).sourceId === s.sourceId);
        return found.length === 2 ? found : undefined;
      },
      { message: 'both source events published' },
    );
    assert.deepEqual(
      mine.map((e) => e.type),
      ['logs.source_registered', 'logs.source_deleted'],
    );
    for (const e of mine) {
      const parsed = parseIntegrationEvent(['logs.source_registered', 'logs.source_deleted'], e.type, e.data);
      assert.equal(parsed.ok, true, JSON.stringify(parsed));
    }
    assert.deepEqual(mine[0]!.data, {
      sourceId: s.sourceId,
      ownerId: 'pete',
      name: 'edge',
      port: s.port,
      tls: false,
      retentionDays: s.retentionDays,
    });
    assert.deepEqual(mine[1]!.data, { sourceId: s.sourceId, by: 'pete', ownerId: 'pete' });
  });
});
