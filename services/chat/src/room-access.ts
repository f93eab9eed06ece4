/**
 * What every part of the chat's operations shares: its dependencies, the reads that find a room and
 * the caller's place in it, and the one way a command reaches a room's stream (load the aggregate's
 * state, let `decide` in `domain/` choose the events, append them through the room writer).
 */
import type { Database, Kysely } from '@veche/db';
import type { EventStore, RecordedEvent } from '@veche/event-store';
import type { Logger } from '@veche/log';
import type { ExpressionBuilder } from 'kysely';
import { decide, type RoomCommand, type RoomState } from './domain/room.ts';
import type { ChatEvent, MemberRole } from './domain/events.ts';
import { mustBeMember, mustSee, type MessageView } from './domain/rules.ts';
import type { RoomWriter } from './room-writer.ts';
import { tablesOf, type ChatTables, type RoomsTable } from './tables.ts';
import { memberList, toRoomView } from './views.ts';

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
  /**
   * The gateway's accounts among `userIds` with their display names: asked for a user chat has not
   * heard of (their `account.registered` may still be on its way). Rejects when it cannot answer now.
   */
  accountsOf?: (userIds: string[]) => Promise<{ userId: string; displayName: string }[]>;
  maxBotReplies: number;
}

export type RoomAccess = ReturnType<typeof createRoomAccess>;

/** A direct-message room's name as `viewer` sees it: the other member's; null for the other rooms. */
export const dmNameOf = (eb: ExpressionBuilder<ChatTables & { r: RoomsTable }, 'r'>, viewer: string) =>
  eb
    .case()
    .when('r.kind', '=', 'dm')
    .then(
      eb
        .selectFrom('members as o')
        .leftJoin('users as u', 'u.id', 'o.user_id')
        .select((inner) => inner.fn.coalesce('u.display_name', 'o.user_id').as('name'))
        .whereRef('o.room_id', '=', 'r.id')
        .where('o.user_id', '<>', viewer)
        .limit(1),
    )
    .end();

/** Rooms with what `viewer` sees of each: its member count, their role, a DM's other member. */
export const roomsSeenBy = (db: Kysely<ChatTables>, viewer: string) =>
  db
    .selectFrom('rooms as r')
    .leftJoin('members as m', (join) => join.onRef('m.room_id', '=', 'r.id').on('m.user_id', '=', viewer))
    .select((eb) => [
      'r.id',
      'r.kind',
      'r.name',
      'r.topic',
      'r.archived',
      'r.last_seq',
      'r.created_by',
      'r.created_at',
      eb
        .selectFrom('members as c')
        .select(eb.fn.countAll<number>().as('n'))
        .whereRef('c.room_id', '=', 'r.id')
        .as('member_count'),
      'm.role as my_role',
      dmNameOf(eb, viewer).as('dm_name'),
    ]);

/** A room as a caller sees it (`roomsSeenBy`). */
export type RoomRow = Awaited<ReturnType<ReturnType<typeof roomsSeenBy>['executeTakeFirstOrThrow']>>;

export function createRoomAccess(deps: ChatDeps) {
  const { writer, log } = deps;
  const db = tablesOf(deps.database.db);
  const metadataOf = (actor: string) => ({ actor });

  const loadRoom = (roomId: string, userId: string): Promise<RoomRow | undefined> =>
    roomsSeenBy(db, userId).where('r.id', '=', roomId).executeTakeFirst();

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
    const row = await db
      .selectFrom('members')
      .select('role')
      .where('room_id', '=', roomId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role;
  }

  /** Room members, for typing notifications and attachment checks. */
  async function memberIds(roomId: string): Promise<string[]> {
    const rows = await db.selectFrom('members').select('user_id').where('room_id', '=', roomId).execute();
    return rows.map((r) => r.user_id);
  }

  /**
   * A user chat knows from the gateway's account events (never a member named after a typo). One it
   * has not heard of may have registered a moment ago, the event still on its way: the gateway, which
   * owns accounts, is asked, and an account it names is kept as the event would keep it.
   */
  async function userKnown(userId: string): Promise<boolean> {
    const row = await db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
    if (row) return true;
    if (!deps.accountsOf) return false;
    let account: { userId: string; displayName: string } | undefined;
    try {
      account = (await deps.accountsOf([userId])).find((a) => a.userId === userId);
    } catch (error) {
      log.warn({ err: error, userId }, 'the gateway could not say whether a user exists; taken as unknown');
      return false;
    }
    if (!account) return false;
    // The event, when it comes, sets the name again (an upsert); until then the gateway's is shown.
    await db
      .insertInto('users')
      .values({ id: account.userId, display_name: account.displayName })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return true;
  }

  async function loadMessage(roomId: string, messageId: string): Promise<MessageView | undefined> {
    const row = await db
      .selectFrom('messages')
      .select(['id', 'seq', 'sender_id', 'deleted_at'])
      .where('room_id', '=', roomId)
      .where('id', '=', messageId)
      .executeTakeFirst();
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
    const room = await db
      .selectFrom('rooms')
      .select(['id', 'kind', 'name', 'topic', 'archived', 'created_by', 'last_seq'])
      .where('id', '=', roomId)
      .executeTakeFirst();
    if (!room) return undefined;
    const roles = await db
      .selectFrom('members')
      .select(['user_id', 'role'])
      .where('room_id', '=', roomId)
      .execute();
    return {
      roomId: room.id,
      kind: room.kind,
      name: room.name,
      topic: room.topic,
      archived: room.archived,
      createdBy: room.created_by,
      lastSeq: room.last_seq,
      members: Object.fromEntries(roles.map((m) => [m.user_id, m.role])),
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
