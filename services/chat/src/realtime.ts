/**
 * The chat's realtime relay: follows the committed log (an at-least-once event-store subscription, one
 * replica at a time) and publishes room events to each member's `veche.user.<userId>.rooms`, moving
 * the checkpoint only once the router acknowledged every publication. Unlike the generic relay in
 * @veche/wamp, it routes a whole batch at once: it reads the rooms' members once per batch (walking the
 * batch backwards so each event reaches exactly the members of that moment, the joiner and the leaver
 * included), and sends each member one publication per batch holding all their events in log order
 * (`{type: 'batch', events}`) instead of one publication per event. See ADR 0010.
 */
import type { Database } from '@veche/db';
import {
  createSubscription,
  type EventStore,
  type RecordedEvent,
  type Subscription,
} from '@veche/event-store';
import type { Logger } from '@veche/log';
import type { WampService } from '@veche/wamp';
import { isSafeUriComponent, userTopic } from '@veche/wamp-policy';
import type { RoomRealtimeEvent, RoomRealtimePublication } from '@veche/contracts';
import { chatEventTypes as T, roomEventTypes, type ChatEvent, type RoomCreated } from './domain/events.ts';
import { tablesOf } from './tables.ts';

/** The realtime shape of an event (`RoomRealtimeEvent`): its type without `chat.`, what a client shows. */
export function realtimePayload(event: ChatEvent): RoomRealtimeEvent | undefined {
  switch (event.type) {
    case T.messagePosted: {
      const d = event.data;
      // Every member gets its own copy of each message, so bytes count: optional fields only when set.
      return {
        type: 'message_posted',
        roomId: d.roomId,
        seq: d.seq,
        messageId: d.messageId,
        senderId: d.senderId,
        senderDisplayName: d.senderDisplayName,
        text: d.text,
        sentAt: d.sentAt,
        ...(d.replyTo === undefined ? {} : { replyTo: d.replyTo }),
        ...(d.mentions.length > 0 ? { mentions: d.mentions } : {}),
        ...(d.attachments.length > 0 ? { attachments: d.attachments } : {}),
      };
    }
    case T.roomCreated:
      return { type: 'room_created', ...event.data };
    case T.memberJoined:
      return { type: 'member_joined', ...event.data };
    case T.memberLeft:
      return { type: 'member_left', ...event.data };
    case T.memberRoleChanged:
      return { type: 'member_role_changed', ...event.data };
    case T.roomRenamed:
      return { type: 'room_renamed', ...event.data };
    case T.roomTopicSet:
      return { type: 'room_topic_set', ...event.data };
    case T.roomArchived:
      return { type: 'room_archived', ...event.data };
    case T.messageEdited:
      return { type: 'message_edited', ...event.data };
    case T.messageDeleted:
      return { type: 'message_deleted', ...event.data };
    case T.reactionAdded:
      return { type: 'reaction_added', ...event.data };
    case T.reactionRemoved:
      return { type: 'reaction_removed', ...event.data };
    case T.receiptsUpdated:
      return { type: 'receipts_updated', ...event.data };
    case T.messageNotified:
    case T.botCommandIssued:
      return undefined; // the outbox's events are for other services, not for members
  }
}

/** The log holds only what chat appended (typed `ChatEvent`s): read back, they are that again. */
export const asChatEvent = (event: RecordedEvent): ChatEvent => event as unknown as ChatEvent;

