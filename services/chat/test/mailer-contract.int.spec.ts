/**
 * What chat appends is what its contract declares (@veche/contracts chat-events.ts), and the
 * integration events it publishes pass the schemas the mailer checks them with: `chat.message_posted`
 * (a mention, a direct message) and `chat.receipts_updated`; the notify lists say who should hear of what.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
import { Value } from '@sinclair/typebox/value';
import { chatEventData, parseIntegrationEvent, type ChatEventType } from '@veche/contracts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, { http: false });
});
after(() => h.close());

it('message_posted (for messages that notify) and receipts_updated match the mailer’s schemas', async () => {
  const { roomId } = await h.call<{ roomId: string }>('mia', 'createRoom', {
    name: 'Mail',
    visibility: 'public',
  });
  await h.register('noa');
  await h.call('noa', 'joinRoom', { roomId });
  const mention = await h.call<{ seq: number }>('mia', 'postMessage', {
    roomId,
    text: 'hey @noa',
    idempotencyKey: '1',
  });
  const dm = await h.call<{ roomId: string }>('mia', 'openDirectRoom', { userId: 'noa' });
  await h.call('mia', 'postMessage', { roomId: dm.roomId, text: 'psst', idempotencyKey: '2' });
  await h.call('noa', 'postReceipts', { roomId, readUpTo: mention.seq });
  const { rows } = await sql<{ type: string; data: unknown }>`
    select type, data from events where type in ('chat.message_notified', 'chat.receipts_updated')
    order by global_position`.execute(h.database.db);
  assert.equal(rows.length, 3);
  const all = await sql<{ type: ChatEventType; data: unknown }>`
    select type, data from events where type like 'chat.%' order by global_position`.execute(h.database.db);
  assert.ok(all.rows.length > 8);
  for (const event of all.rows)
    assert.ok(
      Value.Check(chatEventData[event.type], event.data),
      `${event.type} is what the contract declares`,
    );
  for (const row of rows) {
    // A notifying message is published as `chat.message_posted` with the message's data.
    const published = row.type === 'chat.message_notified' ? 'chat.message_posted' : row.type;
    const parsed = parseIntegrationEvent(
      ['chat.message_posted', 'chat.receipts_updated'],
      published,
      row.data,
    );
    assert.ok(parsed.ok, `${row.type}: ${parsed.ok ? '' : parsed.problems.join('; ')}`);
  }
  const [room, direct] = rows
    .slice(0, 2)
    .map((r) => r.data as { notify: unknown; roomKind: string; roomName?: string });
  assert.deepEqual(room!.notify, [{ userId: 'noa', reason: 'mention' }]);
  assert.equal(room!.roomName, 'Mail');
  assert.deepEqual(direct!.notify, [{ userId: 'noa', reason: 'direct' }]);
  assert.equal(direct!.roomKind, 'dm');
  // A message that notifies nobody stays out of the outbox.
  await h.call('mia', 'postMessage', { roomId, text: 'nobody in particular', idempotencyKey: '3' });
  const { rows: notified } = await sql<{ n: string }>`
    select count(*) as n from events where type = 'chat.message_notified'`.execute(h.database.db);
  assert.equal(Number(notified[0]!.n), 2);
});
