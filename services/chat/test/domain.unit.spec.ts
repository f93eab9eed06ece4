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
import { cleanFilename, typeAllowed } from '../src/http.ts';
import { realtimePayload, recipientsOf } from '../src/realtime.ts';
import { chatRoutes } from '@veche/contracts';

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
    assert.equal(decideInvite(room('public'), 'member', undefined), 'invite');
    assert.equal(
      codeOf(() => decideInvite(room('private'), 'member', undefined)),
      'forbidden',
    );
    assert.equal(decideInvite(room('private'), 'moderator', 'member'), 'noop');
    assert.equal(
      codeOf(() => decideInvite(room('dm'), 'member', undefined)),
      'conflict',
    );
    assert.equal(
      codeOf(() => decideInvite(room('private'), undefined, undefined)),
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
    const payload = realtimePayload(
      event('chat.message_posted', {
        roomId: 'r',
        seq: 1,
        text: 't',
        idempotencyKey: 'k',
        notify: [],
        command: {},
        mentions: [],
        attachments: [],
      }),
    );
    assert.equal(payload['type'], 'message_posted');
    assert.equal('idempotencyKey' in payload, false);
    assert.equal('command' in payload, false);
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
