/**
 * Messages: posting (batched: one query finds every post's room, membership and earlier post of the
 * same key), the bots' replies, pages of a room's history, edits, deletions and reactions.
 */
import { sql, pgErrorCode, pgErrorCodes } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import { uuidV7 as v7 } from '@veche/event-store';
import type { Selectable } from 'kysely';
import { createBatcher, Failure } from './batcher.ts';
import { needsMembers, notifyPolicy } from './domain/mentions.ts';
import {
  chatEventTypes as T,
  type AttachmentRef,
  type ChatEvent,
  type MessagePosted,
} from './domain/events.ts';
import { mustBeMember, mustBeWritable, parseCommand, type RoomView } from './domain/rules.ts';
import { applied, lastSeqOf, type Actor, type RoomAccess } from './room-access.ts';
import type { MembersTable, MessagesTable, RoomsTable, UsersTable } from './tables.ts';
import { messagePage } from './views.ts';

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

interface PostItem extends PostInput {
  senderId: string;
  /** Bots post without membership, on behalf of a command issued in the room. */
  asBot: boolean;
}

/** One post's row of the batch query: its room, the sender's role and name, an earlier post of the key. */
interface PostContext {
  kind: Selectable<RoomsTable>['kind'] | null;
  name: Selectable<RoomsTable>['name'] | null;
  archived: Selectable<RoomsTable>['archived'] | null;
  role: Selectable<MembersTable>['role'] | null;
  existing_id: Selectable<MessagesTable>['id'] | null;
  existing_seq: Selectable<MessagesTable>['seq'] | null;
  display_name: Selectable<UsersTable>['display_name'] | null;
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

export function createMessages(access: RoomAccess) {
  const { db, appendRoom, runRoomCommand, loadMessage } = access;

  /** What a post needs beyond the batch query: only texts with mentions, commands, replies, files pay. */
  async function enrich(item: PostItem, room: PostContext) {
    let mentions: string[] = [];
    let notify: MessagePosted['notify'] = [];
    if (needsMembers(item.text, room.kind ?? 'public')) {
      const rows = await db
        .selectFrom('members as m')
        .leftJoin('users as u', 'u.id', 'm.user_id')
        .select(['m.user_id', 'u.display_name'])
        .where('m.room_id', '=', item.roomId)
        .execute();
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
    const attachmentIds = item.attachments ?? [];
    if (attachmentIds.length > 0) {
      const rows = await db
        .selectFrom('attachments')
        .select(['id', 'filename', 'content_type', 'size', 'has_thumbnail'])
        .where('id', '=', (eb) => eb.fn.any(eb.val(attachmentIds)))
        .where('room_id', '=', item.roomId)
        .where('uploader_id', '=', item.senderId)
        .execute();
      if (rows.length !== attachmentIds.length) {
        throw validationError('Attachments must be uploaded by the sender to this room', {
          details: { attachments: attachmentIds },
        });
      }
      const byId = new Map(rows.map((row) => [row.id, row]));
      attachments = attachmentIds.map((id) => {
        const row = byId.get(id)!;
        return {
          attachmentId: row.id,
          filename: row.filename,
          contentType: row.content_type,
          size: row.size,
          hasThumbnail: row.has_thumbnail,
        };
      });
    }
    let command: MessagePosted['command'];
    const parsed = item.asBot ? undefined : parseCommand(item.text);
    if (parsed) {
      const bot = await db
        .selectFrom('bot_commands')
        .select('bot_id')
        .where('name', '=', parsed.name)
        .executeTakeFirst();
      if (bot)
        command = {
          commandId: v7(),
          name: parsed.name,
          botId: bot.bot_id,
          args: parsed.args.slice(0, 2_000),
        };
    }
    return { mentions, notify, attachments, command };
  }

  async function existingPost(item: PostItem): Promise<PostResult | undefined> {
    const row = await db
      .selectFrom('messages')
      .select(['id', 'seq'])
      .where('room_id', '=', item.roomId)
      .where('sender_id', '=', item.senderId)
      .where('idempotency_key', '=', item.idempotencyKey)
      .executeTakeFirst();
    return row && { messageId: row.id, seq: row.seq, duplicate: true };
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
      // Raw: kysely has no `unnest(…) with ordinality as k(columns)` from-item, one row per item in order.
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
    const room = await access.memberRoom(input.roomId, actor.userId);
    return messagePage(db, input.roomId, room.last_seq, input);
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
    const reaction = await db
      .selectFrom('reactions')
      .select('seq')
      .where('message_id', '=', input.messageId)
      .where('user_id', '=', actor.userId)
      .where('emoji', '=', input.emoji)
      .executeTakeFirst();
    return applied(
      await runRoomCommand(input.roomId, {
        type: 'react',
        actor: actor.userId,
        message: await loadMessage(input.roomId, input.messageId),
        emoji: input.emoji,
        add,
        reacted: reaction !== undefined,
      }),
    );
  }

  /** The commands registered bots answer, for the composer's suggestions. */
  async function listCommands() {
    const rows = await db
      .selectFrom('bot_commands')
      .select(['name', 'bot_id', 'description'])
      .orderBy('name')
      .execute();
    return { commands: rows.map((r) => ({ name: r.name, botId: r.bot_id, description: r.description })) };
  }

  return {
    postMessage,
    postAsBot,
    listMessages,
    editMessage,
    deleteMessage,
    addReaction: (actor: Actor, input: { roomId: string; messageId: string; emoji: string }) =>
      react(actor, input, true),
    removeReaction: (actor: Actor, input: { roomId: string; messageId: string; emoji: string }) =>
      react(actor, input, false),
    listCommands,
    /** Waits for the posts under way. */
    idle: () => postBatcher.idle(),
  };
}
