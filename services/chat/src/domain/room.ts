/**
 * The room aggregate, pure: `decide(state, command, seq)` answers a room command with the events it
 * appends (none when nothing changes, a typed error when refused), and `evolve(state, event)` folds a
 * room's events into its state. The chat loads the state from its read model (kept in the append's
 * own transaction, so it is the stream folded by `evolve`), decides, and appends at the seq the room
 * writer gives it.
 */
import { conflict, notFound } from '@veche/errors';
import type { ChatEvent, MemberRole, RoomKind } from './events.ts';
import {
  decideArchive,
  decideDelete,
  decideEdit,
  decideInvite,
  decideJoin,
  decideKick,
  decideLeave,
  decideRole,
  decideRoomSetting,
  mustBeMember,
  mustBeWritable,
  type MessageView,
  type RoomView,
} from './rules.ts';

export interface RoomState {
  roomId: string;
  kind: RoomKind;
  name: string;
  topic: string;
  archived: boolean;
  createdBy: string;
  /** The room's latest seq (its stream version). */
  lastSeq: number;
  members: Readonly<Record<string, MemberRole>>;
}

export type RoomCommand =
  | {
      type: 'createRoom';
      roomId: string;
      actor: string;
      visibility: 'public' | 'private';
      name: string;
      topic: string;
    }
  | { type: 'openDirectRoom'; roomId: string; actor: string; pair: [string, string] }
  | { type: 'join'; actor: string }
  | { type: 'leave'; actor: string }
  /** `known`: chat has heard of the user from the gateway (never a member named after a typo). */
  | { type: 'invite'; actor: string; userId: string; known: boolean }
  | { type: 'kick'; actor: string; userId: string }
  | { type: 'setRole'; actor: string; userId: string; role: MemberRole }
  | { type: 'rename'; actor: string; name: string }
  | { type: 'setTopic'; actor: string; topic: string }
  | { type: 'archive'; actor: string }
  /** Message commands carry the message as the read model holds it (undefined: no such message). */
  | { type: 'edit'; actor: string; message: MessageView | undefined; text: string; at: string }
  | { type: 'delete'; actor: string; message: MessageView | undefined }
  /** `reacted`: the actor has this reaction on the message already. */
  | {
      type: 'react';
      actor: string;
      message: MessageView | undefined;
      emoji: string;
      add: boolean;
      reacted: boolean;
    };

const viewOf = (state: RoomState | undefined): RoomView | undefined =>
  state && {
    roomId: state.roomId,
    kind: state.kind,
    name: state.name,
    archived: state.archived,
    lastSeq: state.lastSeq,
  };

const roleOf = (state: RoomState | undefined, userId: string): MemberRole | undefined =>
  state?.members[userId];

const owners = (state: RoomState | undefined): number =>
  Object.values(state?.members ?? {}).filter((role) => role === 'owner').length;

