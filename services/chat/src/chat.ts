/**
 * The chat's operations: each reads the read model, decides with the pure rules in `domain/`, and
 * appends through the room writer. The WAMP procedures, the bot-reply consumer and the tests call
 * these; none of them trusts anything but `actor` for identity.
 */
import { createHash } from 'node:crypto';
import { sql, pgErrorCode, pgErrorCodes, type Database } from '@veche/db';
import { conflict, notFound, validationError, isVecheError } from '@veche/errors';
import type { EventStore, RecordedEvent } from '@veche/event-store';
import { isOnlineStatus } from '@veche/contracts';
import type { Logger } from '@veche/log';
import { uuidV7 as v7 } from '@veche/event-store';
import { createBatcher, Failure } from './batcher.ts';
import { needsMembers, notifyPolicy } from './domain/mentions.ts';
import { decide, type RoomCommand, type RoomState } from './domain/room.ts';
import {
  chatEventTypes as T,
  receiptStream,
  type AttachmentRef,
  type MemberRole,
  type MessagePosted,
  type ReceiptsUpdated,
  type ChatEvent,
  type RoomKind,
} from './domain/events.ts';
import {
  dmPair,
  mustBeMember,
  mustBeWritable,
  mustSee,
  parseCommand,
  type MessageView,
  type RoomView,
} from './domain/rules.ts';
import type { RoomWriter } from './room-writer.ts';

export interface Actor {
  userId: string;
  role: 'user' | 'admin';
}

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

interface RoomRow {
  id: string;
  kind: RoomKind;
  name: string;
  topic: string;
  archived: boolean;
  last_seq: number;
  created_by: string;
  created_at: Date;
  member_count: number | string;
  my_role: MemberRole | null;
  dm_name: string | null;
}

interface MessageRow {
  room_id: string;
  seq: number;
  id: string;
  sender_id: string;
  text: string;
  reply_to: string | null;
  mentions: string[];
  attachments: AttachmentRef[];
  sent_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
}

export interface PostInput {
  roomId: string;
  text: string;
  idempotencyKey: string;
  replyTo?: string | undefined;
  attachments?: string[] | undefined;
}

export interface PostResult {
  messageId: string;
  seq: number;
  duplicate: boolean;
}

const iso = (value: Date | string): string => (value instanceof Date ? value : new Date(value)).toISOString();

const toRoomView = (row: RoomRow): RoomView => ({
  roomId: row.id,
  kind: row.kind,
  name: row.name,
  archived: row.archived,
  lastSeq: row.last_seq,
});

/** The id of the direct-message room of a pair: the same whoever opens it. */
export function dmRoomId(a: string, b: string): string {
  return `dm-${createHash('sha256').update(dmPair(a, b).join('\u0000')).digest('hex').slice(0, 32)}`;
}

