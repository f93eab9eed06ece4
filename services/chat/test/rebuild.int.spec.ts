/**
 * Chat's read models are rebuilt from its log by the event store's one command, run as a real
 * process while chat runs: after the tables are emptied and rebuilt, every query of the API answers
 * exactly what it answered before (rooms, members and roles, messages with edits, deletions, replies,
 * mentions and reactions, receipts, unread counts, search).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
import { testDatabaseUrl } from '@veche/testing';
import { startHarness, type Harness } from './support/harness.ts';

const command = fileURLToPath(
  new URL('../../../libs/event-store/bin/rebuild-read-models.ts', import.meta.url),
);
const readModels = fileURLToPath(new URL('../src/projections/index.ts', import.meta.url));

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, { http: false });
});
after(() => h.close());

const users = ['reb1', 'reb2', 'reb3'] as const;

/** Every answer of the read side, for every user, minus the online flag (a clock, not the log). */
async function everything(rooms: string[], messageIds: string[]): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const user of users) {
    out[`${user} mine`] = await h.call(user, 'listRooms', {});
    out[`${user} public`] = await h.call(user, 'listRooms', { scope: 'public' });
    out[`${user} sync`] = await h.call(user, 'sync');
    out[`${user} search`] = await h.call(user, 'search', { q: 'hello' });
    for (const roomId of rooms) {
      const answer = async (procedure: string, input: Record<string, unknown>) =>
        h.call(user, procedure, input).catch((error: { code?: string }) => ({ refused: error.code }));
      out[`${user} ${roomId} room`] = await answer('getRoom', { roomId });
      const members = (await answer('listMembers', { roomId })) as { members?: { online?: boolean }[] };
      for (const member of members.members ?? []) delete member.online;
      out[`${user} ${roomId} members`] = members;
      out[`${user} ${roomId} messages`] = await answer('listMessages', { roomId, limit: 500 });
      out[`${user} ${roomId} after`] = await answer('listMessages', { roomId, after: 2 });
      out[`${user} ${roomId} receipts`] = await answer('getReceipts', { roomId });
      for (const messageId of messageIds)
        out[`${user} ${roomId} ${messageId}`] = await answer('getMessageReceipts', { roomId, messageId });
    }
  }
  return out;
}

it('drops and rebuilds the read models from the log: the API answers the same', async () => {
  await h.register(...users);
  const [a, b, c] = users;
  const { roomId: open } = await h.call<{ roomId: string }>(a, 'createRoom', {
    name: 'Open',
    visibility: 'public',
    topic: 'all welcome',
  });
  const { roomId: closed } = await h.call<{ roomId: string }>(a, 'createRoom', {
    name: 'Closed',
    visibility: 'private',
  });
  const { roomId: old } = await h.call<{ roomId: string }>(b, 'createRoom', {
    name: 'Old',
    visibility: 'public',
  });
  const { roomId: dm } = await h.call<{ roomId: string }>(c, 'openDirectRoom', { userId: a });
  await h.call(b, 'joinRoom', { roomId: open });
  await h.call(c, 'joinRoom', { roomId: open });
  await h.call(a, 'inviteMember', { roomId: closed, userId: b });
  await h.call(a, 'inviteMember', { roomId: closed, userId: c });
  await h.call(a, 'setMemberRole', { roomId: open, userId: b, role: 'moderator' });
  await h.call(b, 'kickMember', { roomId: open, userId: c });
  await h.call(a, 'renameRoom', { roomId: closed, name: 'Closed doors' });
  await h.call(a, 'setRoomTopic', { roomId: closed, topic: 'plans' });
  await h.call(b, 'archiveRoom', { roomId: old });
  const posted: string[] = [];
  const post = async (user: string, roomId: string, text: string, extra: Record<string, unknown> = {}) => {
    const { messageId } = await h.call<{ messageId: string }>(user, 'postMessage', {
      roomId,
      text,
      idempotencyKey: `k${posted.length}`,
      ...extra,
    });
    posted.push(messageId);
    return messageId;
  };
  const first = await post(a, open, 'hello everyone');
  await post(b, open, `hello @${a}`, { replyTo: first });
  const edited = await post(a, open, 'helo typo');
  await h.call(a, 'editMessage', { roomId: open, messageId: edited, text: 'hello, fixed' });
  const removed = await post(b, open, 'hello, gone soon');
  await h.call(b, 'deleteMessage', { roomId: open, messageId: removed });
  await h.call(b, 'addReaction', { roomId: open, messageId: first, emoji: '👍' });
  await h.call(a, 'addReaction', { roomId: open, messageId: first, emoji: '🎉' });
  await h.call(a, 'removeReaction', { roomId: open, messageId: first, emoji: '🎉' });
  await post(c, closed, `hello @${b} in private`);
  await post(c, dm, 'hello in a DM');
  await h.call(b, 'postReceipts', { roomId: open, readUpTo: 9 });
  await h.call(a, 'postReceipts', { roomId: dm, deliveredUpTo: 3 });
  const rooms = [open, closed, old, dm];

  const before = await everything(rooms, posted);
  // Dropped: the API answers from nothing.
  await sql`truncate rooms, members, messages, reactions, mentions, receipts`.execute(h.database.db);
  assert.deepEqual(await h.call(a, 'listRooms', {}), { rooms: [] });

  const run = spawnSync(
    process.execPath,
    [command, '--read-models', readModels, '--schema', h.database.schema, '--batch-size', '7'],
    { encoding: 'utf8', env: { ...process.env, DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'warn' } },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /events replayed into chat\.read-model/);
  assert.deepEqual(await everything(rooms, posted), before);
  // And chat goes on writing where the log left off.
  const next = await h.call<{ seq: number }>(a, 'postMessage', {
    roomId: open,
    text: 'after',
    idempotencyKey: 'z',
  });
  const page = await h.call<{ lastSeq: number }>(a, 'listMessages', { roomId: open, limit: 1 });
  assert.equal(page.lastSeq, next.seq);
});
