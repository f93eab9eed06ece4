/**
 * The read model the API answers from, updated inline (in the append's transaction) so a caller reads
 * its own write at once. Messages and receipts, the hot paths, are written set-wise: one statement per
 * table however many events the group-committed batch holds.
 */
import { sql, type Transaction } from '@veche/db';
import type { InlineProjection, RecordedEvent } from '@veche/event-store';
import {
  chatEventTypes as T,
  type MemberJoined,
  type MemberLeft,
  type MemberRoleChanged,
  type MessageDeleted,
  type MessageEdited,
  type MessagePosted,
  type ReactionChanged,
  type ReceiptsUpdated,
  type RoomArchived,
  type RoomCreated,
  type RoomRenamed,
  type RoomTopicSet,
} from '../domain/events.ts';
import { tablesOf } from '../tables.ts';

type Trx = Transaction<unknown>;

async function applyMessages(trx: Trx, events: readonly RecordedEvent[]): Promise<void> {
  const rows = events.map((event) => {
    const d = event.data as MessagePosted;
    return { room_id: d.roomId, seq: d.seq, mentions: d.mentions };
  });
  // The events are already in this transaction: read the messages from them rather than sending every
  // text to PostgreSQL a second time (the bytes written to the socket are most of a post's cost).
  const positions = events.map((event) => event.globalPosition);
  // Raw: the rows come from the event store's own table and its jsonb, which ChatTables does not hold.
  await sql`
    insert into messages (room_id, seq, id, sender_id, text, reply_to, mentions, attachments, idempotency_key, sent_at)
    select e.data->>'roomId', (e.data->>'seq')::integer, e.data->>'messageId', e.data->>'senderId', e.data->>'text',
           e.data->>'replyTo', array(select jsonb_array_elements_text(e.data->'mentions')),
           coalesce(e.data->'attachments', '[]'), e.data->>'idempotencyKey', (e.data->>'sentAt')::timestamptz
    from events e
    where e.global_position = any(${positions}::bigint[])
    order by e.global_position`.execute(trx);
  const mentions = rows.flatMap((row) =>
    row.mentions.map((userId) => ({ u: userId, r: row.room_id, s: row.seq })),
  );
  if (mentions.length > 0) {
    // Raw: one jsonb parameter however large the batch (a VALUES list could pass the 65,535-parameter limit).
    await sql`
      insert into mentions (user_id, room_id, seq)
      select m.u, m.r, m.s from jsonb_to_recordset(${JSON.stringify(mentions)}::jsonb) as m(u text, r text, s integer)
      on conflict do nothing`.execute(trx);
  }
  const commands = events.flatMap((event) => {
    const d = event.data as MessagePosted;
    return d.command ? [{ c: d.command.commandId, r: d.roomId, b: d.command.botId, t: d.sentAt }] : [];
  });
  if (commands.length > 0) {
    // Raw: one jsonb parameter however large the batch, as for the mentions.
    await sql`
      insert into bot_command_requests (command_id, room_id, bot_id, issued_at)
      select c.c, c.r, c.b, c.t from jsonb_to_recordset(${JSON.stringify(commands)}::jsonb) as c(c text, r text, b text, t timestamptz)
      on conflict do nothing`.execute(trx);
  }
}

async function applyReceipts(trx: Trx, events: readonly RecordedEvent[]): Promise<void> {
  const marks = new Map<string, { r: string; u: string; d: number; m: number }>();
  for (const event of events) {
    const d = event.data as ReceiptsUpdated;
    const key = `${d.roomId}\u0000${d.userId}`;
    const previous = marks.get(key);
    marks.set(key, {
      r: d.roomId,
      u: d.userId,
      d: Math.max(previous?.d ?? 0, d.deliveredUpTo),
      m: Math.max(previous?.m ?? 0, d.readUpTo),
    });
  }
  // Raw: jsonb_to_recordset rows, and greatest() against the conflicting row in one statement.
  await sql`
    insert into receipts as x (room_id, user_id, delivered_up_to, read_up_to)
    select m.r, m.u, m.d, m.m from jsonb_to_recordset(${JSON.stringify([...marks.values()])}::jsonb)
      as m(r text, u text, d integer, m integer)
    order by m.r, m.u
    on conflict (room_id, user_id) do update
    set delivered_up_to = greatest(x.delivered_up_to, excluded.delivered_up_to),
        read_up_to = greatest(x.read_up_to, excluded.read_up_to),
        updated_at = now()`.execute(trx);
}