/** Who receives each event: the room's members at that point of the log. */
export function recipientsOf(
  events: readonly RecordedEvent[],
  membersNow: Map<string, Set<string>>,
): string[][] {
  const sets = new Map<string, Set<string>>();
  for (const [roomId, members] of membersNow) sets.set(roomId, new Set(members));
  const out: string[][] = events.map(() => []);
  for (let i = events.length - 1; i >= 0; i -= 1) {
    const event = events[i]!;
    const data = event.data as { roomId?: string; userId?: string; createdBy?: string };
    if (!data.roomId) {
      out[i] = [];
      continue;
    }
    let members = sets.get(data.roomId);
    if (!members) sets.set(data.roomId, (members = new Set()));
    const recipients = new Set(members);
    if (event.type === T.memberJoined && data.userId) {
      recipients.add(data.userId);
      members.delete(data.userId);
    } else if (event.type === T.memberLeft && data.userId) {
      recipients.add(data.userId);
      members.add(data.userId);
    } else if (event.type === T.roomCreated) {
      recipients.add((event.data as RoomCreated).createdBy);
    }
    out[i] = [...recipients];
  }
  return out;
}

export interface ChatRealtimeRelayOptions {
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
  session: Pick<WampService, 'publish'>;
  batchSize: number;
  publishTimeoutMs?: number;
  pollIntervalMs?: number;
  leaseRetryMs?: number;
}

const maxEventsPerPublication = 500;
const maxBytesPerPublication = 512 * 1024;

export function createChatRealtimeRelay(options: ChatRealtimeRelayOptions): Subscription {
  const log = options.log.child({ component: 'realtime-relay' });
  // A session lost mid-batch never acknowledges: a short wait brings realtime back soon after a router restart.
  const timeoutMs = options.publishTimeoutMs ?? 5_000;
  return createSubscription({
    name: 'chat.realtime-relay',
    database: options.database,
    store: options.store,
    log,
    mode: 'at-least-once',
    eventTypes: [...roomEventTypes, T.receiptsUpdated],
    batchSize: options.batchSize,
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    ...(options.leaseRetryMs === undefined ? {} : { leaseRetryMs: options.leaseRetryMs }),
    async handle(events) {
      const roomIds = [
        ...new Set(
          events.map((e) => (e.data as { roomId?: string }).roomId).filter((id) => id !== undefined),
        ),
      ];
      const membersNow = new Map<string, Set<string>>();
      if (roomIds.length > 0) {
        const rows = await tablesOf(options.database.db)
          .selectFrom('members')
          .select(['room_id', 'user_id'])
          .where('room_id', '=', (eb) => eb.fn.any(eb.val(roomIds)))
          .execute();
        for (const row of rows) {
          const set = membersNow.get(row.room_id) ?? new Set<string>();
          set.add(row.user_id);
          membersNow.set(row.room_id, set);
        }
      }
      const recipients = recipientsOf(events, membersNow);
      const perUser = new Map<string, RoomRealtimeEvent[]>();
      events.forEach((event, index) => {
        let payload: RoomRealtimeEvent | undefined;
        for (const userId of recipients[index] ?? []) {
          if (!isSafeUriComponent(userId)) continue; // bots and malformed ids have no topic
          payload ??= realtimePayload(asChatEvent(event));
          if (!payload) break;
          const list = perUser.get(userId) ?? [];
          list.push(payload);
          perUser.set(userId, list);
        }
      });
      const publications: Promise<void>[] = [];
      for (const [userId, payloads] of perUser) {
        const topic = userTopic(userId, 'rooms');
        let chunk: RoomRealtimeEvent[] = [];
        let bytes = 0;
        const send = () => {
          if (chunk.length === 0) return;
          const payload: RoomRealtimePublication =
            chunk.length === 1 ? chunk[0]! : { type: 'batch', events: chunk };
          publications.push(options.session.publish(topic, payload, { acknowledge: true, timeoutMs }));
          chunk = [];
          bytes = 0;
        };
        for (const payload of payloads) {
          const size = 'text' in payload ? payload.text.length * 3 + 300 : 300;
          if (chunk.length >= maxEventsPerPublication || bytes + size > maxBytesPerPublication) send();
          chunk.push(payload);
          bytes += size;
        }
        send();
      }
      await Promise.all(publications);
      log.debug({ events: events.length, publications: publications.length }, 'batch published');
    },
  });
}
