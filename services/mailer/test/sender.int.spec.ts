import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import { mailTransitions } from '@veche/metrics';
import { createTestDatabase, eventually, type TestDatabase } from '@veche/testing';
import { mailerMigrations } from '../migrations/index.ts';
import { mailsForRegistration } from '../src/domain/mails.ts';
import { enqueueMails } from '../src/outbox.ts';
import { createRetention } from '../src/retention.ts';
import { createSender } from '../src/sender.ts';
import { createMailTransport } from '../src/transport.ts';
import { cleanUp } from './support/cleanup.ts';
import { startSinkProcess, type SinkProcess } from './support/sink-process.ts';
import { sealedForTest, testMailTokenSecret } from './support/config.ts';

const log = createLogger({ service: 'mailer-test', level: 'silent' });
const from = 'Veche <no-reply@veche.test>';
const brand = { productName: 'Veche', publicUrl: 'https://veche.test' };
let database: TestDatabase;
let sink: SinkProcess;

before(async () => {
  database = await createTestDatabase({ name: import.meta.filename, poolSize: 5 });
  await migrate(database, mailerMigrations);
  sink = await startSinkProcess();
});

after(() =>
  cleanUp(
    () => sink?.stop(),
    () => database?.drop(),
  ),
);

async function queue(prefix: string, count: number): Promise<void> {
  for (let n = 0; n < count; n++) {
    const drafts = mailsForRegistration(brand, `${prefix}-${n}`, {
      userId: `${prefix}-${n}`,
      email: `${prefix}-${n}@example.org`,
      displayName: 'R',
      locale: 'en',
      sealedToken: sealedForTest('verify_email', `${prefix}-${n}`, 't'),
    });
    await enqueueMails(database.db, drafts, { from });
  }
}

async function transitions(): Promise<Record<string, number>> {
  const { values } = await mailTransitions.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.state), v.value]));
}

describe('the sender', () => {
  it('holds the global send rate', async () => {
    const before = await transitions();
    await queue('rate', 30);
    const transport = createMailTransport({ url: sink.smtpUrl, maxConnections: 5, log });
    const sender = createSender({
      database,
      transport,
      log,
      from,
      policy: { baseMs: 100, maxMs: 1000, maxAttempts: 3 },
      ratePerSecond: 20,
      maxInFlight: 100,
      pollIntervalMs: 10,
      sendingLeaseMs: 60_000,
      linkTokenSecret: testMailTokenSecret,
    });
    const started = Date.now();
    sender.start();
    try {
      await eventually(async () => sender.stats().sent === 30, {
        message: '30 mails sent',
        timeoutMs: 10_000,
      });
    } finally {
      await sender.stop();
      transport.close();
    }
    const times = (await sink.messages())
      .filter((m) => m.envelopeTo.some((to) => to.startsWith('rate-')))
      .map((m) => Date.parse(m.receivedAt))
      .sort((a, b) => a - b);
    assert.equal(times.length, 30);
    // A burst of one second's worth (20) at once, then 20 per second: the last 10 need half a second.
    const elapsed = times[29]! - started;
    assert.ok(elapsed >= 450, `30 mails at 20/s took ${elapsed} ms`);
    const early = times.filter((t) => t - started < 400).length;
    assert.ok(early <= 28, `${early} mails in the first 400 ms`);
    // Each mail counted once into each state it went through (veche_mail_transitions_total).
    const now = await transitions();
    for (const state of ['queued', 'sending', 'sent'])
      assert.equal((now[state] ?? 0) - (before[state] ?? 0), 30, `mails counted into ${state}`);
  });

  it('forgets finished mails, handled events and notifications that waited a day after their retention, never mails still to send', async () => {
    await queue('old', 2);
    await sql`update mails set state = 'sent', updated_at = now() - interval '40 days' where event_id = 'old-0'`.execute(
      database.db,
    );
    await sql`update mails set updated_at = now() - interval '40 days' where event_id = 'old-1'`.execute(
      database.db,
    );
    await sql`insert into bus_inbox (consumer, message_id, handled_at) values ('q', 'm-old', now() - interval '8 days'),
      ('q', 'm-new', now())`.execute(database.db);
    await sql`insert into notifications_awaiting_recipient (user_id, event_id, message, received_at)
      values ('u-gone', 'e-old', '{}', now() - interval '25 hours'), ('u-soon', 'e-new', '{}', now())`.execute(
      database.db,
    );
    const retention = createRetention({ database, log, mailDays: 30, inboxDays: 7 });
    assert.deepEqual(await retention.runOnce(), { inbox: 1, mails: 1, awaitingNotifications: 1 });
    const waiting = await sql<{ user_id: string }>`
      select user_id from notifications_awaiting_recipient`.execute(database.db);
    assert.deepEqual(waiting.rows, [{ user_id: 'u-soon' }]);
    const left = await sql<{ event_id: string; state: string }>`
      select event_id, state from mails where event_id like 'old-%'`.execute(database.db);
    assert.deepEqual(left.rows, [{ event_id: 'old-1', state: 'queued' }]);
  });
});
