/**
 * Rooms and their members: creating a room or opening a direct-message room, listing and reading
 * rooms, and the membership and settings commands the room aggregate decides.
 */
import { createHash } from 'node:crypto';
import { conflict, isVecheError, notFound, validationError } from '@veche/errors';
import { uuidV7 as v7 } from '@veche/event-store';
import { decide } from './domain/room.ts';
import type { MemberRole } from './domain/events.ts';
import { dmPair } from './domain/rules.ts';
import { applied, lastSeqOf, roomsSeenBy, type Actor, type RoomAccess } from './room-access.ts';
import { roomOut } from './views.ts';

/** The id of the direct-message room of a pair: the same whoever opens it. */
export function dmRoomId(a: string, b: string): string {
  return `dm-${createHash('sha256').update(dmPair(a, b).join('\u0000')).digest('hex').slice(0, 32)}`;
}

export function createRooms(access: RoomAccess) {
  const { db, appendRoom, runRoomCommand, userKnown } = access;

  async function createRoom(
    actor: Actor,
    input: { name: string; visibility: 'public' | 'private'; topic?: string },
  ) {
    const roomId = v7();
    const events = await appendRoom(roomId, actor.userId, (first) => {
      if (first !== 1) throw conflict('Room id taken');
      return decide(
        undefined,
        {
          type: 'createRoom',
          roomId,
          actor: actor.userId,
          visibility: input.visibility,
          name: input.name,
          topic: input.topic ?? '',
        },
        first,
      );
    });
    return { roomId, seq: lastSeqOf(events) ?? 2 };
  }

  async function openDirectRoom(actor: Actor, input: { userId: string }) {
    if (input.userId === actor.userId) throw validationError('A direct-message room needs another user');
    const pair = dmPair(actor.userId, input.userId);
    const roomId = dmRoomId(actor.userId, input.userId);
    const existing = await db.selectFrom('rooms').select('id').where('id', '=', roomId).executeTakeFirst();
    if (existing) return { roomId, created: false };
    if (!(await userKnown(input.userId))) throw notFound('No such user');
    try {
      await appendRoom(roomId, actor.userId, (first) => {
        if (first !== 1) throw conflict('exists', { details: { roomId } });
        return decide(undefined, { type: 'openDirectRoom', roomId, actor: actor.userId, pair }, first);
      });
      return { roomId, created: true };
    } catch (error) {
      if (isVecheError(error, 'conflict')) return { roomId, created: false };
      throw error;
    }
  }

  async function listRooms(actor: Actor, input: { scope?: 'mine' | 'public'; limit?: number }) {
    const limit = input.limit ?? 100;
    const rows = await roomsSeenBy(db, actor.userId)
      .where((eb) =>
        input.scope === 'public'
          ? eb.and([eb('r.kind', '=', 'public'), eb.not(eb.ref('r.archived'))])
          : eb.exists(
              eb
                .selectFrom('members as x')
                .select(eb.lit(1).as('one'))
                .whereRef('x.room_id', '=', 'r.id')
                .where('x.user_id', '=', actor.userId),
            ),
      )
      .orderBy('r.created_at', 'desc')
      .limit(limit)
      .execute();
    return { rooms: rows.map(roomOut) };
  }

  const getRoom = async (actor: Actor, input: { roomId: string }) =>
    roomOut(await access.visibleRoom(input.roomId, actor.userId));

  async function listMembers(actor: Actor, input: { roomId: string }) {
    await access.visibleRoom(input.roomId, actor.userId);
    return { members: await access.members(input.roomId, actor.userId) };
  }

  const joinRoom = async (actor: Actor, input: { roomId: string }) =>
    applied(await runRoomCommand(input.roomId, { type: 'join', actor: actor.userId }));

  const leaveRoom = async (actor: Actor, input: { roomId: string }) =>
    applied(await runRoomCommand(input.roomId, { type: 'leave', actor: actor.userId }));

  const inviteMember = async (actor: Actor, input: { roomId: string; userId: string }) =>
    applied(
      await runRoomCommand(input.roomId, {
        type: 'invite',
        actor: actor.userId,
        userId: input.userId,
        known: await userKnown(input.userId),
      }),
    );

  const kickMember = async (actor: Actor, input: { roomId: string; userId: string }) =>
    applied(await runRoomCommand(input.roomId, { type: 'kick', actor: actor.userId, userId: input.userId }));

  const setMemberRole = async (actor: Actor, input: { roomId: string; userId: string; role: MemberRole }) =>
    applied(
      await runRoomCommand(input.roomId, {
        type: 'setRole',
        actor: actor.userId,
        userId: input.userId,
        role: input.role,
      }),
    );

  const renameRoom = async (actor: Actor, input: { roomId: string; name: string }) =>
    applied(await runRoomCommand(input.roomId, { type: 'rename', actor: actor.userId, name: input.name }));

  const setRoomTopic = async (actor: Actor, input: { roomId: string; topic: string }) =>
    applied(
      await runRoomCommand(input.roomId, { type: 'setTopic', actor: actor.userId, topic: input.topic }),
    );

  const archiveRoom = async (actor: Actor, input: { roomId: string }) =>
    applied(await runRoomCommand(input.roomId, { type: 'archive', actor: actor.userId }));

  return {
    createRoom,
    openDirectRoom,
    listRooms,
    getRoom,
    listMembers,
    joinRoom,
    leaveRoom,
    inviteMember,
    kickMember,
    setMemberRole,
    renameRoom,
    setRoomTopic,
    archiveRoom,
  };
}
