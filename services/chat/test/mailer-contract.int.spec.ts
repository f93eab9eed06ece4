/**
 * The integration events chat publishes are exactly what the mailer consumes: the payloads of
 * `chat.message_posted` (a mention, a direct message) and `chat.receipts_updated` pass the mailer's own
 * schemas (services/mailer/src/events.ts), and the notify lists say who should hear of what.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
// The mailer's consumed contract, read from its source: the one definition both sides answer to.
import { parseEvent } from '../../mailer/src/events.ts';
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
  for (const row of rows) {
    // A notifying message is published as `chat.message_posted` with the message's data.
    const published = row.type === 'chat.message_notified' ? 'chat.message_posted' : row.type;
    const parsed = parseEvent(published, row.data);
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
