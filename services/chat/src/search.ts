/**
 * Full-text search over the messages of the rooms the caller is in (PostgreSQL's `simple`
 * configuration, ranked, newest first among equals).
 */
import { sql } from '@veche/db';
import type { Actor, RoomAccess } from './room-access.ts';
import { messageColumns, messagesOut } from './views.ts';

export function createSearch(access: RoomAccess) {
  const { db } = access;

  async function search(
    actor: Actor,
    input: { q: string; roomId?: string; limit?: number; offset?: number },
  ) {
    const limit = input.limit ?? 20;
    let query = db
      // Raw where kysely has no words: the tsquery from-item, ts_rank and the @@ match.
      .selectFrom(['messages as m', sql<{ q: string }>`websearch_to_tsquery('simple', ${input.q})`.as('q')])
      .select(messageColumns)
      .select(sql<number>`ts_rank(m.search, q)`.as('rank'))
      .where(sql<boolean>`m.search @@ q`)
      .where('m.deleted_at', 'is', null);
    if (input.roomId !== undefined) query = query.where('m.room_id', '=', input.roomId);
    const rows = await query
      .where('m.room_id', 'in', (eb) =>
        eb.selectFrom('members').select('members.room_id').where('members.user_id', '=', actor.userId),
      )
      .orderBy('rank', 'desc')
      .orderBy('m.sent_at', 'desc')
      .limit(limit + 1)
      .offset(input.offset ?? 0)
      .execute();
    const hits = rows.slice(0, limit);
    const out = await messagesOut(db, hits);
    return {
      results: out.map((message, index) => ({ message, rank: Number(hits[index]?.rank ?? 0) })),
      hasMore: rows.length > limit,
    };
  }

  return { search };
}
