/**
 * Read-model rows shaped into what the API answers: rooms, pages of messages (with their reactions)
 * and member lists (with presence).
 */
import { sql, type Kysely } from '@veche/db';
import { isOnlineStatus } from '@veche/contracts';
import type { AttachmentRef, MemberRole, RoomKind } from './domain/events.ts';
import type { RoomView } from './domain/rules.ts';

/** A room as a caller sees it: the room, its member count, the caller's role and a DM's other name. */
export interface RoomRow {
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

export interface MessageRow {
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

export async function messagesOut(db: Kysely<unknown>, rows: MessageRow[]) {
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

/** A page of a room's messages: the latest, or those before or after a seq. */
export async function messagePage(
  db: Kysely<unknown>,
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
  return { messages: await messagesOut(db, rows.slice(0, limit)), lastSeq, hasMore };
}

/** A room's members in joining order, with their receipts and (from presence) whether they are online. */
export async function memberList(
  db: Kysely<unknown>,
  presenceOf: (viewer: string, users: string[]) => Promise<ReadonlyMap<string, number> | undefined>,
  roomId: string,
  viewer: string,
) {
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
