/**
 * Who may do what in a room: pure decisions over the room as the read model shows it. Each returns
 * nothing when allowed and throws the typed error the caller sees otherwise.
 */
import { conflict, forbidden, notFound, validationError } from '@veche/errors';
import type { MemberRole, RoomKind } from './events.ts';

export interface RoomView {
  roomId: string;
  kind: RoomKind;
  name: string;
  archived: boolean;
  lastSeq: number;
}

const rank: Record<MemberRole, number> = { member: 0, moderator: 1, owner: 2 };
export const atLeast = (role: MemberRole | undefined, wanted: MemberRole): boolean =>
  role !== undefined && rank[role] >= rank[wanted];

/** A room the caller cannot see is "not found", never "forbidden": its existence is not disclosed. */
export function mustSee(room: RoomView | undefined, actorRole: MemberRole | undefined): RoomView {
  if (!room || (room.kind !== 'public' && actorRole === undefined)) throw notFound('No such room');
  return room;
}

export function mustBeMember(room: RoomView | undefined, actorRole: MemberRole | undefined): RoomView {
  if (!room || actorRole === undefined) throw notFound('No such room');
  return room;
}

export function mustBeWritable(room: RoomView): void {
  if (room.archived) throw conflict('The room is archived', { details: { roomId: room.roomId } });
}

export function decideJoin(room: RoomView | undefined, actorRole: MemberRole | undefined): 'join' | 'noop' {
  if (!room || room.kind !== 'public') throw notFound('No such room');
  mustBeWritable(room);
  return actorRole === undefined ? 'join' : 'noop';
}

export function decideLeave(
  room: RoomView | undefined,
  actorRole: MemberRole | undefined,
  owners: number,
  members: number,
): void {
  const seen = mustBeMember(room, actorRole);
  if (seen.kind === 'dm') throw conflict('A direct-message room cannot be left');
  if (actorRole === 'owner' && owners === 1 && members > 1) {
    throw conflict('The last owner must make someone else owner before leaving');
  }
}

export function decideInvite(
  room: RoomView | undefined,
  actorRole: MemberRole | undefined,
  targetRole: MemberRole | undefined,
  targetKnown: boolean,
): 'invite' | 'noop' {
  const seen = mustBeMember(room, actorRole);
  mustBeWritable(seen);
  if (seen.kind === 'dm') throw conflict('A direct-message room has exactly two members');
  if (seen.kind === 'private' && !atLeast(actorRole, 'moderator')) {
    throw forbidden('Only moderators and owners invite to a private room');
  }
  if (targetRole !== undefined) return 'noop';
  if (!targetKnown) throw notFound('No such user');
  return 'invite';
}

export function decideKick(
  room: RoomView | undefined,
  actorRole: MemberRole | undefined,
  actorId: string,
  targetId: string,
  targetRole: MemberRole | undefined,
): void {
  const seen = mustBeMember(room, actorRole);
  if (seen.kind === 'dm') throw conflict('Nobody is kicked from a direct-message room');
  if (!atLeast(actorRole, 'moderator')) throw forbidden('Only moderators and owners kick');
  if (targetId === actorId) throw validationError('Leave the room instead of kicking yourself');
  if (targetRole === undefined) throw notFound('No such member');
  if (targetRole === 'owner') throw forbidden('An owner cannot be kicked');
  if (targetRole === 'moderator' && actorRole !== 'owner') throw forbidden('Only owners kick moderators');
}

export function decideRole(
  room: RoomView | undefined,
  actorRole: MemberRole | undefined,
  actorId: string,
  targetId: string,
  targetRole: MemberRole | undefined,
  wanted: MemberRole,
  owners: number,
): 'change' | 'noop' {
  const seen = mustBeMember(room, actorRole);
  if (seen.kind === 'dm') throw conflict('Roles do not apply to direct-message rooms');
  if (targetRole === undefined) throw notFound('No such member');
  if (targetRole === wanted) return 'noop';
  if (actorRole === 'owner') {
    if (targetId === actorId && targetRole === 'owner' && owners === 1) {
      throw conflict('A room keeps at least one owner');
    }
    return 'change';
  }
  if (actorRole === 'moderator' && targetRole === 'member' && wanted === 'moderator') return 'change';
  throw forbidden('Not allowed to change this role');
}

export function decideRoomSetting(room: RoomView | undefined, actorRole: MemberRole | undefined): RoomView {
  const seen = mustBeMember(room, actorRole);
  mustBeWritable(seen);
  if (seen.kind === 'dm') throw conflict('Direct-message rooms have no name or topic');
  if (!atLeast(actorRole, 'moderator')) throw forbidden('Only moderators and owners change the room');
  return seen;
}

export function decideArchive(
  room: RoomView | undefined,
  actorRole: MemberRole | undefined,
): 'archive' | 'noop' {
  const seen = mustBeMember(room, actorRole);
  if (seen.kind === 'dm') throw conflict('Direct-message rooms are not archived');
  if (actorRole !== 'owner') throw forbidden('Only owners archive a room');
  return seen.archived ? 'noop' : 'archive';
}

export interface MessageView {
  messageId: string;
  seq: number;
  senderId: string;
  deleted: boolean;
}

export function decideEdit(message: MessageView | undefined, actorId: string): MessageView {
  if (!message || message.deleted) throw notFound('No such message');
  if (message.senderId !== actorId) throw forbidden('Only the sender edits a message');
  return message;
}

export function decideDelete(
  message: MessageView | undefined,
  actorId: string,
  actorRole: MemberRole | undefined,
): 'delete' | 'noop' {
  if (!message) throw notFound('No such message');
  if (message.senderId !== actorId && !atLeast(actorRole, 'moderator')) {
    throw forbidden('Only the sender or a moderator deletes a message');
  }
  return message.deleted ? 'noop' : 'delete';
}

/** `@name` tokens in a text: ids and display names without spaces, lower-cased. */
export function mentionTokens(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(/(?:^|[^\w@])@([A-Za-z0-9_.-]{1,64})/g)) {
    const token = match[1]?.replace(/[.-]+$/, '').toLowerCase();
    if (token) found.add(token);
  }
  return [...found];
}

/** The command a text invokes, when it starts with `/<name>` and `<name>` is registered. */
export function parseCommand(text: string): { name: string; args: string } | undefined {
  const match = /^\/([a-z][a-z0-9_-]{0,31})(?:\s+([\s\S]*))?$/i.exec(text.trim());
  if (!match?.[1]) return undefined;
  return { name: match[1].toLowerCase(), args: (match[2] ?? '').trim() };
}

/** The deterministic room id of a direct-message pair. */
export function dmPair(a: string, b: string): [string, string] {
  return a < b ? [a, b] : [b, a];
}
