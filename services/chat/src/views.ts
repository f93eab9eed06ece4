/**
 * Read-model rows shaped into what the API answers: rooms, pages of messages (with their reactions)
 * and member lists (with presence).
 */
import type { Kysely } from '@veche/db';
import { isOnlineStatus } from '@veche/contracts';
import type { Selection } from 'kysely';
import type { RoomView } from './domain/rules.ts';
import type { RoomRow } from './room-access.ts';
import type { ChatTables, MessagesTable } from './tables.ts';

/** The columns of a message the API shows (`messages as m`). */
export const messageColumns = [
  'm.room_id',
  'm.seq',
  'm.id',
  'm.sender_id',
  'm.text',
  'm.reply_to',
  'm.mentions',
  'm.attachments',
  'm.sent_at',
  'm.edited_at',
  'm.deleted_at',
] as const;

export type MessageRow = Selection<ChatTables & { m: MessagesTable }, 'm', (typeof messageColumns)[number]>;

export const iso = (value: Date | string): string =>
  (value instanceof Date ? value : new Date(value)).toISOString();

export const toRoomView = (row: RoomRow): RoomView => ({
  roomId: row.id,
  kind: row.kind,
  name: row.name,
  archived: row.archived,
  lastSeq: row.last_seq,
});

export const roomOut = (row: RoomRow) => ({
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

export async function messagesOut(db: Kysely<ChatTables>, rows: MessageRow[]) {
  const ids = rows.map((row) => row.id);
  const reactions = new Map<string, Map<string, string[]>>();
  if (ids.length > 0) {
    const found = await db
      .selectFrom('reactions')
      .select(['message_id', 'emoji', 'user_id'])
      .where('message_id', '=', (eb) => eb.fn.any(eb.val(ids)))
      .orderBy('seq')
      .execute();
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

/** A page of a room's messages: the latest, or those before or after a seq. */
export async function messagePage(
  db: Kysely<ChatTables>,
  roomId: string,
  lastSeq: number,
  input: { before?: number; after?: number; limit?: number },
) {
  const limit = input.limit ?? 50;
  const ascending = input.after !== undefined;
  let query = db.selectFrom('messages as m').select(messageColumns).where('m.room_id', '=', roomId);
  if (input.after !== undefined) query = query.where('m.seq', '>', input.after);
  else if (input.before !== undefined) query = query.where('m.seq', '<', input.before);
  const rows = await query
    .orderBy('m.seq', ascending ? 'asc' : 'desc')
    .limit(limit + 1)
    .execute();
  const hasMore = rows.length > limit;
  return { messages: await messagesOut(db, rows.slice(0, limit)), lastSeq, hasMore };
}

/** A room's members in joining order, with their receipts and (from presence) whether they are online. */
export async function memberList(
  db: Kysely<ChatTables>,
  presenceOf: (viewer: string, users: string[]) => Promise<ReadonlyMap<string, number> | undefined>,
  roomId: string,
  viewer: string,
) {
  const rows = await db
    .selectFrom('members as m')
    .leftJoin('users as u', 'u.id', 'm.user_id')
    .leftJoin('receipts as r', (join) =>
      join.onRef('r.room_id', '=', 'm.room_id').onRef('r.user_id', '=', 'm.user_id'),
    )
    .select(['m.user_id', 'u.display_name', 'm.role', 'm.joined_at', 'r.delivered_up_to', 'r.read_up_to'])
    .where('m.room_id', '=', roomId)
    .orderBy('m.joined_seq')
    .execute();
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
