/**
 * Chat messages waiting for a user's digest, and how far each user has read each room: reading a
 * message before its digest goes out takes it out of the digest.
 */
import { sql, type Executor } from '@veche/db';
import type { ChatNotificationItem } from '../domain/templates.ts';

/** Queues a message for `userId`'s digest, unless a receipt already said they read it. */
export async function queueForDigest(
  db: Executor<unknown>,
  userId: string,
  eventId: string,
  item: ChatNotificationItem,
  dueAt: Date,
): Promise<boolean> {
  const { rows } = await sql<{ user_id: string }>`
    insert into pending_notifications (user_id, event_id, room_id, seq, item, posted_at, due_at)
    select ${userId}, ${eventId}, ${item.roomId}, ${item.seq}, ${JSON.stringify(item)}::jsonb, ${item.sentAt}::timestamptz,
           ${dueAt}
    where not exists (
      select 1 from read_marks where user_id = ${userId} and room_id = ${item.roomId} and read_up_to >= ${item.seq})
    on conflict do nothing
    returning user_id`.execute(db);
  return rows.length > 0;
}

/** Has the user read up to `seq` in the room already? */
export async function hasRead(
  db: Executor<unknown>,
  userId: string,
  roomId: string,
  seq: number,
): Promise<boolean> {
  const { rows } = await sql`
    select 1 from read_marks where user_id = ${userId} and room_id = ${roomId} and read_up_to >= ${seq}`.execute(
    db,
  );
  return rows.length > 0;
}

/** Moves the user's read mark forward and drops the waiting notifications it covers; returns how many. */
export async function recordRead(
  db: Executor<unknown>,
  userId: string,
  roomId: string,
  readUpTo: number,
): Promise<number> {
  await sql`
    insert into read_marks (user_id, room_id, read_up_to) values (${userId}, ${roomId}, ${readUpTo})
    on conflict (user_id, room_id) do update set read_up_to = greatest(read_marks.read_up_to, excluded.read_up_to)`.execute(
    db,
  );
  const result = await sql`
    delete from pending_notifications where user_id = ${userId} and room_id = ${roomId} and seq <= ${readUpTo}`.execute(
    db,
  );
  return Number(result.numAffectedRows ?? 0);
}

/** Users whose oldest waiting notification is due. */
export async function usersWithDueDigest(db: Executor<unknown>, limit: number): Promise<string[]> {
  const { rows } = await sql<{ user_id: string }>`
    select user_id from pending_notifications group by user_id having min(due_at) <= now()
    order by min(due_at) limit ${limit}`.execute(db);
  return rows.map((r) => r.user_id);
}

export interface PendingNotification {
  eventId: string;
  item: ChatNotificationItem;
}

/**
 * Takes (deletes and returns, oldest first) everything waiting for the user: one digest holds it all.
 * Rows another replica is composing are skipped.
 */
export async function takeDigest(db: Executor<unknown>, userId: string): Promise<PendingNotification[]> {
  const { rows } = await sql<{ event_id: string; item: ChatNotificationItem }>`
    with taken as (
      select user_id, event_id from pending_notifications where user_id = ${userId}
      for update skip locked
    )
    delete from pending_notifications p using taken
    where p.user_id = taken.user_id and p.event_id = taken.event_id
    returning p.event_id, p.item, p.posted_at`.execute(db);
  return rows
    .map((r) => ({ eventId: r.event_id, item: r.item }))
    .sort((a, b) => a.item.sentAt.localeCompare(b.item.sentAt) || a.eventId.localeCompare(b.eventId));
}
