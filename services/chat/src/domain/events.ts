import { chatEventTypes } from '@veche/contracts';

/**
 * The chat's events. Room events live in the stream `room-<roomId>`; their `seq` is the stream version,
 * written into the data so every consumer (projection, realtime relay, RabbitMQ) has it. Receipts live
 * in `receipts-<roomId>-<userId>`: they are marks, not room events, and take no `seq`.
 */
export const roomStream = (roomId: string): string => `room-${roomId}`;
export const receiptStream = (roomId: string, userId: string): string => `receipts-${roomId}-${userId}`;
/**
 * What a room's posts ask of other services (notifications, bot commands), appended in the same
 * transaction as the message: the outbox relay reads only these, never every message (ADR 0010).
 */
export const roomOutboxStream = (roomId: string): string => `room-outbox-${roomId}`;

// The events' data are declared in @veche/contracts (chat-events.ts): chat appends those types.
export {
  chatEventTypes,
  type AttachmentRef,
  type ChatEvent,
  type ChatEventData,
  type ChatEventType,
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
} from '@veche/contracts';
export type RoomKind = 'public' | 'private' | 'dm';
export type MemberRole = 'owner' | 'moderator' | 'member';

const notRoomEvents: readonly string[] = [
  chatEventTypes.receiptsUpdated,
  chatEventTypes.messageNotified,
  chatEventTypes.botCommandIssued,
];
export const roomEventTypes: readonly string[] = Object.values(chatEventTypes).filter(
  (type) => !notRoomEvents.includes(type),
);
