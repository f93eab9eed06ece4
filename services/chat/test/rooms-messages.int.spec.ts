/**
 * Rooms and messages through the real router and PostgreSQL: what two and more users see of each
 * other in real time, history and catch-up, idempotent posts, edits, deletes, reactions, mentions,
 * receipts, typing, sync, search, direct messages, and what non-members and kicked users cannot see.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KnownAccountsRequest, gatewayServiceProcedures } from '@veche/contracts';
import { eventually } from '@veche/testing';
import { connectService } from '@veche/wamp';
import { roomStream } from '../src/domain/events.ts';
import { foldRoom } from '../src/domain/room.ts';
import { asChatEvent } from '../src/realtime.ts';
import { secret, startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename);
});
after(() => h.close());

type Page = {
  messages: {
    seq: number;
    text: string;
    senderId: string;
    messageId: string;
    deleted: boolean;
    editedAt: string | null;
    reactions: { emoji: string; userIds: string[] }[];
    mentions: string[];
    replyTo: string | null;
  }[];
  lastSeq: number;
  hasMore: boolean;
};

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code: string }).code;
  }
  return 'accepted';
}

describe('rooms and messages', () => {
  it('members see each other’s messages, in order, with roomId and seq, in real time', async () => {
    const [alice, bob, carol] = await Promise.all([h.user('alice1'), h.user('bob1'), h.user('carol1')]);
    const { roomId } = await h.call<{ roomId: string; seq: number }>('alice1', 'createRoom', {
      name: 'General',
      visibility: 'public',
    });
    await h.call('bob1', 'joinRoom', { roomId });
    await h.call('carol1', 'joinRoom', { roomId });
    await eventually(() => alice.ofType('member_joined', roomId).length === 3, {
      message: 'alice sees three joins',
    });
    for (let i = 1; i <= 20; i += 1) {
      await h.call('bob1', 'postMessage', { roomId, text: `hello ${i}`, idempotencyKey: `k${i}` });
    }
    for (const client of [alice, carol, bob]) {
      await eventually(() => client.ofType('message_posted', roomId).length === 20, {
        message: `${client.userId} gets 20`,
      });
      const seqs = client.events.filter((e) => e.roomId === roomId).map((e) => e.seq as number);
      const sorted = [...seqs].sort((a, b) => a - b);
      assert.deepEqual(seqs, sorted, 'in seq order');
      assert.equal(new Set(seqs).size, seqs.length, 'no duplicates');
      assert.deepEqual(
        client.ofType('message_posted', roomId).map((e) => e['text']),
        Array.from({ length: 20 }, (_, i) => `hello ${i + 1}`),
      );
    }
    const page = await h.call<Page>('carol1', 'listMessages', { roomId, limit: 5 });
    assert.deepEqual(
      page.messages.map((m) => m.text),
      ['hello 20', 'hello 19', 'hello 18', 'hello 17', 'hello 16'],
    );
    assert.equal(page.hasMore, true);
    const catchUp = await h.call<Page>('carol1', 'listMessages', {
      roomId,
      after: page.messages[4]!.seq - 1,
      limit: 3,
    });
    assert.deepEqual(
      catchUp.messages.map((m) => m.text),
      ['hello 16', 'hello 17', 'hello 18'],
    );
    const older = await h.call<Page>('carol1', 'listMessages', {
      roomId,
      before: page.messages[4]!.seq,
      limit: 2,
    });
    assert.deepEqual(
      older.messages.map((m) => m.text),
      ['hello 15', 'hello 14'],
    );
  });

  it('a client that drops and reconnects catches up on every missed message exactly once, in order', async () => {
    const alice = await h.user('ali12');
    let bob = await h.user('bob12');
    const { roomId } = await h.call<{ roomId: string }>('ali12', 'createRoom', {
      name: 'Gap',
      visibility: 'public',
    });
    await h.call('bob12', 'joinRoom', { roomId });
    await h.call('ali12', 'postMessage', { roomId, text: 'before', idempotencyKey: 'b' });
    await eventually(() => bob.ofType('message_posted', roomId).length === 1, {
      message: 'bob got the first',
    });
    const seen = new Map<number, string>();
    for (const event of bob.events.filter((e) => e.roomId === roomId)) seen.set(event.seq!, event.type);
    const lastSeen = Math.max(...seen.keys());
    bob.close();
    for (let i = 0; i < 10; i += 1)
      await h.call('ali12', 'postMessage', { roomId, text: `missed ${i}`, idempotencyKey: `m${i}` });
    bob = await h.user('bob12');
    const sync = await h.call<{ rooms: { roomId: string; lastSeq: number; unread: number }[] }>(
      'bob12',
      'sync',
    );
    const state = sync.rooms.find((r) => r.roomId === roomId)!;
    assert.equal(state.lastSeq, lastSeen + 10);
    assert.equal(state.unread, 11);
    const missed = await h.call<Page>('bob12', 'listMessages', { roomId, after: lastSeen, limit: 100 });
    assert.deepEqual(
      missed.messages.map((m) => [m.seq, m.text]),
      Array.from({ length: 10 }, (_, i) => [lastSeen + 1 + i, `missed ${i}`]),
    );
    await h.call('ali12', 'postMessage', { roomId, text: 'after', idempotencyKey: 'a' });
    await eventually(() => bob.ofType('message_posted', roomId).some((e) => e['text'] === 'after'), {
      message: 'live again',
    });
    // What arrived live after reconnecting (the relay may still have been sending some of the missed
    // ones) plus the catch-up, merged by seq as a client does: every message once, in order.
    const merged = new Map<number, string>(missed.messages.map((m) => [m.seq, m.text]));
    for (const event of bob.ofType('message_posted', roomId)) merged.set(event.seq!, String(event['text']));
    assert.deepEqual(
      [...merged.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text),
      [...Array.from({ length: 10 }, (_, i) => `missed ${i}`), 'after'],
    );
    alice.close();
  });

  it('a retried post with the same idempotency key never creates a second message', async () => {
    const { roomId } = await h.call<{ roomId: string }>('dave2', 'createRoom', {
      name: 'Retry',
      visibility: 'private',
    });
    const first = await h.call<{ messageId: string; seq: number; duplicate: boolean }>(
      'dave2',
      'postMessage',
      { roomId, text: 'once', idempotencyKey: 'same' },
    );
    const again = await Promise.all(
      Array.from({ length: 5 }, () =>
        h.call<{ messageId: string; duplicate: boolean }>('dave2', 'postMessage', {
          roomId,
          text: 'once',
          idempotencyKey: 'same',
        }),
      ),
    );
    assert.equal(first.duplicate, false);
    for (const result of again) {
      assert.equal(result.messageId, first.messageId);
      assert.equal(result.duplicate, true);
    }
    // Concurrent first posts of one key: exactly one message.
    const racing = await Promise.all(
      Array.from({ length: 8 }, () =>
        h.call<{ messageId: string }>('dave2', 'postMessage', {
          roomId,
          text: 'race',
          idempotencyKey: 'race',
        }),
      ),
    );
    assert.equal(new Set(racing.map((r) => r.messageId)).size, 1);
    const page = await h.call<Page>('dave2', 'listMessages', { roomId });
    assert.deepEqual(
      page.messages.map((m) => m.text),
      ['race', 'once'],
    );
  });

  it('the sender is the authenticated actor, whatever the input says', async () => {
    const { roomId } = await h.call<{ roomId: string }>('erin3', 'createRoom', {
      name: 'Who',
      visibility: 'public',
    });
    const code = await refusal(
      h.call('erin3', 'postMessage', { roomId, text: 'x', idempotencyKey: 'a', senderId: 'mallory' }),
    );
    assert.equal(code, 'validation');
    await h.call('erin3', 'postMessage', { roomId, text: 'mine', idempotencyKey: 'b' });
    const page = await h.call<Page>('erin3', 'listMessages', { roomId });
    assert.equal(page.messages[0]!.senderId, 'erin3');
  });

  it('non-members can neither read history nor receive a room’s events; kicked users stop receiving at once', async () => {
    const [owner, member, outsider] = await Promise.all([h.user('own4'), h.user('mem4'), h.user('out4')]);
    const { roomId } = await h.call<{ roomId: string }>('own4', 'createRoom', {
      name: 'Private',
      visibility: 'private',
    });
    await h.register('mem4', 'out4');
    await h.call('own4', 'inviteMember', { roomId, userId: 'mem4' });
    await h.call('own4', 'postMessage', { roomId, text: 'secret 1', idempotencyKey: '1' });
    assert.equal(await refusal(h.call('out4', 'listMessages', { roomId })), 'not_found');
    assert.equal(await refusal(h.call('out4', 'joinRoom', { roomId })), 'not_found');
    assert.equal(
      await refusal(h.call('out4', 'postMessage', { roomId, text: 'hi', idempotencyKey: 'x' })),
      'not_found',
    );
    assert.equal(await refusal(h.call('out4', 'getRoom', { roomId })), 'not_found');
    assert.equal(await refusal(h.call('mem4', 'inviteMember', { roomId, userId: 'out4' })), 'forbidden');
    assert.equal(await refusal(h.call('own4', 'inviteMember', { roomId, userId: 'ghost4' })), 'not_found');
    await eventually(() => member.ofType('message_posted', roomId).length === 1, {
      message: 'member got secret 1',
    });
    await h.call('own4', 'kickMember', { roomId, userId: 'mem4' });
    await eventually(() => member.ofType('member_left', roomId).length === 1, {
      message: 'member told of the kick',
    });
    await h.call('own4', 'postMessage', { roomId, text: 'secret 2', idempotencyKey: '2' });
    await eventually(() => owner.ofType('message_posted', roomId).length === 2, {
      message: 'owner got secret 2',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      member.ofType('message_posted', roomId).map((e) => e['text']),
      ['secret 1'],
    );
    assert.equal(outsider.events.filter((e) => e.roomId === roomId).length, 0);
    assert.equal(await refusal(h.call('mem4', 'listMessages', { roomId })), 'not_found');
  });

  it('edits, deletes, reactions, replies and mentions', async () => {
    const watcher = await h.user('fay5');
    const { roomId } = await h.call<{ roomId: string }>('fay5', 'createRoom', {
      name: 'Edit',
      visibility: 'public',
    });
    await h.call('gus5', 'joinRoom', { roomId });
    const posted = await h.call<{ messageId: string }>('gus5', 'postMessage', {
      roomId,
      text: 'helo @fay5',
      idempotencyKey: 'm1',
    });
    assert.equal(
      await refusal(h.call('fay5', 'editMessage', { roomId, messageId: posted.messageId, text: 'hacked' })),
      'forbidden',
    );
    await h.call('gus5', 'editMessage', { roomId, messageId: posted.messageId, text: 'hello @fay5' });
    await h.call('fay5', 'addReaction', { roomId, messageId: posted.messageId, emoji: '👍' });
    await h.call('fay5', 'addReaction', { roomId, messageId: posted.messageId, emoji: '👍' });
    const reply = await h.call<{ messageId: string }>('fay5', 'postMessage', {
      roomId,
      text: 'hi',
      idempotencyKey: 'r',
      replyTo: posted.messageId,
    });
    let page = await h.call<Page>('gus5', 'listMessages', {
      roomId,
    });
    const original = page.messages.find((m) => m.messageId === posted.messageId)!;
    assert.equal(original.text, 'hello @fay5');
    assert.ok(original.editedAt);
    assert.deepEqual(original.mentions, ['fay5']);
    assert.deepEqual(original.reactions, [{ emoji: '👍', userIds: ['fay5'] }]);
    assert.equal(page.messages.find((m) => m.messageId === reply.messageId)!.replyTo, posted.messageId);
    const sync = await h.call<{ rooms: { roomId: string; unreadMentions: number; unread: number }[] }>(
      'fay5',
      'sync',
    );
    const mine = sync.rooms.find((r) => r.roomId === roomId)!;
    assert.equal(mine.unreadMentions, 1);
    assert.equal(mine.unread, 1);
    // Moderators (the owner) may delete anyone's message; members only their own.
    assert.equal(
      await refusal(h.call('gus5', 'deleteMessage', { roomId, messageId: reply.messageId })),
      'forbidden',
    );
    await h.call('fay5', 'deleteMessage', { roomId, messageId: posted.messageId });
    page = await h.call('gus5', 'listMessages', { roomId });
    const deleted = page.messages.find((m) => m.messageId === posted.messageId)!;
    assert.equal(deleted.deleted, true);
    assert.equal(deleted.text, '');
    await eventually(() => watcher.ofType('message_deleted', roomId).length === 1, {
      message: 'delete seen live',
    });
    assert.equal(watcher.ofType('message_edited', roomId).length, 1);
    assert.equal(watcher.ofType('reaction_added', roomId).length, 1);
  });

  it('receipts are high-water marks that say exactly who has which message; the sender sees them live', async () => {
    const sender = await h.user('hal6');
    const { roomId } = await h.call<{ roomId: string }>('hal6', 'createRoom', {
      name: 'Receipts',
      visibility: 'public',
    });
    await h.call('ivy6', 'joinRoom', { roomId });
    await h.call('jon6', 'joinRoom', { roomId });
    const m1 = await h.call<{ messageId: string; seq: number }>('hal6', 'postMessage', {
      roomId,
      text: 'one',
      idempotencyKey: '1',
    });
    const m2 = await h.call<{ messageId: string; seq: number }>('hal6', 'postMessage', {
      roomId,
      text: 'two',
      idempotencyKey: '2',
    });
    await h.call('ivy6', 'postReceipts', { roomId, deliveredUpTo: m2.seq, readUpTo: m1.seq });
    const back = await h.call<{ deliveredUpTo: number; readUpTo: number }>('ivy6', 'postReceipts', {
      roomId,
      deliveredUpTo: 1,
    });
    assert.deepEqual(back, { deliveredUpTo: m2.seq, readUpTo: m1.seq }, 'marks never move back');
    await h.call('jon6', 'postReceipts', { roomId, readUpTo: m1.seq });
    const r1 = await h.call<{ deliveredTo: string[]; readBy: string[] }>('hal6', 'getMessageReceipts', {
      roomId,
      messageId: m1.messageId,
    });
    assert.deepEqual(r1.deliveredTo.sort(), ['ivy6', 'jon6']);
    assert.deepEqual(r1.readBy.sort(), ['ivy6', 'jon6']);
    const r2 = await h.call<{ deliveredTo: string[]; readBy: string[] }>('hal6', 'getMessageReceipts', {
      roomId,
      messageId: m2.messageId,
    });
    assert.deepEqual(r2.deliveredTo, ['ivy6']);
    assert.deepEqual(r2.readBy, []);
    await eventually(
      () =>
        sender
          .ofType('receipts_updated', roomId)
          .some((e) => e['userId'] === 'jon6' && e['readUpTo'] === m1.seq),
      { message: 'the sender sees receipts live' },
    );
    const huge = await h.call<{ deliveredUpTo: number }>('jon6', 'postReceipts', {
      roomId,
      deliveredUpTo: 1_000_000,
    });
    assert.equal(huge.deliveredUpTo, m2.seq, 'clamped to the room’s latest seq');
    assert.equal(await refusal(h.call('zed6', 'postReceipts', { roomId, readUpTo: 1 })), 'not_found');
  });

  it('typing reaches the others and expires by itself; it is not stored in the log', async () => {
    const [kim, lou] = await Promise.all([h.user('kim7'), h.user('lou7')]);
    const { roomId } = await h.call<{ roomId: string }>('kim7', 'createRoom', {
      name: 'Typing',
      visibility: 'public',
    });
    await h.call('lou7', 'joinRoom', { roomId });
    const before = await h.call<{ lastSeq: number }>('kim7', 'getRoom', { roomId });
    await h.call('kim7', 'setTyping', { roomId, typing: true });
    await eventually(
      () => lou.ofType('typing', roomId).some((e) => e['typing'] === true && e['userId'] === 'kim7'),
      { message: 'typing on' },
    );
    await eventually(() => lou.ofType('typing', roomId).some((e) => e['typing'] === false), {
      timeoutMs: 3_000,
      message: 'typing expired',
    });
    assert.equal(kim.ofType('typing', roomId).length, 0, 'not echoed to the typist');
    const afterTyping = await h.call<{ lastSeq: number }>('kim7', 'getRoom', { roomId });
    assert.equal(afterTyping.lastSeq, before.lastSeq);
    assert.equal(await refusal(h.call('max7', 'setTyping', { roomId, typing: true })), 'not_found');
  });

  it('roles, rename, topic, archive, leave', async () => {
    const { roomId } = await h.call<{ roomId: string }>('ned8', 'createRoom', {
      name: 'Roles',
      visibility: 'public',
    });
    await h.call('oli8', 'joinRoom', { roomId });
    await h.call('pat8', 'joinRoom', { roomId });
    assert.equal(await refusal(h.call('oli8', 'renameRoom', { roomId, name: 'Mine' })), 'forbidden');
    await h.call('ned8', 'setMemberRole', { roomId, userId: 'oli8', role: 'moderator' });
    await h.call('oli8', 'renameRoom', { roomId, name: 'Renamed' });
    await h.call('oli8', 'setRoomTopic', { roomId, topic: 'Topic!' });
    assert.equal(await refusal(h.call('oli8', 'kickMember', { roomId, userId: 'ned8' })), 'forbidden');
    await h.call('oli8', 'kickMember', { roomId, userId: 'pat8' });
    assert.equal(await refusal(h.call('ned8', 'leaveRoom', { roomId })), 'conflict');
    const { members } = await h.call<{ members: { userId: string; role: string; online: boolean }[] }>(
      'ned8',
      'listMembers',
      { roomId },
    );
    assert.deepEqual(
      members.map((m) => [m.userId, m.role]),
      [
        ['ned8', 'owner'],
        ['oli8', 'moderator'],
      ],
    );
    // No presence-router here: nobody can say who is online, so nobody is (chat keeps no state of its own).
    assert.equal(members.find((m) => m.userId === 'oli8')!.online, false);
    await h.call('ned8', 'archiveRoom', { roomId });
    assert.equal(
      await refusal(h.call('oli8', 'postMessage', { roomId, text: 'late', idempotencyKey: 'l' })),
      'conflict',
    );
    const room = await h.call<{ name: string; topic: string; archived: boolean }>('oli8', 'getRoom', {
      roomId,
    });
    assert.deepEqual([room.name, room.topic, room.archived], ['Renamed', 'Topic!', true]);
    await h.call('oli8', 'leaveRoom', { roomId });
    const list = await h.call<{ rooms: { roomId: string }[] }>('oli8', 'listRooms', {});
    assert.equal(
      list.rooms.some((r) => r.roomId === roomId),
      false,
    );
    // What commands decide on (the read model) is exactly the room's stream folded by `evolve`.
    const stream = await h.app.store.readStream(roomStream(roomId));
    assert.deepEqual(foldRoom(stream.map(asChatEvent)), await h.app.chat.roomState(roomId));
  });

  it('direct messages: one room per pair, notify the other side', async () => {
    await h.register('quin9', 'rae9');
    const a = await h.call<{ roomId: string; created: boolean }>('quin9', 'openDirectRoom', {
      userId: 'rae9',
    });
    const b = await h.call<{ roomId: string; created: boolean }>('rae9', 'openDirectRoom', {
      userId: 'quin9',
    });
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(a.roomId, b.roomId);
    await h.call('quin9', 'postMessage', { roomId: a.roomId, text: 'psst', idempotencyKey: 'p' });
    const sync = await h.call<{ rooms: { roomId: string; kind: string; unread: number; name: string }[] }>(
      'rae9',
      'sync',
    );
    assert.deepEqual(
      sync.rooms.map((r) => [r.roomId, r.kind, r.unread, r.name]),
      [[a.roomId, 'dm', 1, 'quin9']],
    );
    assert.equal(await refusal(h.call('quin9', 'openDirectRoom', { userId: 'quin9' })), 'validation');
    // Nobody of that id has an account: no room named after a typo.
    assert.equal(await refusal(h.call('quin9', 'openDirectRoom', { userId: 'nobody9' })), 'not_found');
    assert.equal(await refusal(h.call('quin9', 'leaveRoom', { roomId: a.roomId })), 'conflict');
  });

  it('asks the gateway about a user it has not heard of (registered a moment ago), and keeps the answer', async () => {
    // Their account.registered is still on its way: a service session answers as the gateway does.
    const gateway = await connectService({
      url: h.router.url,
      authid: 'service:gateway',
      secret,
      log: h.log,
    });
    const asked: string[][] = [];
    let roomId = '';
    try {
      await gateway.register(gatewayServiceProcedures.knownAccounts, KnownAccountsRequest, ({ userIds }) => {
        asked.push(userIds);
        const accounts = userIds.filter((id) => id.startsWith('new11'));
        return Promise.resolve({
          accounts: accounts.map((userId) => ({ userId, displayName: `Fresh ${userId}` })),
        });
      });
      await h.register('uma11');
      const dm = await h.call<{ roomId: string; created: boolean }>('uma11', 'openDirectRoom', {
        userId: 'new11a',
      });
      assert.equal(dm.created, true);
      const sync = await h.call<{ rooms: { roomId: string; name: string }[] }>('uma11', 'sync');
      assert.deepEqual(
        sync.rooms.map((r) => [r.roomId, r.name]),
        [[dm.roomId, 'Fresh new11a']],
        "the DM is named with the gateway's display name",
      );
      ({ roomId } = await h.call<{ roomId: string }>('uma11', 'createRoom', {
        name: 'Fresh',
        visibility: 'private',
      }));
      await h.call('uma11', 'inviteMember', { roomId, userId: 'new11b' });
      assert.equal(await refusal(h.call('uma11', 'openDirectRoom', { userId: 'ghost11' })), 'not_found');
      assert.deepEqual(asked, [['new11a'], ['new11b'], ['ghost11']]);
      // Known from now on: not asked again. The event, when it comes, changes nothing but the name.
      await h.call('uma11', 'inviteMember', { roomId, userId: 'new11a' });
      assert.equal(asked.length, 3);
    } finally {
      await gateway.close();
    }
    const names = async () =>
      (
        await h.call<{ members: { userId: string; displayName: string }[] }>('uma11', 'listMembers', {
          roomId,
        })
      ).members
        .map((m) => [m.userId, m.displayName])
        .sort();
    assert.deepEqual(await names(), [
      ['new11a', 'Fresh new11a'],
      ['new11b', 'Fresh new11b'],
      ['uma11', 'uma11'],
    ]);
    // The account event arrives after all: its name is the one kept (the consumer's upsert).
    await h.register('new11b');
    await eventually(async () => (await names())[1]?.[1] === 'new11b', { message: "new11b's event applied" });
    // No gateway on the router: a user not heard of is not_found at once (no wait for a callee).
    assert.equal(await refusal(h.call('uma11', 'openDirectRoom', { userId: 'new11c' })), 'not_found');
  });

  it('search finds, ranked, only in the caller’s rooms', async () => {
    const { roomId } = await h.call<{ roomId: string }>('sam10', 'createRoom', {
      name: 'Search',
      visibility: 'public',
    });
    const other = await h.call<{ roomId: string }>('tia10', 'createRoom', {
      name: 'Other',
      visibility: 'private',
    });
    await h.call('sam10', 'postMessage', { roomId, text: 'the quick brown fox', idempotencyKey: '1' });
    await h.call('sam10', 'postMessage', { roomId, text: 'fox fox fox jumps', idempotencyKey: '2' });
    await h.call('sam10', 'postMessage', { roomId, text: 'nothing here', idempotencyKey: '3' });
    await h.call('tia10', 'postMessage', { roomId: other.roomId, text: 'secret fox', idempotencyKey: '4' });
    const found = await h.call<{ results: { message: { text: string } }[] }>('sam10', 'search', { q: 'fox' });
    assert.deepEqual(
      found.results.map((r) => r.message.text),
      ['fox fox fox jumps', 'the quick brown fox'],
    );
    const none = await h.call<{ results: unknown[] }>('sam10', 'search', { q: 'secret' });
    assert.equal(none.results.length, 0);
  });

  it('switch room returns the room, members and latest page in one call', async () => {
    const { roomId } = await h.call<{ roomId: string }>('uma11', 'createRoom', {
      name: 'Switch',
      visibility: 'public',
    });
    await h.call('uma11', 'postMessage', { roomId, text: 'latest', idempotencyKey: '1' });
    const view = await h.call<{ room: { name: string }; members: unknown[]; page: Page }>(
      'uma11',
      'switchRoom',
      { roomId, limit: 10 },
    );
    assert.equal(view.room.name, 'Switch');
    assert.equal(view.members.length, 1);
    assert.equal(view.page.messages[0]!.text, 'latest');
  });
});
