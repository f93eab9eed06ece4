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

export type RoomKind = 'public' | 'private' | 'dm';
export type MemberRole = 'owner' | 'moderator' | 'member';

export interface AttachmentRef {
  attachmentId: string;
  filename: string;
  contentType: string;
  size: number;
  hasThumbnail: boolean;
}

export interface RoomCreated {
  roomId: string;
  seq: number;
  kind: RoomKind;
  name: string;
  topic: string;
  createdBy: string;
  /** Direct messages: the two users, sorted (also the room's uniqueness key). */
  pair?: [string, string];
}
export interface MemberJoined {
  roomId: string;
  seq: number;
  userId: string;
  role: MemberRole;
  via: 'create' | 'join' | 'invite' | 'dm';
  by: string;
}
export interface MemberLeft {
  roomId: string;
  seq: number;
  userId: string;
  reason: 'left' | 'kicked';
  by: string;
}
export interface MemberRoleChanged {
  roomId: string;
  seq: number;
  userId: string;
  role: MemberRole;
  by: string;
}
export interface RoomRenamed {
  roomId: string;
  seq: number;
  name: string;
  by: string;
}
export interface RoomTopicSet {
  roomId: string;
  seq: number;
  topic: string;
  by: string;
}
export interface RoomArchived {
  roomId: string;
  seq: number;
  by: string;
}
/** A superset of the mailer's `chat.message_posted` contract (services/mailer/src/events.ts). */
export interface MessagePosted {
  roomId: string;
  roomName?: string;
  roomKind: 'room' | 'dm';
  messageId: string;
  seq: number;
  senderId: string;
  senderDisplayName: string;
  text: string;
  sentAt: string;
  notify: { userId: string; reason: 'mention' | 'direct' }[];
  idempotencyKey: string;
  replyTo?: string;
  mentions: string[];
  attachments: AttachmentRef[];
  /** Set when the text starts with a registered slash command: the bot relay sends it to the bot. */
  command?: { commandId: string; name: string; botId: string; args: string };
}
export interface MessageEdited {
  roomId: string;
  seq: number;
  messageId: string;
  text: string;
  by: string;
  editedAt: string;
}
export interface MessageDeleted {
  roomId: string;
  seq: number;
  messageId: string;
  by: string;
}
export interface ReactionChanged {
  roomId: string;
  seq: number;
  messageId: string;
  userId: string;
  emoji: string;
}
export interface ReceiptsUpdated {
  roomId: string;
  userId: string;
  deliveredUpTo: number;
  readUpTo: number;
}

export const chatEventTypes = {
  roomCreated: 'chat.room_created',
  memberJoined: 'chat.member_joined',
  memberLeft: 'chat.member_left',
  memberRoleChanged: 'chat.member_role_changed',
  roomRenamed: 'chat.room_renamed',
  roomTopicSet: 'chat.room_topic_set',
  roomArchived: 'chat.room_archived',
  messagePosted: 'chat.message_posted',
  messageEdited: 'chat.message_edited',
  messageDeleted: 'chat.message_deleted',
  reactionAdded: 'chat.reaction_added',
  reactionRemoved: 'chat.reaction_removed',
  receiptsUpdated: 'chat.receipts_updated',
  /** In `room-outbox-<roomId>`: a posted message that notifies someone; data = the message's. */
  messageNotified: 'chat.message_notified',
  /** In `room-outbox-<roomId>`: a posted message that is a bot command; data = the message's. */
  botCommandIssued: 'chat.bot_command_issued',
} as const;

export type ChatEventType = (typeof chatEventTypes)[keyof typeof chatEventTypes];
const notRoomEvents: readonly string[] = [
  chatEventTypes.receiptsUpdated,
  chatEventTypes.messageNotified,
  chatEventTypes.botCommandIssued,
];
export const roomEventTypes: readonly string[] = Object.values(chatEventTypes).filter(
  (type) => !notRoomEvents.includes(type),
);
