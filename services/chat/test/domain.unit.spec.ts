/** The chat's pure core: permission rules, mentions, commands, realtime routing, input schemas. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RecordedEvent } from '@veche/event-store';
import { inputSchemaOf } from '../src/api/procedures.ts';
import { dmRoomId } from '../src/chat.ts';
import {
  decideArchive,
  decideDelete,
  decideInvite,
  decideJoin,
  decideKick,
  decideLeave,
  decideRole,
  mentionTokens,
  parseCommand,
  type RoomView,
} from '../src/domain/rules.ts';
import { needsMembers, notifyPolicy } from '../src/domain/mentions.ts';
import { decide, evolve, foldRoom, type RoomCommand, type RoomState } from '../src/domain/room.ts';
import { cleanFilename, typeAllowed } from '../src/http.ts';
import { realtimePayload, recipientsOf } from '../src/realtime.ts';
import { Value } from '@sinclair/typebox/value';
import {
  chatEventData,
  chatRoutes,
  RoomRealtimeEvent,
  type ChatEvent,
  type MessagePosted,
} from '@veche/contracts';

const posted: MessagePosted = {
  roomId: 'r',
  roomKind: 'room',
  roomName: 'n',
  messageId: 'm1',
  seq: 8,
  senderId: 'a',
  senderDisplayName: 'A',
  text: 't',
  sentAt: '2026-01-01T00:00:00.000Z',
  notify: [{ userId: 'b', reason: 'mention' }],
  idempotencyKey: 'k',
  mentions: ['b'],
  attachments: [],
  command: { commandId: 'c1', name: 'roll', botId: 'dice', args: '' },
};

const room = (kind: RoomView['kind'], archived = false): RoomView => ({
  roomId: 'r',
  kind,
  name: 'n',
  archived,
  lastSeq: 3,
});
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('room rules', () => {
  it('hides private rooms from non-members and lets anyone join public ones', () => {
    assert.equal(decideJoin(room('public'), undefined), 'join');
    assert.equal(decideJoin(room('public'), 'member'), 'noop');
    assert.equal(
      codeOf(() => decideJoin(room('private'), undefined)),
      'not_found',
    );
    assert.equal(
      codeOf(() => decideJoin(room('dm'), undefined)),
      'not_found',
    );
    assert.equal(
      codeOf(() => decideJoin(room('public', true), undefined)),
      'conflict',
    );
    assert.equal(
      codeOf(() => decideJoin(undefined, undefined)),
      'not_found',
    );
  });
  it('invites: members of public rooms, moderators of private ones, never into a DM', () => {
    assert.equal(decideInvite(room('public'), 'member', undefined, true), 'invite');
    assert.equal(
      codeOf(() => decideInvite(room('public'), 'member', undefined, false)),
      'not_found',
    );
    assert.equal(
      codeOf(() => decideInvite(room('private'), 'member', undefined, true)),
      'forbidden',
    );
    assert.equal(decideInvite(room('private'), 'moderator', 'member', true), 'noop');
    assert.equal(
      codeOf(() => decideInvite(room('dm'), 'member', undefined, true)),
      'conflict',
    );
    assert.equal(
      codeOf(() => decideInvite(room('private'), undefined, undefined, true)),
      'not_found',
    );
  });
  it('kicks: moderators kick members, owners kick moderators, nobody kicks owners or themselves', () => {
    assert.equal(
      codeOf(() => decideKick(room('public'), 'moderator', 'a', 'b', 'member')),
      'ok',
    );
    assert.equal(
      codeOf(() => decideKick(room('public'), 'member', 'a', 'b', 'member')),
      'forbidden',
    );
    assert.equal(
      codeOf(() => decideKick(room('public'), 'moderator', 'a', 'b', 'moderator')),
      'forbidden',
    );
    assert.equal(
      codeOf(() => decideKick(room('public'), 'owner', 'a', 'b', 'moderator')),
      'ok',
    );
    assert.equal(
      codeOf(() => decideKick(room('public'), 'owner', 'a', 'b', 'owner')),
      'forbidden',
    );
    assert.equal(
      codeOf(() => decideKick(room('public'), 'owner', 'a', 'a', 'owner')),
      'validation',
    );
    assert.equal(
      codeOf(() => decideKick(room('public'), 'owner', 'a', 'b', undefined)),
      'not_found',
    );
  });
  it('roles and leaving keep at least one owner', () => {
    assert.equal(decideRole(room('public'), 'owner', 'a', 'b', 'member', 'moderator', 1), 'change');
    assert.equal(decideRole(room('public'), 'moderator', 'a', 'b', 'member', 'moderator', 1), 'change');
    assert.equal(
      codeOf(() => decideRole(room('public'), 'moderator', 'a', 'b', 'member', 'owner', 1)),
      'forbidden',
    );
    assert.equal(
      codeOf(() => decideRole(room('public'), 'owner', 'a', 'a', 'owner', 'member', 1)),
      'conflict',
    );
    assert.equal(decideRole(room('public'), 'owner', 'a', 'a', 'owner', 'member', 2), 'change');
    assert.equal(
      codeOf(() => decideLeave(room('public'), 'owner', 1, 3)),
      'conflict',
    );
    assert.equal(
      codeOf(() => decideLeave(room('public'), 'owner', 1, 1)),
      'ok',
    );
    assert.equal(
      codeOf(() => decideLeave(room('dm'), 'member', 0, 2)),
      'conflict',
    );
  });
  it('deletes: the sender or a moderator; archive: owners', () => {
    const message = { messageId: 'm', seq: 2, senderId: 'a', deleted: false };
    assert.equal(decideDelete(message, 'a', 'member'), 'delete');
    assert.equal(decideDelete(message, 'b', 'moderator'), 'delete');
    assert.equal(
      codeOf(() => decideDelete(message, 'b', 'member')),
      'forbidden',
    );
    assert.equal(decideDelete({ ...message, deleted: true }, 'a', 'member'), 'noop');
    assert.equal(
      codeOf(() => decideArchive(room('public'), 'moderator')),
      'forbidden',
    );
    assert.equal(decideArchive(room('public', true), 'owner'), 'noop');
  });
});

describe('text', () => {
  it('finds mentions, not e-mail addresses', () => {
    assert.deepEqual(mentionTokens('hi @Bob and @alice_1, mail x@y.z'), ['bob', 'alice_1']);
    assert.deepEqual(mentionTokens('@bob. @bob'), ['bob']);
    assert.deepEqual(mentionTokens('no mentions'), []);
  });
  it('parses slash commands', () => {
    assert.deepEqual(parseCommand('/roll 2d6'), { name: 'roll', args: '2d6' });
    assert.deepEqual(parseCommand('  /Roll  '), { name: 'roll', args: '' });
    assert.equal(parseCommand('roll'), undefined);
    assert.equal(parseCommand('/'), undefined);
    assert.equal(parseCommand('/../etc'), undefined);
  });
  it('cleans file names and checks types', () => {
    assert.equal(cleanFilename('../../a\u0000b".png'), 'ab.png');
    assert.equal(cleanFilename(undefined), 'file');
    assert.equal(typeAllowed('image/png', ['image/*']), true);
    assert.equal(typeAllowed('text/html', ['image/*', 'text/plain']), false);
    assert.equal(typeAllowed('TEXT/PLAIN; charset=utf-8', ['text/plain']), true);
  });
  it('gives each pair one direct-message room', () => {
    assert.equal(dmRoomId('a', 'b'), dmRoomId('b', 'a'));
    assert.notEqual(dmRoomId('a', 'b'), dmRoomId('a', 'c'));
    assert.match(dmRoomId('a', 'b'), /^dm-[0-9a-f]{32}$/);
  });
});

describe('realtime routing', () => {
  const event = (type: string, data: Record<string, unknown>): RecordedEvent =>
    ({ type, data, streamVersion: data['seq'] ?? 0 }) as unknown as RecordedEvent;
  it('sends each event to the members of its moment: joiners and leavers included, kicked ones not after', () => {
    const events = [
      event('chat.message_posted', { roomId: 'r', seq: 5 }),
      event('chat.member_joined', { roomId: 'r', seq: 6, userId: 'c' }),
      event('chat.message_posted', { roomId: 'r', seq: 7 }),
      event('chat.member_left', { roomId: 'r', seq: 8, userId: 'b' }),
      event('chat.message_posted', { roomId: 'r', seq: 9 }),
    ];
    const now = new Map([['r', new Set(['a', 'c'])]]);
    const recipients = recipientsOf(events, now).map((list) => [...list].sort());
    assert.deepEqual(recipients, [
      ['a', 'b'],
      ['a', 'b', 'c'],
      ['a', 'b', 'c'],
      ['a', 'b', 'c'],
      ['a', 'c'],
    ]);
  });
  it('strips what members must not see from a posted message', () => {
    const payload = realtimePayload({ type: 'chat.message_posted', data: posted });
    assert.ok(payload);
    assert.equal(payload.type, 'message_posted');
    assert.equal('idempotencyKey' in payload, false);
    assert.equal('command' in payload, false);
    assert.equal('notify' in payload, false);
  });
  it('gives every room event a realtime payload in the closed union, and none to the outbox’s', () => {
    const at = '2026-01-01T00:00:00.000Z';
    const roomEvents: ChatEvent[] = [
      {
        type: 'chat.room_created',
        data: { roomId: 'r', seq: 1, kind: 'public', name: 'n', topic: '', createdBy: 'a' },
      },
      {
        type: 'chat.member_joined',
        data: { roomId: 'r', seq: 2, userId: 'a', role: 'owner', via: 'create', by: 'a' },
      },
      { type: 'chat.member_left', data: { roomId: 'r', seq: 3, userId: 'b', reason: 'kicked', by: 'a' } },
      {
        type: 'chat.member_role_changed',
        data: { roomId: 'r', seq: 4, userId: 'b', role: 'moderator', by: 'a' },
      },
      { type: 'chat.room_renamed', data: { roomId: 'r', seq: 5, name: 'm', by: 'a' } },
      { type: 'chat.room_topic_set', data: { roomId: 'r', seq: 6, topic: 't', by: 'a' } },
      { type: 'chat.room_archived', data: { roomId: 'r', seq: 7, by: 'a' } },
      { type: 'chat.message_posted', data: posted },
      {
        type: 'chat.message_edited',
        data: { roomId: 'r', seq: 9, messageId: 'm1', text: 'x', by: 'a', editedAt: at },
      },
      { type: 'chat.message_deleted', data: { roomId: 'r', seq: 10, messageId: 'm1', by: 'a' } },
      {
        type: 'chat.reaction_added',
        data: { roomId: 'r', seq: 11, messageId: 'm1', userId: 'a', emoji: '👍' },
      },
      {
        type: 'chat.reaction_removed',
        data: { roomId: 'r', seq: 12, messageId: 'm1', userId: 'a', emoji: '👍' },
      },
      { type: 'chat.receipts_updated', data: { roomId: 'r', userId: 'a', deliveredUpTo: 3, readUpTo: 2 } },
    ];
    for (const event of roomEvents) {
      assert.ok(Value.Check(chatEventData[event.type], event.data), event.type);
      const payload = realtimePayload(event);
      assert.ok(Value.Check(RoomRealtimeEvent, payload), `${event.type}: ${JSON.stringify(payload)}`);
    }
    assert.equal(realtimePayload({ type: 'chat.message_notified', data: posted }), undefined);
    assert.equal(realtimePayload({ type: 'chat.bot_command_issued', data: posted }), undefined);
  });
  it('refuses a realtime payload with a field the contract does not name', () => {
    const payload = { ...realtimePayload({ type: 'chat.message_posted', data: posted }), notify: [] };
    assert.equal(Value.Check(RoomRealtimeEvent, payload), false);
  });
});

it('builds each procedure’s input schema from its route: params, query and body, closed', () => {
  const post = chatRoutes.find((r) => r.kind === 'rpc' && r.procedure === 'veche.chat.postMessage')!;
  const schema = inputSchemaOf(post);
  assert.deepEqual(Object.keys(schema.properties).sort(), [
    'attachments',
    'idempotencyKey',
    'replyTo',
    'roomId',
    'text',
  ]);
  assert.equal(schema.additionalProperties, false);
});

describe('room aggregate', () => {
  const created = foldRoom(
    decide(
      undefined,
      { type: 'createRoom', roomId: 'r', actor: 'own', visibility: 'public', name: ' Lobby ', topic: '' },
      1,
    ),
  )!;
  /** The room after `events` decided from the state before each. */
  const run = (state: RoomState, ...commands: RoomCommand[]): RoomState =>
    commands.reduce(
      (s, command) => decide(s, command, s.lastSeq + 1).reduce<RoomState | undefined>(evolve, s)!,
      state,
    );
  const room = run(
    created,
    { type: 'join', actor: 'mod' },
    { type: 'setRole', actor: 'own', userId: 'mod', role: 'moderator' },
    { type: 'join', actor: 'mem' },
  );
  const at = '2026-01-01T00:00:00.000Z';
  const byMem = { messageId: 'm1', seq: 5, senderId: 'mem', deleted: false };
  const code = (f: () => unknown): string => {
    try {
      f();
      return 'allowed';
    } catch (error) {
      return (error as { code: string }).code;
    }
  };

  it('creating folds into a room with its owner, the name trimmed, seq 2', () => {
    assert.deepEqual(created, {
      roomId: 'r',
      kind: 'public',
      name: 'Lobby',
      topic: '',
      archived: false,
      createdBy: 'own',
      lastSeq: 2,
      members: { own: 'owner' },
    });
    assert.equal(
      code(() =>
        decide(
          created,
          { type: 'createRoom', roomId: 'r', actor: 'x', visibility: 'public', name: 'n', topic: '' },
          3,
        ),
      ),
      'conflict',
    );
  });

  const table: [string, RoomCommand, string | string[]][] = [
    ['a stranger joins a public room', { type: 'join', actor: 'new' }, ['chat.member_joined']],
    ['a member joins again: nothing', { type: 'join', actor: 'mem' }, []],
    ['a member leaves', { type: 'leave', actor: 'mem' }, ['chat.member_left']],
    ['the last owner leaves a room with others', { type: 'leave', actor: 'own' }, 'conflict'],
    [
      'a member invites a known user',
      { type: 'invite', actor: 'mem', userId: 'u', known: true },
      ['chat.member_joined'],
    ],
    [
      'a member invites an unknown user',
      { type: 'invite', actor: 'mem', userId: 'u', known: false },
      'not_found',
    ],
    ['a member kicks', { type: 'kick', actor: 'mem', userId: 'mod' }, 'forbidden'],
    ['a moderator kicks a member', { type: 'kick', actor: 'mod', userId: 'mem' }, ['chat.member_left']],
    ['a moderator kicks the owner', { type: 'kick', actor: 'mod', userId: 'own' }, 'forbidden'],
    [
      'the owner demotes itself, the only owner',
      { type: 'setRole', actor: 'own', userId: 'own', role: 'member' },
      'conflict',
    ],
    ['a moderator renames', { type: 'rename', actor: 'mod', name: 'New' }, ['chat.room_renamed']],
    ['a rename to the same name: nothing', { type: 'rename', actor: 'mod', name: ' Lobby' }, []],
    ['a member sets the topic', { type: 'setTopic', actor: 'mem', topic: 't' }, 'forbidden'],
    ['a moderator archives', { type: 'archive', actor: 'mod' }, 'forbidden'],
    ['the owner archives', { type: 'archive', actor: 'own' }, ['chat.room_archived']],
    ['an outsider renames', { type: 'rename', actor: 'out', name: 'x' }, 'not_found'],
    [
      'the sender edits',
      { type: 'edit', actor: 'mem', message: byMem, text: 'x', at },
      ['chat.message_edited'],
    ],
    ['another member edits', { type: 'edit', actor: 'mod', message: byMem, text: 'x', at }, 'forbidden'],
    [
      'an edit of a deleted message',
      { type: 'edit', actor: 'mem', message: { ...byMem, deleted: true }, text: 'x', at },
      'not_found',
    ],
    [
      'a moderator deletes a member’s message',
      { type: 'delete', actor: 'mod', message: byMem },
      ['chat.message_deleted'],
    ],
    [
      'a member deletes another’s message',
      { type: 'delete', actor: 'mem', message: { ...byMem, senderId: 'own' } },
      'forbidden',
    ],
    [
      'a deleted message deleted again: nothing',
      { type: 'delete', actor: 'mem', message: { ...byMem, deleted: true } },
      [],
    ],
    [
      'a member reacts',
      { type: 'react', actor: 'mod', message: byMem, emoji: '👍', add: true, reacted: false },
      ['chat.reaction_added'],
    ],
    [
      'the same reaction twice: nothing',
      { type: 'react', actor: 'mod', message: byMem, emoji: '👍', add: true, reacted: true },
      [],
    ],
    [
      'an outsider reacts',
      { type: 'react', actor: 'out', message: byMem, emoji: '👍', add: true, reacted: false },
      'not_found',
    ],
    [
      'a reaction to no message',
      { type: 'react', actor: 'mem', message: undefined, emoji: '👍', add: false, reacted: true },
      'not_found',
    ],
  ];
  for (const [name, command, expected] of table) {
    it(name, () => {
      if (typeof expected === 'string')
        assert.equal(
          code(() => decide(room, command, 6)),
          expected,
        );
      else
        assert.deepEqual(
          decide(room, command, 6).map((e) => e.type),
          expected,
        );
    });
  }

  it('evolve follows members, roles, name, topic, archive and the seq', () => {
    const after = run(
      room,
      { type: 'kick', actor: 'own', userId: 'mem' },
      { type: 'rename', actor: 'mod', name: 'Hall' },
      { type: 'setTopic', actor: 'mod', topic: 'news' },
      { type: 'archive', actor: 'own' },
    );
    assert.deepEqual(after.members, { own: 'owner', mod: 'moderator' });
    assert.deepEqual([after.name, after.topic, after.archived, after.lastSeq], ['Hall', 'news', true, 9]);
    assert.equal(
      code(() => decide(after, { type: 'join', actor: 'new' }, 10)),
      'conflict',
    );
    // Messages move the seq only; another room's events change nothing.
    assert.equal(
      evolve(after, { type: 'chat.message_posted', data: { ...posted, roomId: 'r', seq: 10 } })!.lastSeq,
      10,
    );
    assert.equal(
      evolve(after, { type: 'chat.message_posted', data: { ...posted, roomId: 'x', seq: 99 } }),
      after,
    );
  });

  it('a direct-message room has the pair as members and refuses roles, leaving and names', () => {
    const dm = foldRoom(
      decide(undefined, { type: 'openDirectRoom', roomId: 'd', actor: 'a', pair: ['a', 'b'] }, 1),
    )!;
    assert.deepEqual([dm.kind, dm.members, dm.lastSeq], ['dm', { a: 'member', b: 'member' }, 3]);
    for (const command of [
      { type: 'leave', actor: 'a' },
      { type: 'rename', actor: 'a', name: 'x' },
      { type: 'invite', actor: 'a', userId: 'c', known: true },
    ] satisfies RoomCommand[])
      assert.equal(
        code(() => decide(dm, command, 4)),
        'conflict',
      );
  });
});

describe('who hears of a message', () => {
  const members = [
    { userId: 'ann', displayName: 'Ann Lee' },
    { userId: 'bob', displayName: null },
    { userId: 'cy', displayName: 'Cy' },
  ];
  it('mentions by id or by display name without spaces, never the sender', () => {
    assert.deepEqual(
      notifyPolicy({ text: 'hi @bob and @AnnLee, @cy', senderId: 'cy', roomKind: 'public', members }),
      {
        mentions: ['ann', 'bob'],
        notify: [
          { userId: 'ann', reason: 'mention' },
          { userId: 'bob', reason: 'mention' },
        ],
      },
    );
  });
  it('a direct message notifies the other side; a room message without mentions nobody', () => {
    const pair = members.slice(0, 2);
    assert.deepEqual(notifyPolicy({ text: 'psst', senderId: 'ann', roomKind: 'dm', members: pair }).notify, [
      { userId: 'bob', reason: 'direct' },
    ]);
    assert.deepEqual(notifyPolicy({ text: 'psst', senderId: 'ann', roomKind: 'public', members }).notify, []);
    assert.equal(needsMembers('psst', 'public'), false);
    assert.equal(needsMembers('psst', 'dm'), true);
  });
});
