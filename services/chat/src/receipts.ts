/**
 * Where each member is in each room: switching to a room (the room, its members and latest page at
 * once), delivery and read marks (batched; marks only move forward), who got or read a message, and
 * the sync of every room's unread counts.
 */
import { sql } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import { createBatcher, Failure } from './batcher.ts';
import type { Selectable } from 'kysely';
import { chatEventTypes as T, receiptStream, type ReceiptsUpdated } from './domain/events.ts';
import { dmNameOf, type Actor, type RoomAccess } from './room-access.ts';
import type { MembersTable, ReceiptsTable, RoomsTable } from './tables.ts';
import { messagePage, roomOut } from './views.ts';

interface ReceiptItem {
  roomId: string;
  userId: string;
  deliveredUpTo?: number | undefined;
  readUpTo?: number | undefined;
}
type Marks = { deliveredUpTo: number; readUpTo: number };

export function createReceipts(access: RoomAccess) {
  const { db, loadMessage } = access;
  const { store } = access.deps;

  /** A room's members, each with their receipts row when there is one. */
  const membersWithReceipts = (roomId: string) =>
    db
      .selectFrom('members as m')
      .leftJoin('receipts as rc', (join) =>
        join.onRef('rc.room_id', '=', 'm.room_id').onRef('rc.user_id', '=', 'm.user_id'),
      )
      .where('m.room_id', '=', roomId);

  async function switchRoom(actor: Actor, input: { roomId: string; limit?: number }) {
    const room = await access.memberRoom(input.roomId, actor.userId);
    const [memberList, latest] = await Promise.all([
      access.members(input.roomId, actor.userId),
      messagePage(db, input.roomId, room.last_seq, { limit: input.limit ?? 50 }),
    ]);
    return { room: roomOut(room), members: memberList, page: latest };
  }

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
      // Raw: kysely has no `unnest(…) with ordinality as k(columns)` from-item, one row per entry in order.
      const { rows } = await sql<{
        last_seq: Selectable<RoomsTable>['last_seq'] | null;
        role: Selectable<MembersTable>['role'] | null;
        d: Selectable<ReceiptsTable>['delivered_up_to'] | null;
        r: Selectable<ReceiptsTable>['read_up_to'] | null;
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
    await access.memberRoom(input.roomId, actor.userId);
    const rows = await membersWithReceipts(input.roomId)
      .select(['m.user_id', 'rc.delivered_up_to as d', 'rc.read_up_to as r'])
      .orderBy('m.joined_seq')
      .execute();
    return {
      receipts: rows.map((r) => ({ userId: r.user_id, deliveredUpTo: r.d ?? 0, readUpTo: r.r ?? 0 })),
    };
  }

  async function getMessageReceipts(actor: Actor, input: { roomId: string; messageId: string }) {
    await access.memberRoom(input.roomId, actor.userId);
    const message = await loadMessage(input.roomId, input.messageId);
    if (!message) throw notFound('No such message');
    const rows = await membersWithReceipts(input.roomId)
      .select((eb) => [
        'm.user_id',
        eb.fn.coalesce('rc.delivered_up_to', eb.lit(0)).as('d'),
        eb.fn.coalesce('rc.read_up_to', eb.lit(0)).as('r'),
      ])
      .where('m.user_id', '<>', message.senderId)
      .orderBy('m.joined_seq')
      .execute();
    return {
      seq: message.seq,
      deliveredTo: rows.filter((r) => r.d >= message.seq).map((r) => r.user_id),
      readBy: rows.filter((r) => r.r >= message.seq).map((r) => r.user_id),
    };
  }

  async function sync(actor: Actor) {
    const rows = await db
      .selectFrom('members as mb')
      .innerJoin('rooms as r', 'r.id', 'mb.room_id')
      .leftJoin('receipts as rc', (join) =>
        join.onRef('rc.room_id', '=', 'r.id').on('rc.user_id', '=', actor.userId),
      )
      .select((eb) => {
        const readUpTo = eb.fn.coalesce('rc.read_up_to', eb.lit(0));
        return [
          'r.id',
          'r.kind',
          'r.name',
          'r.last_seq',
          'rc.delivered_up_to as d',
          'rc.read_up_to as r',
          eb
            .selectFrom('messages as x')
            .select(eb.fn.countAll<number>().as('n'))
            .whereRef('x.room_id', '=', 'r.id')
            .where('x.seq', '>', readUpTo)
            .where('x.sender_id', '<>', actor.userId)
            .where('x.deleted_at', 'is', null)
            .as('unread'),
          eb
            .selectFrom('mentions as x')
            .select(eb.fn.countAll<number>().as('n'))
            .where('x.user_id', '=', actor.userId)
            .whereRef('x.room_id', '=', 'r.id')
            .where('x.seq', '>', readUpTo)
            .as('unread_mentions'),
          dmNameOf(eb, actor.userId).as('dm_name'),
        ];
      })
      .where('mb.user_id', '=', actor.userId)
      .orderBy('r.id')
      .execute();
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

  return {
    switchRoom,
    postReceipts,
    getReceipts,
    getMessageReceipts,
    sync,
    /** Waits for the marks under way. */
    idle: () => receiptBatcher.idle(),
  };
}
