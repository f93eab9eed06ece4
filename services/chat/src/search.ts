/**
 * Full-text search over the messages of the rooms the caller is in (PostgreSQL's `simple`
 * configuration, ranked, newest first among equals).
 */
import { sql } from '@veche/db';
import type { Actor, RoomAccess } from './room-access.ts';
import { messagesOut, type MessageRow } from './views.ts';

export function createSearch(access: RoomAccess) {
  const { db } = access;

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
    const out = await messagesOut(db, hits);
    return {
      results: out.map((message, index) => ({ message, rank: Number(hits[index]?.rank ?? 0) })),
      hasMore: rows.length > limit,
    };
  }

  return { search };
}
