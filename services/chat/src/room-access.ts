/**
 * What every part of the chat's operations shares: its dependencies, the reads that find a room and
 * the caller's place in it, and the one way a command reaches a room's stream (load the aggregate's
 * state, let `decide` in `domain/` choose the events, append them through the room writer).
 */
import { sql, type Database } from '@veche/db';
import type { EventStore, RecordedEvent } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { decide, type RoomCommand, type RoomState } from './domain/room.ts';
import type { ChatEvent, MemberRole, RoomKind } from './domain/events.ts';
import { mustBeMember, mustSee, type MessageView } from './domain/rules.ts';
import type { RoomWriter } from './room-writer.ts';
import { memberList, toRoomView, type RoomRow } from './views.ts';

export type { Actor } from '@veche/contracts';

export interface ChatDeps {
  database: Database<unknown>;
  store: EventStore;
  writer: RoomWriter;
  log: Logger;
  /**
   * The presence-router's statuses of `users` as `viewer` may see them (privacy and group rules
   * applied: 8 where hidden), or undefined when it cannot answer now. A member's `online` comes from
   * here alone: presence is the one source of truth for who is online.
   */
  presenceOf?: (viewer: string, users: string[]) => Promise<ReadonlyMap<string, number> | undefined>;
  maxBotReplies: number;
}

export type RoomAccess = ReturnType<typeof createRoomAccess>;

export function createRoomAccess(deps: ChatDeps) {
  const { writer, log } = deps;
  const db = deps.database.db;
  const metadataOf = (actor: string) => ({ actor });

  async function loadRoom(roomId: string, userId: string): Promise<RoomRow | undefined> {
    const { rows } = await sql<RoomRow>`
      select r.id, r.kind, r.name, r.topic, r.archived, r.last_seq, r.created_by, r.created_at,
             (select count(*) from members c where c.room_id = r.id) as member_count,
             m.role as my_role,
             case when r.kind = 'dm' then (
               select coalesce(u.display_name, o.user_id) from members o left join users u on u.id = o.user_id
               where o.room_id = r.id and o.user_id <> ${userId} limit 1) end as dm_name
      from rooms r left join members m on m.room_id = r.id and m.user_id = ${userId}
      where r.id = ${roomId}`.execute(db);
    return rows[0];
  }

  /** The room when `userId` may see it (a public room, or one they are in); "not found" otherwise. */
  async function visibleRoom(roomId: string, userId: string): Promise<RoomRow> {
    const row = await loadRoom(roomId, userId);
    mustSee(row && toRoomView(row), row?.my_role ?? undefined);
    return row as RoomRow;
  }

  /** The room when `userId` is a member of it; "not found" otherwise. */
  async function memberRoom(roomId: string, userId: string): Promise<RoomRow> {
    const row = await loadRoom(roomId, userId);
    mustBeMember(row && toRoomView(row), row?.my_role ?? undefined);
    return row as RoomRow;
  }

  async function memberRole(roomId: string, userId: string): Promise<MemberRole | undefined> {
    const { rows } = await sql<{ role: MemberRole }>`
      select role from members where room_id = ${roomId} and user_id = ${userId}`.execute(db);
    return rows[0]?.role;
  }

  /** Room members, for typing notifications and attachment checks. */
  async function memberIds(roomId: string): Promise<string[]> {
    const { rows } = await sql<{
      user_id: string;
    }>`select user_id from members where room_id = ${roomId}`.execute(db);
    return rows.map((r) => r.user_id);
  }

  /** A user chat knows from the gateway's account events (never a member named after a typo). */
  async function userKnown(userId: string): Promise<boolean> {
    const { rows } = await sql`select 1 from users where id = ${userId}`.execute(db);
    return rows.length > 0;
  }

  async function loadMessage(roomId: string, messageId: string): Promise<MessageView | undefined> {
    const { rows } = await sql<{ id: string; seq: number; sender_id: string; deleted_at: Date | null }>`
      select id, seq, sender_id, deleted_at from messages where room_id = ${roomId} and id = ${messageId}`.execute(
      db,
    );
    const row = rows[0];
    return (
      row && { messageId: row.id, seq: row.seq, senderId: row.sender_id, deleted: row.deleted_at !== null }
    );
  }

  /** Statuses from the presence-router; a member list still answers (everyone offline) without it. */
  async function presenceOf(viewer: string, users: string[]) {
    if (!deps.presenceOf || users.length === 0) return undefined;
    try {
      return await deps.presenceOf(viewer, users);
    } catch (error) {
      log.warn({ err: error }, 'presence statuses unavailable; members shown offline');
      return undefined;
    }
  }

  /** The room's members with receipts and presence, as `viewer` may see them. */
  const members = (roomId: string, viewer: string) => memberList(db, presenceOf, roomId, viewer);

  /** The room's state as the read model holds it (the stream folded by `evolve`, kept in the append's transaction). */
  async function roomState(roomId: string): Promise<RoomState | undefined> {
    const { rows } = await sql<{
      id: string;
      kind: RoomKind;
      name: string;
      topic: string;
      archived: boolean;
      created_by: string;
      last_seq: number;
    }>`select id, kind, name, topic, archived, created_by, last_seq from rooms where id = ${roomId}`.execute(
      db,
    );
    const room = rows[0];
    if (!room) return undefined;
    const roles = await sql<{ user_id: string; role: MemberRole }>`
      select user_id, role from members where room_id = ${roomId}`.execute(db);
    return {
      roomId: room.id,
      kind: room.kind,
      name: room.name,
      topic: room.topic,
      archived: room.archived,
      createdBy: room.created_by,
      lastSeq: room.last_seq,
      members: Object.fromEntries(roles.rows.map((m) => [m.user_id, m.role])),
    };
  }

  /** Appends one command's events to a room; resolves with the events appended. */
  async function appendRoom(
    roomId: string,
    actor: string,
    build: (firstSeq: number) => ChatEvent[],
    outbox?: (built: ChatEvent[]) => ChatEvent[],
  ): Promise<RecordedEvent[]> {
    return writer.submit(roomId, { build, metadata: metadataOf(actor), ...(outbox ? { outbox } : {}) });
  }

  /** Loads the room, lets the aggregate decide at the seq the writer gives, appends what it decided. */
  async function runRoomCommand(roomId: string, command: RoomCommand): Promise<RecordedEvent[]> {
    const state = await roomState(roomId);
    return appendRoom(roomId, command.actor, (seq) => decide(state, command, seq));
  }

  return {
    deps,
    db,
    visibleRoom,
    memberRoom,
    memberRole,
    memberIds,
    userKnown,
    loadMessage,
    members,
    roomState,
    appendRoom,
    runRoomCommand,
  };
}

export const lastSeqOf = (events: RecordedEvent[]): number | undefined => events.at(-1)?.streamVersion;

/** A command's answer: ok, with the last seq it appended when it appended anything. */
export const applied = (events: RecordedEvent[]) => {
  const seq = lastSeqOf(events);
  return seq === undefined ? { ok: true as const } : { ok: true as const, seq };
};