export function createChat(deps: ChatDeps) {
  const { database, store, writer, log } = deps;
  const db = database.db;
  const metadataOf = (actor: string) => ({ actor });

  // ---------------------------------------------------------------- reads

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

  const roomOut = (row: RoomRow) => ({
    roomId: row.id,
    kind: row.kind,
    name: row.kind === 'dm' ? (row.dm_name ?? 'Direct message') : row.name,
    topic: row.topic,
    archived: row.archived,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    lastSeq: row.last_seq,
    memberCount: Number(row.member_count),
    ...(row.my_role ? { myRole: row.my_role } : {}),
  });

  async function memberRole(roomId: string, userId: string): Promise<MemberRole | undefined> {
    const { rows } = await sql<{ role: MemberRole }>`
      select role from members where room_id = ${roomId} and user_id = ${userId}`.execute(db);
    return rows[0]?.role;
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

  async function messagesOut(rows: MessageRow[]) {
    const ids = rows.map((row) => row.id);
    const reactions = new Map<string, Map<string, string[]>>();
    if (ids.length > 0) {
      const { rows: found } = await sql<{ message_id: string; emoji: string; user_id: string }>`
        select message_id, emoji, user_id from reactions where message_id = any(${ids}::text[])
        order by seq`.execute(db);
      for (const row of found) {
        const byEmoji = reactions.get(row.message_id) ?? new Map<string, string[]>();
        reactions.set(row.message_id, byEmoji);
        byEmoji.set(row.emoji, [...(byEmoji.get(row.emoji) ?? []), row.user_id]);
      }
    }
    return rows.map((row) => ({
      messageId: row.id,
      roomId: row.room_id,
      seq: row.seq,
      senderId: row.sender_id,
      text: row.text,
      sentAt: iso(row.sent_at),
      replyTo: row.reply_to,
      mentions: row.mentions,
      attachments: row.attachments,
      reactions: [...(reactions.get(row.id) ?? new Map<string, string[]>())].map(([emoji, userIds]) => ({
        emoji,
        userIds,
      })),
      editedAt: row.edited_at ? iso(row.edited_at) : null,
      deleted: row.deleted_at !== null,
    }));
  }

  async function page(
    roomId: string,
    lastSeq: number,
    input: { before?: number; after?: number; limit?: number },
  ) {
    const limit = input.limit ?? 50;
    const ascending = input.after !== undefined;
    const where =
      input.after !== undefined
        ? sql`seq > ${input.after}`
        : input.before !== undefined
          ? sql`seq < ${input.before}`
          : sql`true`;
    const { rows } = await sql<MessageRow>`
      select room_id, seq, id, sender_id, text, reply_to, mentions, attachments, sent_at, edited_at, deleted_at
      from messages where room_id = ${roomId} and ${where}
      order by seq ${ascending ? sql`asc` : sql`desc`} limit ${limit + 1}`.execute(db);
    const hasMore = rows.length > limit;
    return { messages: await messagesOut(rows.slice(0, limit)), lastSeq, hasMore };
  }

  async function members(roomId: string, viewer: string) {
    const { rows } = await sql<{
      user_id: string;
      display_name: string | null;
      role: MemberRole;
      joined_at: Date;
      delivered_up_to: number | null;
      read_up_to: number | null;
    }>`
      select m.user_id, u.display_name, m.role, m.joined_at, r.delivered_up_to, r.read_up_to
      from members m
      left join users u on u.id = m.user_id
      left join receipts r on r.room_id = m.room_id and r.user_id = m.user_id
      where m.room_id = ${roomId}
      order by m.joined_seq`.execute(db);
    const statuses = await presenceOf(
      viewer,
      rows.map((row) => row.user_id),
    );
    return rows.map((row) => ({
      userId: row.user_id,
      displayName: row.display_name ?? row.user_id,
      role: row.role,
      joinedAt: iso(row.joined_at),
      online: isOnlineStatus(statuses?.get(row.user_id)),
      deliveredUpTo: row.delivered_up_to ?? 0,
      readUpTo: row.read_up_to ?? 0,
    }));
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

  // ---------------------------------------------------------------- room commands

  /** Appends one command's events to a room; resolves with the last seq appended. */
  async function appendRoom(
    roomId: string,
    actor: string,
    build: (firstSeq: number) => ChatEvent[],
    outbox?: (built: ChatEvent[]) => ChatEvent[],
  ): Promise<RecordedEvent[]> {
    return writer.submit(roomId, { build, metadata: metadataOf(actor), ...(outbox ? { outbox } : {}) });
  }

  /** What a posted message asks of other services: a notification, a bot command (or nothing). */
  const postOutbox = (built: ChatEvent[]): ChatEvent[] =>
    built.flatMap((event): ChatEvent[] => {
      if (event.type !== T.messagePosted) return [];
      const data = event.data;
      return [
        ...(data.notify.length > 0 ? [{ type: T.messageNotified, data }] : []),
        ...(data.command ? [{ type: T.botCommandIssued, data }] : []),
      ];
    });

  const lastSeqOf = (events: RecordedEvent[]): number | undefined => events.at(-1)?.streamVersion;
  const applied = (events: RecordedEvent[]) => {
    const seq = lastSeqOf(events);
    return seq === undefined ? { ok: true as const } : { ok: true as const, seq };
  };

  /** The room's state as the read model holds it (the stream folded by `evolve`, kept in the append's transaction). */
  async function loadRoomState(roomId: string): Promise<RoomState | undefined> {
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
    const members = await sql<{ user_id: string; role: MemberRole }>`
      select user_id, role from members where room_id = ${roomId}`.execute(db);
    return {
      roomId: room.id,
      kind: room.kind,
      name: room.name,
      topic: room.topic,
      archived: room.archived,
      createdBy: room.created_by,
      lastSeq: room.last_seq,
      members: Object.fromEntries(members.rows.map((m) => [m.user_id, m.role])),
    };
  }

  /** Loads the room, lets the aggregate decide at the seq the writer gives, appends what it decided. */
  async function runRoomCommand(roomId: string, command: RoomCommand): Promise<RecordedEvent[]> {
    const state = await loadRoomState(roomId);
    return appendRoom(roomId, command.actor, (seq) => decide(state, command, seq));
  }

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
    const { rows } = await sql<{ id: string }>`select id from rooms where id = ${roomId}`.execute(db);
    if (rows.length > 0) return { roomId, created: false };
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
    const filter =
      input.scope === 'public'
        ? sql`r.kind = 'public' and not r.archived`
        : sql`exists (select 1 from members x where x.room_id = r.id and x.user_id = ${actor.userId})`;
    const { rows } = await sql<RoomRow>`
      select r.id, r.kind, r.name, r.topic, r.archived, r.last_seq, r.created_by, r.created_at,
             (select count(*) from members c where c.room_id = r.id) as member_count,
             m.role as my_role,
             case when r.kind = 'dm' then (
               select coalesce(u.display_name, o.user_id) from members o left join users u on u.id = o.user_id
               where o.room_id = r.id and o.user_id <> ${actor.userId} limit 1) end as dm_name
      from rooms r left join members m on m.room_id = r.id and m.user_id = ${actor.userId}
      where ${filter}
      order by r.created_at desc limit ${limit}`.execute(db);
    return { rooms: rows.map(roomOut) };
  }

  async function getRoom(actor: Actor, input: { roomId: string }) {
    const row = await loadRoom(input.roomId, actor.userId);
    mustSee(row && toRoomView(row), row?.my_role ?? undefined);
    return roomOut(row as RoomRow);
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

  async function listMembers(actor: Actor, input: { roomId: string }) {
    const row = await loadRoom(input.roomId, actor.userId);
    mustSee(row && toRoomView(row), row?.my_role ?? undefined);
    return { members: await members(input.roomId, actor.userId) };
  }

  // ---------------------------------------------------------------- messages

  interface PostItem extends PostInput {
    senderId: string;
    /** Bots post without membership, on behalf of a command issued in the room. */
    asBot: boolean;
  }

  interface PostContext {
    kind: RoomKind | null;
    name: string | null;
    archived: boolean | null;
    role: MemberRole | null;
    existing_id: string | null;
    existing_seq: number | null;
    display_name: string | null;
  }

  /** What a post needs beyond the batch query: only texts with mentions, commands, replies, files pay. */
  async function enrich(item: PostItem, room: PostContext) {
    let mentions: string[] = [];
    let notify: MessagePosted['notify'] = [];
    if (needsMembers(item.text, room.kind ?? 'public')) {
      const { rows } = await sql<{ user_id: string; display_name: string | null }>`
        select m.user_id, u.display_name from members m left join users u on u.id = m.user_id
        where m.room_id = ${item.roomId}`.execute(db);
      ({ mentions, notify } = notifyPolicy({
        text: item.text,
        senderId: item.senderId,
        roomKind: room.kind ?? 'public',
        members: rows.map((row) => ({ userId: row.user_id, displayName: row.display_name })),
      }));
    }
    if (item.replyTo !== undefined) {
      const target = await loadMessage(item.roomId, item.replyTo);
      if (!target)
        throw validationError('replyTo is not a message of this room', {
          details: { replyTo: item.replyTo },
        });
    }
    let attachments: AttachmentRef[] = [];
    if (item.attachments && item.attachments.length > 0) {
      const { rows } = await sql<{
        id: string;
        filename: string;
        content_type: string;
        size: string | number;
        has_thumbnail: boolean;
      }>`
        select id, filename, content_type, size, has_thumbnail from attachments
        where id = any(${item.attachments}::text[]) and room_id = ${item.roomId} and uploader_id = ${item.senderId}`.execute(
        db,
      );
      if (rows.length !== item.attachments.length) {
        throw validationError('Attachments must be uploaded by the sender to this room', {
          details: { attachments: item.attachments },
        });
      }
      const byId = new Map(rows.map((row) => [row.id, row]));
      attachments = item.attachments.map((id) => {
        const row = byId.get(id)!;
        return {
          attachmentId: row.id,
          filename: row.filename,
          contentType: row.content_type,
          size: Number(row.size),
          hasThumbnail: row.has_thumbnail,
        };
      });
    }
    let command: MessagePosted['command'];
    const parsed = item.asBot ? undefined : parseCommand(item.text);
    if (parsed) {
      const { rows } = await sql<{
        bot_id: string;
      }>`select bot_id from bot_commands where name = ${parsed.name}`.execute(db);
      if (rows[0])
        command = {
          commandId: v7(),
          name: parsed.name,
          botId: rows[0].bot_id,
          args: parsed.args.slice(0, 2_000),
        };
    }
    return { mentions, notify, attachments, command };
  }

  async function existingPost(item: PostItem): Promise<PostResult | undefined> {
    const { rows } = await sql<{ id: string; seq: number }>`
      select id, seq from messages
      where room_id = ${item.roomId} and sender_id = ${item.senderId} and idempotency_key = ${item.idempotencyKey}`.execute(
      db,
    );
    return rows[0] && { messageId: rows[0].id, seq: rows[0].seq, duplicate: true };
  }

  async function postOne(item: PostItem, room: PostContext): Promise<PostResult> {
    if (room.existing_id !== null && room.existing_seq !== null) {
      return { messageId: room.existing_id, seq: room.existing_seq, duplicate: true };
    }
    if (room.kind === null) throw notFound('No such room');
    const view: RoomView = {
      roomId: item.roomId,
      kind: room.kind,
      name: room.name ?? '',
      archived: room.archived === true,
      lastSeq: 0,
    };
    if (!item.asBot) mustBeMember(view, room.role ?? undefined);
    mustBeWritable(view);
    const extra = await enrich(item, room);
    const messageId = v7();
    const sentAt = new Date().toISOString();
    try {
      const events = await appendRoom(
        item.roomId,
        item.senderId,
        (seq) => {
          const data: MessagePosted = {
            roomId: item.roomId,
            ...(room.kind === 'dm' ? {} : { roomName: room.name ?? '' }),
            roomKind: room.kind === 'dm' ? 'dm' : 'room',
            messageId,
            seq,
            senderId: item.senderId,
            senderDisplayName: (room.display_name ?? item.senderId).slice(0, 200),
            text: item.text,
            sentAt,
            notify: extra.notify,
            idempotencyKey: item.idempotencyKey,
            ...(item.replyTo === undefined ? {} : { replyTo: item.replyTo }),
            mentions: extra.mentions,
            attachments: extra.attachments,
            ...(extra.command ? { command: extra.command } : {}),
          };
          return [{ type: T.messagePosted, data }];
        },
        postOutbox,
      );
      return { messageId, seq: lastSeqOf(events) ?? 0, duplicate: false };
    } catch (error) {
      // The same key raced in from another batch or replica: its first post won, answer with it.
      if (pgErrorCode(error) === pgErrorCodes.uniqueViolation) {
        const existing = await existingPost(item);
        if (existing) return existing;
      }
      throw error;
    }
  }

  const postBatcher = createBatcher<PostItem, PostResult>(
    async (items) => {
      const { rows } = await sql<PostContext & { i: string }>`
        select k.i, r.kind, r.name, r.archived, mb.role, m.id as existing_id, m.seq as existing_seq, u.display_name
        from unnest(${items.map((i) => i.roomId)}::text[], ${items.map((i) => i.senderId)}::text[],
                    ${items.map((i) => i.idempotencyKey)}::text[]) with ordinality as k(room_id, sender_id, key, i)
        left join rooms r on r.id = k.room_id
        left join members mb on mb.room_id = k.room_id and mb.user_id = k.sender_id
        left join messages m on m.room_id = k.room_id and m.sender_id = k.sender_id and m.idempotency_key = k.key
        left join users u on u.id = k.sender_id
        order by k.i`.execute(db);
      // The same key twice in one batch: the second waits for the first and answers as its duplicate.
      const firsts = new Map<string, Promise<PostResult>>();
      const results = items.map((item, index) => {
        const context = rows[index] as PostContext;
        const key = `${item.roomId}\u0000${item.senderId}\u0000${item.idempotencyKey}`;
        const first = firsts.get(key);
        if (first) return first.then((result) => ({ ...result, duplicate: true }));
        const promise = postOne(item, context);
        firsts.set(key, promise);
        return promise;
      });
      return Promise.all(results.map((promise) => promise.catch((error: unknown) => new Failure(error))));
    },
    { maxItems: 2_000, concurrency: 2 },
  );

  function postMessage(actor: Actor, input: PostInput): Promise<PostResult> {
    return postBatcher.run({ ...input, senderId: actor.userId, asBot: false });
  }

  /** A bot's reply to a command issued in `roomId` (the caller checked the command). */
  function postAsBot(botId: string, input: PostInput): Promise<PostResult> {
    return postBatcher.run({ ...input, senderId: `bot:${botId}`, asBot: true });
  }

  async function listMessages(
    actor: Actor,
    input: { roomId: string; before?: number; after?: number; limit?: number },
  ) {
    const row = await loadRoom(input.roomId, actor.userId);
    mustBeMember(row && toRoomView(row), row?.my_role ?? undefined);
    return page(input.roomId, row!.last_seq, input);
  }

  const editMessage = async (actor: Actor, input: { roomId: string; messageId: string; text: string }) =>
    applied(
      await runRoomCommand(input.roomId, {
        type: 'edit',
        actor: actor.userId,
        message: await loadMessage(input.roomId, input.messageId),
        text: input.text,
        at: new Date().toISOString(),
      }),
    );

  const deleteMessage = async (actor: Actor, input: { roomId: string; messageId: string }) =>
    applied(
      await runRoomCommand(input.roomId, {
        type: 'delete',
        actor: actor.userId,
        message: await loadMessage(input.roomId, input.messageId),
      }),
    );

  async function react(
    actor: Actor,
    input: { roomId: string; messageId: string; emoji: string },
    add: boolean,
  ) {
    const { rows } = await sql`
      select 1 from reactions where message_id = ${input.messageId} and user_id = ${actor.userId} and emoji = ${input.emoji}`.execute(
      db,
    );
    return applied(
      await runRoomCommand(input.roomId, {
        type: 'react',
        actor: actor.userId,
        message: await loadMessage(input.roomId, input.messageId),
        emoji: input.emoji,
        add,
        reacted: rows.length > 0,
      }),
    );
  }

  async function switchRoom(actor: Actor, input: { roomId: string; limit?: number }) {
    const row = await loadRoom(input.roomId, actor.userId);
    mustBeMember(row && toRoomView(row), row?.my_role ?? undefined);
    const [memberList, latest] = await Promise.all([
      members(input.roomId, actor.userId),
      page(input.roomId, row!.last_seq, { limit: input.limit ?? 50 }),
    ]);
    return { room: roomOut(row!), members: memberList, page: latest };
  }

  // ---------------------------------------------------------------- receipts

  interface ReceiptItem {
    roomId: string;
    userId: string;
    deliveredUpTo?: number | undefined;
    readUpTo?: number | undefined;
  }
  type Marks = { deliveredUpTo: number; readUpTo: number };

  const receiptBatcher = createBatcher<ReceiptItem, Marks>(
    async (items) => {
      // Coalesce per (room, member): marks only move forward, so the highest asked for wins.
      const keys = new Map<
        string,
        { roomId: string; userId: string; d: number; r: number; indexes: number[] }
      >();
      items.forEach((item, index) => {
        const key = `${item.roomId}\u0000${item.userId}`;
        const entry = keys.get(key) ?? { roomId: item.roomId, userId: item.userId, d: 0, r: 0, indexes: [] };
        entry.d = Math.max(entry.d, item.deliveredUpTo ?? 0, item.readUpTo ?? 0);
        entry.r = Math.max(entry.r, item.readUpTo ?? 0);
        entry.indexes.push(index);
        keys.set(key, entry);
      });
      const entries = [...keys.values()];
      const { rows } = await sql<{
        last_seq: number | null;
        role: string | null;
        d: number | null;
        r: number | null;
      }>`
        select ro.last_seq, mb.role, rc.delivered_up_to as d, rc.read_up_to as r
        from unnest(${entries.map((e) => e.roomId)}::text[], ${entries.map((e) => e.userId)}::text[])
             with ordinality as k(room_id, user_id, i)
        left join rooms ro on ro.id = k.room_id
        left join members mb on mb.room_id = k.room_id and mb.user_id = k.user_id
        left join receipts rc on rc.room_id = k.room_id and rc.user_id = k.user_id
        order by k.i`.execute(db);
      const results: (Marks | Failure)[] = Array.from({ length: items.length }, () => new Failure(undefined));
      await Promise.all(
        entries.map(async (entry, index) => {
          const row = rows[index];
          let outcome: Marks | Failure;
          if (!row || row.role === null || row.last_seq === null) {
            outcome = new Failure(notFound('No such room'));
          } else {
            // Marks never pass the room's latest seq, and reading implies delivery.
            const current = { deliveredUpTo: row.d ?? 0, readUpTo: row.r ?? 0 };
            const next = {
              deliveredUpTo: Math.max(current.deliveredUpTo, Math.min(entry.d, row.last_seq)),
              readUpTo: Math.max(current.readUpTo, Math.min(entry.r, row.last_seq)),
            };
            next.deliveredUpTo = Math.max(next.deliveredUpTo, next.readUpTo);
            if (next.deliveredUpTo !== current.deliveredUpTo || next.readUpTo !== current.readUpTo) {
              const data: ReceiptsUpdated = { roomId: entry.roomId, userId: entry.userId, ...next };
              try {
                await store.append(
                  receiptStream(entry.roomId, entry.userId),
                  [{ type: T.receiptsUpdated, data }],
                  {
                    actor: entry.userId,
                  },
                );
                outcome = next;
              } catch (error) {
                outcome = new Failure(error);
              }
            } else {
              outcome = next;
            }
          }
          for (const i of entry.indexes) results[i] = outcome;
        }),
      );
      return results;
    },
    { maxItems: 5_000, concurrency: 2 },
  );

  function postReceipts(actor: Actor, input: { roomId: string; deliveredUpTo?: number; readUpTo?: number }) {
    if (input.deliveredUpTo === undefined && input.readUpTo === undefined) {
      throw validationError('Give deliveredUpTo, readUpTo or both');
    }
    return receiptBatcher.run({
      roomId: input.roomId,
      userId: actor.userId,
      deliveredUpTo: input.deliveredUpTo,
      readUpTo: input.readUpTo,
    });
  }

  async function getReceipts(actor: Actor, input: { roomId: string }) {
    const row = await loadRoom(input.roomId, actor.userId);
    mustBeMember(row && toRoomView(row), row?.my_role ?? undefined);
    const { rows } = await sql<{ user_id: string; d: number | null; r: number | null }>`
      select m.user_id, rc.delivered_up_to as d, rc.read_up_to as r
      from members m left join receipts rc on rc.room_id = m.room_id and rc.user_id = m.user_id
      where m.room_id = ${input.roomId} order by m.joined_seq`.execute(db);
    return {
      receipts: rows.map((r) => ({ userId: r.user_id, deliveredUpTo: r.d ?? 0, readUpTo: r.r ?? 0 })),
    };
  }

  async function getMessageReceipts(actor: Actor, input: { roomId: string; messageId: string }) {
    const row = await loadRoom(input.roomId, actor.userId);
    mustBeMember(row && toRoomView(row), row?.my_role ?? undefined);
    const message = await loadMessage(input.roomId, input.messageId);
    if (!message) throw notFound('No such message');
    const { rows } = await sql<{ user_id: string; d: number; r: number }>`
      select m.user_id, coalesce(rc.delivered_up_to, 0) as d, coalesce(rc.read_up_to, 0) as r
      from members m left join receipts rc on rc.room_id = m.room_id and rc.user_id = m.user_id
      where m.room_id = ${input.roomId} and m.user_id <> ${message.senderId} order by m.joined_seq`.execute(
      db,
    );
    return {
      seq: message.seq,
      deliveredTo: rows.filter((r) => r.d >= message.seq).map((r) => r.user_id),
      readBy: rows.filter((r) => r.r >= message.seq).map((r) => r.user_id),
    };
  }

  // ---------------------------------------------------------------- sync and search

  async function sync(actor: Actor) {
    const { rows } = await sql<{
      id: string;
      kind: RoomKind;
      name: string;
      last_seq: number;
      d: number | null;
      r: number | null;
      unread: string;
      unread_mentions: string;
      dm_name: string | null;
    }>`
      select r.id, r.kind, r.name, r.last_seq, rc.delivered_up_to as d, rc.read_up_to as r,
             (select count(*) from messages x where x.room_id = r.id and x.seq > coalesce(rc.read_up_to, 0)
                and x.sender_id <> ${actor.userId} and x.deleted_at is null) as unread,
             (select count(*) from mentions x where x.user_id = ${actor.userId} and x.room_id = r.id
                and x.seq > coalesce(rc.read_up_to, 0)) as unread_mentions,
             case when r.kind = 'dm' then (
               select coalesce(u.display_name, o.user_id) from members o left join users u on u.id = o.user_id
               where o.room_id = r.id and o.user_id <> ${actor.userId} limit 1) end as dm_name
      from members mb join rooms r on r.id = mb.room_id
      left join receipts rc on rc.room_id = r.id and rc.user_id = ${actor.userId}
      where mb.user_id = ${actor.userId}
      order by r.id`.execute(db);
    return {
      rooms: rows.map((row) => ({
        roomId: row.id,
        kind: row.kind,
        name: row.kind === 'dm' ? (row.dm_name ?? 'Direct message') : row.name,
        lastSeq: row.last_seq,
        unread: Number(row.unread),
        unreadMentions: Number(row.unread_mentions),
        deliveredUpTo: row.d ?? 0,
        readUpTo: row.r ?? 0,
      })),
    };
  }

  async function search(
    actor: Actor,
    input: { q: string; roomId?: string; limit?: number; offset?: number },
  ) {
    const limit = input.limit ?? 20;
    const inRoom = input.roomId === undefined ? sql`true` : sql`m.room_id = ${input.roomId}`;
    const { rows } = await sql<MessageRow & { rank: number }>`
      select m.room_id, m.seq, m.id, m.sender_id, m.text, m.reply_to, m.mentions, m.attachments, m.sent_at,
             m.edited_at, m.deleted_at, ts_rank(m.search, q) as rank
      from messages m, websearch_to_tsquery('simple', ${input.q}) q
      where m.search @@ q and m.deleted_at is null and ${inRoom}
        and m.room_id in (select room_id from members where user_id = ${actor.userId})
      order by rank desc, m.sent_at desc
      limit ${limit + 1} offset ${input.offset ?? 0}`.execute(db);
    const hits = rows.slice(0, limit);
    const out = await messagesOut(hits);
    return {
      results: out.map((message, index) => ({ message, rank: Number(hits[index]?.rank ?? 0) })),
      hasMore: rows.length > limit,
    };
  }

  async function listCommands() {
    const { rows } = await sql<{ name: string; bot_id: string; description: string }>`
      select name, bot_id, description from bot_commands order by name`.execute(db);
    return { commands: rows.map((r) => ({ name: r.name, botId: r.bot_id, description: r.description })) };
  }

  /** Room members, for typing notifications and attachment checks. */
  async function memberIds(roomId: string): Promise<string[]> {
    const { rows } = await sql<{
      user_id: string;
    }>`select user_id from members where room_id = ${roomId}`.execute(db);
    return rows.map((r) => r.user_id);
  }

  return {
    /** The room aggregate's state as commands see it (from the read model). */
    roomState: loadRoomState,
    createRoom,
    openDirectRoom,
    listRooms,
    getRoom,
    joinRoom,
    leaveRoom,
    inviteMember,
    kickMember,
    setMemberRole,
    renameRoom,
    setRoomTopic,
    archiveRoom,
    listMembers,
    postMessage,
    postAsBot,
    listMessages,
    editMessage,
    deleteMessage,
    addReaction: (actor: Actor, input: { roomId: string; messageId: string; emoji: string }) =>
      react(actor, input, true),
    removeReaction: (actor: Actor, input: { roomId: string; messageId: string; emoji: string }) =>
      react(actor, input, false),
    switchRoom,
    postReceipts,
    getReceipts,
    getMessageReceipts,
    sync,
    search,
    listCommands,
    memberRole,
    memberIds,
    /** Waits for posts and receipts under way (graceful stop). */
    async idle() {
      await postBatcher.idle();
      await receiptBatcher.idle();
      await writer.drain();
    },
  };
}

export type Chat = ReturnType<typeof createChat>;