async function applyOne(raw: Trx, event: RecordedEvent): Promise<void> {
  const trx = tablesOf(raw);
  const at = event.metadata.occurredAt;
  switch (event.type) {
    case T.roomCreated: {
      const d = event.data as RoomCreated;
      await trx
        .insertInto('rooms')
        .values({
          id: d.roomId,
          kind: d.kind,
          name: d.name,
          topic: d.topic,
          created_by: d.createdBy,
          created_at: at,
          dm_key: d.pair ? d.pair.join(' ') : null,
        })
        .execute();
      return;
    }
    case T.memberJoined: {
      const d = event.data as MemberJoined;
      await trx
        .insertInto('members')
        .values({ room_id: d.roomId, user_id: d.userId, role: d.role, joined_at: at, joined_seq: d.seq })
        .onConflict((oc) =>
          oc.columns(['room_id', 'user_id']).doUpdateSet((eb) => ({ role: eb.ref('excluded.role') })),
        )
        .execute();
      // A member has seen everything up to their joining: unread counts start there.
      await trx
        .insertInto('receipts')
        .values({ room_id: d.roomId, user_id: d.userId, delivered_up_to: d.seq, read_up_to: d.seq })
        .onConflict((oc) =>
          oc.columns(['room_id', 'user_id']).doUpdateSet((eb) => ({
            delivered_up_to: eb.fn('greatest', ['receipts.delivered_up_to', 'excluded.delivered_up_to']),
            read_up_to: eb.fn('greatest', ['receipts.read_up_to', 'excluded.read_up_to']),
          })),
        )
        .execute();
      return;
    }
    case T.memberLeft: {
      const d = event.data as MemberLeft;
      await trx
        .deleteFrom('members')
        .where('room_id', '=', d.roomId)
        .where('user_id', '=', d.userId)
        .execute();
      return;
    }
    case T.memberRoleChanged: {
      const d = event.data as MemberRoleChanged;
      await trx
        .updateTable('members')
        .set({ role: d.role })
        .where('room_id', '=', d.roomId)
        .where('user_id', '=', d.userId)
        .execute();
      return;
    }
    case T.roomRenamed: {
      const d = event.data as RoomRenamed;
      await trx.updateTable('rooms').set({ name: d.name }).where('id', '=', d.roomId).execute();
      return;
    }
    case T.roomTopicSet: {
      const d = event.data as RoomTopicSet;
      await trx.updateTable('rooms').set({ topic: d.topic }).where('id', '=', d.roomId).execute();
      return;
    }
    case T.roomArchived: {
      const d = event.data as RoomArchived;
      await trx.updateTable('rooms').set({ archived: true }).where('id', '=', d.roomId).execute();
      return;
    }
    case T.messageEdited: {
      const d = event.data as MessageEdited;
      await trx
        .updateTable('messages')
        .set({ text: d.text, edited_at: d.editedAt })
        .where('id', '=', d.messageId)
        .where('deleted_at', 'is', null)
        .execute();
      return;
    }
    case T.messageDeleted: {
      const d = event.data as MessageDeleted;
      // The text goes at once (search, history); the row stays so seq has no hole.
      await trx
        .updateTable('messages')
        .set({ text: '', attachments: '[]', mentions: [], deleted_at: at })
        .where('id', '=', d.messageId)
        .execute();
      await trx.deleteFrom('reactions').where('message_id', '=', d.messageId).execute();
      return;
    }
    case T.reactionAdded: {
      const d = event.data as ReactionChanged;
      await trx
        .insertInto('reactions')
        .values({ message_id: d.messageId, user_id: d.userId, emoji: d.emoji, seq: d.seq })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    }
    case T.reactionRemoved: {
      const d = event.data as ReactionChanged;
      await trx
        .deleteFrom('reactions')
        .where('message_id', '=', d.messageId)
        .where('user_id', '=', d.userId)
        .where('emoji', '=', d.emoji)
        .execute();
      return;
    }
    default:
      return;
  }
}

export const readModelProjection: InlineProjection = {
  name: 'chat.read-model',
  /**
   * The tables the room events build. Not these, which the log does not hold: `users` (account
   * events from RabbitMQ), `user_activity`, `attachments` (files), `bot_commands` (bot registrations)
   * and `bot_command_requests` (the reply consumer counts replies there; replayed posts find their
   * rows already present).
   */
  async reset(trx) {
    // Raw: kysely has no truncate.
    await sql`truncate rooms, members, messages, reactions, mentions, receipts`.execute(trx);
  },
  // The rooms' outbox events repeat a message for other services: nothing to read back.
  eventTypes: Object.values(T).filter((type) => type !== T.messageNotified && type !== T.botCommandIssued),
  async apply(trx, events) {
    // Events arrive in log order; consecutive runs of messages and of receipts are written set-wise.
    let run: RecordedEvent[] = [];
    let runType: string | undefined;
    const flush = async () => {
      if (run.length === 0) return;
      if (runType === T.messagePosted) await applyMessages(trx, run);
      else await applyReceipts(trx, run);
      run = [];
      runType = undefined;
    };
    const lastSeq = new Map<string, number>();
    for (const event of events) {
      if (event.type === T.messagePosted || event.type === T.receiptsUpdated) {
        if (runType !== event.type) await flush();
        runType = event.type;
        run.push(event);
      } else {
        await flush();
        await applyOne(trx, event);
      }
      const data = event.data as { roomId?: string; seq?: number };
      if (event.type !== T.receiptsUpdated && data.roomId && typeof data.seq === 'number') {
        lastSeq.set(data.roomId, Math.max(lastSeq.get(data.roomId) ?? 0, data.seq));
      }
    }
    await flush();
    if (lastSeq.size > 0) {
      const rooms = [...lastSeq.keys()].sort();
      // Raw: an update from unnest(ids, seqs), one statement for every room of the batch.
      await sql`
        update rooms set last_seq = greatest(rooms.last_seq, v.seq)
        from unnest(${rooms}::text[], ${rooms.map((id) => lastSeq.get(id) ?? 0)}::int[]) as v(id, seq)
        where rooms.id = v.id`.execute(trx);
    }
  },
};