/** The events a command appends, the first at `seq`; throws the typed error the caller sees. */
export function decide(state: RoomState | undefined, command: RoomCommand, seq: number): ChatEvent[] {
  const room = viewOf(state);
  const actorRole = roleOf(state, command.actor);
  const by = command.actor;
  // Every other command needs the room; the rules say "not found" for one the actor cannot see.
  const roomId = state?.roomId ?? '';
  switch (command.type) {
    case 'createRoom': {
      if (state) throw conflict('Room id taken');
      const { roomId } = command;
      return [
        {
          type: 'chat.room_created',
          data: {
            roomId,
            seq,
            kind: command.visibility,
            name: command.name.trim(),
            topic: command.topic,
            createdBy: by,
          },
        },
        {
          type: 'chat.member_joined',
          data: { roomId, seq: seq + 1, userId: by, role: 'owner', via: 'create', by },
        },
      ];
    }
    case 'openDirectRoom': {
      const { roomId, pair } = command;
      if (state) throw conflict('exists', { details: { roomId } });
      return [
        {
          type: 'chat.room_created',
          data: { roomId, seq, kind: 'dm', name: '', topic: '', createdBy: by, pair },
        },
        ...pair.map((userId, index): ChatEvent => ({
          type: 'chat.member_joined',
          data: { roomId, seq: seq + 1 + index, userId, role: 'member', via: 'dm', by },
        })),
      ];
    }
    case 'join':
      if (decideJoin(room, actorRole) === 'noop') return [];
      return [
        { type: 'chat.member_joined', data: { roomId, seq, userId: by, role: 'member', via: 'join', by } },
      ];
    case 'leave':
      decideLeave(room, actorRole, owners(state), Object.keys(state?.members ?? {}).length);
      return [{ type: 'chat.member_left', data: { roomId, seq, userId: by, reason: 'left', by } }];
    case 'invite':
      if (decideInvite(room, actorRole, roleOf(state, command.userId), command.known) === 'noop') return [];
      return [
        {
          type: 'chat.member_joined',
          data: { roomId, seq, userId: command.userId, role: 'member', via: 'invite', by },
        },
      ];
    case 'kick':
      decideKick(room, actorRole, by, command.userId, roleOf(state, command.userId));
      return [
        { type: 'chat.member_left', data: { roomId, seq, userId: command.userId, reason: 'kicked', by } },
      ];
    case 'setRole': {
      const target = roleOf(state, command.userId);
      if (decideRole(room, actorRole, by, command.userId, target, command.role, owners(state)) === 'noop')
        return [];
      return [
        {
          type: 'chat.member_role_changed',
          data: { roomId, seq, userId: command.userId, role: command.role, by },
        },
      ];
    }
    case 'rename': {
      decideRoomSetting(room, actorRole);
      const name = command.name.trim();
      if (state?.name === name) return [];
      return [{ type: 'chat.room_renamed', data: { roomId, seq, name, by } }];
    }
    case 'setTopic':
      decideRoomSetting(room, actorRole);
      if (state?.topic === command.topic) return [];
      return [{ type: 'chat.room_topic_set', data: { roomId, seq, topic: command.topic, by } }];
    case 'archive':
      if (decideArchive(room, actorRole) === 'noop') return [];
      return [{ type: 'chat.room_archived', data: { roomId, seq, by } }];
    case 'edit': {
      mustBeWritable(mustBeMember(room, actorRole));
      const { messageId } = decideEdit(command.message, by);
      return [
        {
          type: 'chat.message_edited',
          data: { roomId, seq, messageId, text: command.text, by, editedAt: command.at },
        },
      ];
    }
    case 'delete': {
      mustBeMember(room, actorRole);
      if (decideDelete(command.message, by, actorRole) === 'noop') return [];
      const { messageId } = command.message!;
      return [{ type: 'chat.message_deleted', data: { roomId, seq, messageId, by } }];
    }
    case 'react': {
      mustBeWritable(mustBeMember(room, actorRole));
      if (!command.message || command.message.deleted) throw notFound('No such message');
      if (command.reacted === command.add) return [];
      return [
        {
          type: command.add ? 'chat.reaction_added' : 'chat.reaction_removed',
          data: { roomId, seq, messageId: command.message.messageId, userId: by, emoji: command.emoji },
        },
      ];
    }
  }
}

/** The room after one of its events (events of other streams leave it as it was). */
export function evolve(state: RoomState | undefined, event: ChatEvent): RoomState | undefined {
  if (event.type === 'chat.room_created') {
    const d = event.data;
    return {
      roomId: d.roomId,
      kind: d.kind,
      name: d.name,
      topic: d.topic,
      archived: false,
      createdBy: d.createdBy,
      lastSeq: d.seq,
      members: {},
    };
  }
  if (!state || !('seq' in event.data) || event.data.roomId !== state.roomId) return state;
  if (event.type === 'chat.message_notified' || event.type === 'chat.bot_command_issued') return state;
  const next: RoomState = { ...state, lastSeq: Math.max(state.lastSeq, event.data.seq) };
  switch (event.type) {
    case 'chat.member_joined':
    case 'chat.member_role_changed':
      return { ...next, members: { ...state.members, [event.data.userId]: event.data.role } };
    case 'chat.member_left': {
      const { [event.data.userId]: _gone, ...members } = state.members;
      return { ...next, members };
    }
    case 'chat.room_renamed':
      return { ...next, name: event.data.name };
    case 'chat.room_topic_set':
      return { ...next, topic: event.data.topic };
    case 'chat.room_archived':
      return { ...next, archived: true };
    case 'chat.message_posted':
    case 'chat.message_edited':
    case 'chat.message_deleted':
    case 'chat.reaction_added':
    case 'chat.reaction_removed':
    case 'chat.receipts_updated':
      return next; // messages, edits, deletes and reactions move the seq only
  }
}

/** A room's state from its events, in order. */
export const foldRoom = (events: readonly ChatEvent[]): RoomState | undefined =>
  events.reduce<RoomState | undefined>(evolve, undefined);
