import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from '@veche/db';
import { eventually, type TestDatabase } from '@veche/testing';
import type { Mailer } from '../src/app.ts';
import { recordRegistration } from '../src/projections/recipients.ts';
import type { MailRow } from '../src/outbox.ts';
import type { TestBus } from './support/bus.ts';
import { startMailerHarness, type MailerHarness } from './support/harness.ts';
import { sealedForTest, testConfig } from './support/config.ts';
import type { SinkProcess } from './support/sink-process.ts';

const digestDelayMs = 800;
const config = testConfig({ MAIL_DIGEST_DELAY_MS: String(digestDelayMs) });
let database: TestDatabase;
let sink: SinkProcess;
let bus: TestBus;
let mailer: Mailer;
let harness: MailerHarness | undefined;

before(async () => {
  harness = await startMailerHarness(config, import.meta.filename);
  ({ database, sink, bus, mailer } = harness);
});

after(() => harness?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let seq = 0;
async function register(userId: string, email: string, extra: Record<string, unknown> = {}): Promise<void> {
  const eventId = await bus.publish('account.registered', {
    userId,
    email,
    displayName: userId,
    locale: 'en',
    sealedToken: sealedForTest('verify_email', userId, `t-${userId}`),
    ...extra,
  });
  await eventually(
    async () =>
      (await sql`select 1 from mails where event_id = ${eventId}`.execute(database.db)).rows.length > 0,
    { message: `${userId} registered` },
  );
}

async function post(roomId: string, to: string, text: string, kind: 'room' | 'dm' = 'room'): Promise<string> {
  seq += 1;
  return bus.publish('chat.message_posted', {
    roomId,
    roomKind: kind,
    ...(kind === 'room' ? { roomName: roomId } : {}),
    messageId: `m-${seq}`,
    seq,
    senderId: 'u-sender',
    senderDisplayName: 'Sender',
    text,
    sentAt: new Date().toISOString(),
    notify: [{ userId: to, reason: kind === 'dm' ? 'direct' : 'mention' }],
  });
}

const notificationsTo = async (userId: string): Promise<MailRow[]> =>
  (
    await sql<MailRow>`
      select * from mails where user_id = ${userId} and category = 'notification' order by created_at`.execute(
      database.db,
    )
  ).rows;

/** The user's notification mails once at least one was sent. */
const sentNotificationsTo = (userId: string): Promise<MailRow[]> =>
  eventually(
    async () => {
      const rows = (await notificationsTo(userId)).filter((m) => m.state === 'sent');
      return rows.length > 0 && rows;
    },
    { message: `a notification mailed to ${userId}` },
  );

describe('offline notifications', () => {
  it('messages to a user who does not read them arrive as one digest after the delay', async () => {
    await register('u-dig', 'dig@example.org');
    // The digest waits until all three are in: on a busy machine, publishing them can take longer
    // than the delay, and the first would go out alone.
    await mailer.digests.stop();
    const started = Date.now();
    await post('general', 'u-dig', 'first, hello @dig');
    await post('general', 'u-dig', 'second');
    await post('dm-1', 'u-dig', 'a direct word', 'dm');
    await eventually(
      async () =>
        (await sql`select 1 from pending_notifications where user_id = 'u-dig'`.execute(database.db)).rows
          .length === 3,
      { message: 'three messages waiting for the digest' },
    );
    mailer.digests.start();
    const [message] = await eventually(
      async () => {
        const found = (await sink.messagesTo('dig@example.org')).filter(
          (m) => m.subject !== 'Veche: confirm your e-mail address',
        );
        return found.length > 0 && found;
      },
      { message: 'the digest', timeoutMs: 10_000 },
    );
    assert.ok(Date.now() - started >= digestDelayMs, 'not before the delay');
    assert.equal(message?.subject, 'Veche: 3 unread messages');
    const text = message?.text ?? '';
    assert.ok(text.indexOf('> first, hello @dig') < text.indexOf('> second'), 'oldest first');
    assert.ok(message?.text.includes('> a direct word'));
    assert.ok(message?.links.includes('https://veche.test/rooms/general?seq=1'));
    assert.match(
      message?.headers['list-unsubscribe'] ?? '',
      /^<https:\/\/veche\.test\/unsubscribe\?token=[\w-]+\.[\w-]+>$/,
    );
    await sleep(digestDelayMs + 300);
    assert.equal((await notificationsTo('u-dig')).length, 1, 'one digest, not one mail per message');
  });

  it('reading in the meantime cancels the digest', async () => {
    await register('u-read', 'read@example.org');
    // Held until the receipts are in: on a busy machine the delay could pass before the first one.
    await mailer.digests.stop();
    const events = [await post('lobby', 'u-read', 'are you there?')];
    const last = seq;
    events.push(
      await bus.publish('chat.receipts_updated', { roomId: 'lobby', userId: 'u-read', readUpTo: last }),
      // A receipt can also overtake the message it covers.
      await bus.publish('chat.receipts_updated', { roomId: 'lobby', userId: 'u-read', readUpTo: last + 1 }),
      await post('lobby', 'u-read', 'already read when it arrives'),
    );
    await eventually(
      async () =>
        (
          await sql<{ n: number }>`
            select count(*)::int as n from bus_inbox where message_id = any(${events})`.execute(database.db)
        ).rows[0]?.n === events.length,
      { message: 'the messages and receipts handled' },
    );
    mailer.digests.start();
    await sleep(digestDelayMs * 2 + 500);
    assert.deepEqual(await notificationsTo('u-read'), []);
    const pending = await sql`select 1 from pending_notifications where user_id = 'u-read'`.execute(
      database.db,
    );
    assert.equal(pending.rows.length, 0);
  });

  it('reading one room leaves the other room in the digest', async () => {
    await register('u-half', 'half@example.org');
    // Held until both messages are in and room a is read: on a busy machine the delay could pass
    // between them, and a digest of room a alone would go out first.
    await mailer.digests.stop();
    await post('room-a', 'u-half', 'in a');
    const readA = seq;
    await post('room-b', 'u-half', 'in b');
    const pendingRooms = async () =>
      (
        await sql<{ room_id: string }>`
          select room_id from pending_notifications where user_id = 'u-half'`.execute(database.db)
      ).rows.map((r) => r.room_id);
    await eventually(async () => (await pendingRooms()).length === 2, { message: 'both messages pending' });
    await bus.publish('chat.receipts_updated', { roomId: 'room-a', userId: 'u-half', readUpTo: readA });
    await eventually(async () => (await pendingRooms()).join() === 'room-b', {
      message: 'room a read, room b still pending',
    });
    mailer.digests.start();
    const [mail] = await eventually(
      async () => {
        const rows = await notificationsTo('u-half');
        return rows[0]?.state === 'sent' && rows;
      },
      { message: 'the digest of room b', timeoutMs: 10_000 },
    );
    assert.equal(mail?.kind, 'chat_notification');
    assert.ok(mail?.text_body.includes('> in b'));
    assert.ok(!mail?.text_body.includes('> in a'));
  });

  it('"immediately" sends one mail per message at once; "never" sends none', async () => {
    await register('u-now', 'now@example.org', { emailNotifications: 'immediately' });
    await register('u-never', 'never@example.org', { emailNotifications: 'never' });
    await post('fast', 'u-now', 'one');
    await post('fast', 'u-now', 'two');
    await post('fast', 'u-never', 'unheard');
    await eventually(
      async () => (await notificationsTo('u-now')).filter((m) => m.state === 'sent').length === 2,
      {
        message: 'two immediate mails',
      },
    );
    const sent = await notificationsTo('u-now');
    assert.deepEqual(
      sent.map((m) => m.kind),
      ['chat_notification', 'chat_notification'],
    );
    const waiting = await sql`select 1 from pending_notifications where user_id = 'u-now'`.execute(
      database.db,
    );
    assert.equal(waiting.rows.length, 0, 'never queued for a digest');
    await sleep(digestDelayMs + 500);
    assert.deepEqual(await notificationsTo('u-never'), []);
  });

  it('a notification for a user whose registration has not arrived waits for it, then goes out', async () => {
    // A direct message to someone who registered a moment ago: chat's event overtook the gateway's.
    const eventId = await post('dm-late', 'u-late', 'welcome!', 'dm');
    const held = async () =>
      (
        await sql<{ event_id: string; message: { notify: { userId: string }[] } }>`
          select event_id, message from notifications_awaiting_recipient where user_id = 'u-late'`.execute(
          database.db,
        )
      ).rows;
    const [row] = await eventually(async () => (await held()).length === 1 && held(), {
      message: 'the notification held for u-late',
    });
    assert.equal(row?.event_id, eventId);
    assert.deepEqual(row?.message.notify, [{ userId: 'u-late', reason: 'direct' }]);
    assert.deepEqual(await notificationsTo('u-late'), []);

    await register('u-late', 'late@example.org', { emailNotifications: 'immediately' });
    const [mail] = await sentNotificationsTo('u-late');
    assert.equal(mail?.event_id, eventId);
    assert.equal(mail?.kind, 'chat_notification');
    assert.deepEqual(await held(), []);
    const delivered = await sink.messagesTo('late@example.org');
    assert.equal(delivered.filter((m) => /welcome!/.test(m.text ?? '')).length, 1);
  });

  it('a notification that waited more than a day is forgotten, even before the retention prunes it', async () => {
    await post('dm-stale', 'u-stale', 'too late', 'dm');
    const held = async () =>
      (
        await sql`select 1 from notifications_awaiting_recipient where user_id = 'u-stale'`.execute(
          database.db,
        )
      ).rows.length;
    await eventually(async () => (await held()) === 1, { message: 'the notification held for u-stale' });
    await sql`update notifications_awaiting_recipient set received_at = now() - interval '25 hours'
              where user_id = 'u-stale'`.execute(database.db);
    // The registration commits in the same transaction as what it takes from the waiting room.
    await register('u-stale', 'stale@example.org', { emailNotifications: 'immediately' });
    assert.equal(await held(), 0, 'taken by the registration');
    assert.deepEqual(
      (await notificationsTo('u-stale')).map((m) => m.kind),
      [],
      'no mail for a message a day old',
    );
  });

  it('a notification racing the registration is neither held forever nor lost', async () => {
    // The registration is being recorded (uncommitted, holding the user's lock) when the message comes:
    // the message waits for it, then finds the user known and mails at once instead of holding.
    let commit!: () => void;
    const gate = new Promise<void>((resolve) => (commit = resolve));
    const registering = database.db.transaction().execute(async (trx) => {
      await recordRegistration(trx, {
        userId: 'u-race',
        email: 'race@example.org',
        displayName: 'Race',
        locale: 'en',
        emailNotifications: 'immediately',
        sealedToken: sealedForTest('verify_email', 'u-race', 't-u-race'),
      });
      await gate;
    });
    const eventId = await post('dm-race', 'u-race', 'just in time', 'dm');
    await eventually(
      async () =>
        (
          await sql`
            select 1 from pg_locks
            where locktype = 'advisory' and not granted
              and ((classid::bigint << 32) | objid::bigint) = hashtextextended('veche.mailer.recipient:u-race', 0)`.execute(
            database.db,
          )
        ).rows.length > 0,
      { message: 'the message waiting for the registration’s lock' },
    );
    commit();
    await registering;
    const [mail] = await sentNotificationsTo('u-race');
    assert.equal(mail?.event_id, eventId);
    const held = await sql`select 1 from notifications_awaiting_recipient where user_id = 'u-race'`.execute(
      database.db,
    );
    assert.equal(held.rows.length, 0);
  });

  it('a choice made before the registration reached the mailer waits for it, and wins over its own', async () => {
    // A client that signs up and chooses at once: its account.registered is still on its way.
    const choose = (emailNotifications: 'never' | 'digest') =>
      mailer.procedures.setNotificationPreference({
        actor: { userId: 'u-early', role: 'user' },
        input: { emailNotifications },
      });
    assert.deepEqual(await choose('digest'), { emailNotifications: 'digest' });
    assert.deepEqual(await choose('never'), { emailNotifications: 'never' });
    const state = async () => ({
      recipient: (
        await sql<{ notify: string }>`select notify from recipients where user_id = 'u-early'`.execute(
          database.db,
        )
      ).rows,
      early: (
        await sql<{ notify: string }>`select notify from early_preferences where user_id = 'u-early'`.execute(
          database.db,
        )
      ).rows,
    });
    assert.deepEqual(await state(), { recipient: [], early: [{ notify: 'never' }] });
    // The registration carries the sign-up form's choice; the later one is kept.
    await register('u-early', 'early@example.org', { emailNotifications: 'immediately' });
    assert.deepEqual(await state(), { recipient: [{ notify: 'never' }], early: [] });
    // From now on a choice goes straight to the recipient.
    assert.deepEqual(await choose('digest'), { emailNotifications: 'digest' });
    assert.deepEqual(await state(), { recipient: [{ notify: 'digest' }], early: [] });
  });

  it('the read model follows profile and address changes, and the unsubscribe link turns notifications off', async () => {
    await register('u-move', 'before@example.org');
    await bus.publish('account.profile_updated', {
      userId: 'u-move',
      displayName: 'Мария',
      locale: 'ru',
      emailNotifications: 'immediately',
    });
    await bus.publish('account.email_changed', { userId: 'u-move', email: 'after@example.org' });
    await eventually(
      async () =>
        (
          await sql<{ email: string }>`select email from recipients where user_id = 'u-move'`.execute(
            database.db,
          )
        ).rows[0]?.email === 'after@example.org',
      { message: 'the new address' },
    );
    await post('news', 'u-move', 'привет');
    const [message] = await eventually(
      async () => {
        const found = await sink.messagesTo('after@example.org');
        return found.length > 0 && found;
      },
      { message: 'the Russian notification at the new address' },
    );
    assert.equal(message?.subject, 'Veche: Sender упомянул(а) вас в #news');
    assert.match(message?.text ?? '', /Здравствуйте, Мария!/);
    assert.equal(
      (await sink.messagesTo('before@example.org')).filter((m) => m.subject?.includes('#news')).length,
      0,
    );

    const token = /unsubscribe\?token=([\w.-]+)/.exec(message?.text ?? '')?.[1];
    assert.ok(token);
    assert.deepEqual(await mailer.procedures.unsubscribe({ actor: null, input: { token } }), { ok: true });
    await assert.rejects(mailer.procedures.unsubscribe({ actor: null, input: { token: `${token}x` } }), {
      code: 'validation',
    });
    await post('news', 'u-move', 'после отписки');
    await sleep(digestDelayMs + 500);
    assert.equal((await notificationsTo('u-move')).length, 1);
  });
});
