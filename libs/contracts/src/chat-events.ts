/**
 * The chat's events, declared once: the data of every event chat appends (its room streams, receipts
 * and outbox), the integration events it publishes on `veche.events`, and the closed union of what a
 * member receives on `veche.user.<userId>.rooms`. Chat appends values of these types (a renamed field
 * breaks its build), and consumers check what they receive against the same schemas.
 */
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { Attachment, ChatId, MemberRole, RoomKind, Seq, SenderId } from './chat.ts';

const DateTime = Type.String({ format: 'date-time' });
/** Texts in events were validated on their way in; events only bound them. */
const Name = Type.String({ maxLength: 200 });
const LongText = Type.String({ maxLength: 20_000 });
const EventSeq = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

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

const roomCreated = {
  roomId: ChatId,
  seq: EventSeq,
  kind: RoomKind,
  name: Name,
  topic: Type.String({ maxLength: 1_000 }),
  createdBy: ChatId,
  /** Direct messages: the two users, sorted (also the room's uniqueness key). */
  pair: Type.Optional(Type.Tuple([ChatId, ChatId])),
};
const memberJoined = {
  roomId: ChatId,
  seq: EventSeq,
  userId: ChatId,
  role: MemberRole,
  via: Type.Union([Type.Literal('create'), Type.Literal('join'), Type.Literal('invite'), Type.Literal('dm')]),
  by: SenderId,
};
const memberLeft = {
  roomId: ChatId,
  seq: EventSeq,
  userId: ChatId,
  reason: Type.Union([Type.Literal('left'), Type.Literal('kicked')]),
  by: SenderId,
};
const memberRoleChanged = { roomId: ChatId, seq: EventSeq, userId: ChatId, role: MemberRole, by: SenderId };
const roomRenamed = { roomId: ChatId, seq: EventSeq, name: Name, by: SenderId };
const roomTopicSet = {
  roomId: ChatId,
  seq: EventSeq,
  topic: Type.String({ maxLength: 1_000 }),
  by: SenderId,
};
const roomArchived = { roomId: ChatId, seq: EventSeq, by: SenderId };
const NotifyReason = Type.Union([Type.Literal('mention'), Type.Literal('direct')]);
const messagePosted = {
  roomId: ChatId,
  /** Shown in mails; a direct message has none. */
  roomName: Type.Optional(Name),
  roomKind: Type.Union([Type.Literal('room'), Type.Literal('dm')]),
  messageId: ChatId,
  /** The message's per-room sequence: a read receipt `readUpTo >= seq` means it was read. */
  seq: EventSeq,
  senderId: SenderId,
  senderDisplayName: Name,
  text: LongText,
  sentAt: DateTime,
  /**
   * The members chat decided should hear of this message: mentioned, or the other side of a direct
   * message. The sender is never among them.
   */
  notify: Type.Array(Type.Object({ userId: ChatId, reason: NotifyReason }), { maxItems: 10_000 }),
  idempotencyKey: Type.String({ minLength: 1, maxLength: 100 }),
  replyTo: Type.Optional(ChatId),
  mentions: Type.Array(ChatId),
  attachments: Type.Array(Attachment),
  /** Set when the text starts with a registered slash command: the bot relay sends it to the bot. */
  command: Type.Optional(
    Type.Object({
      commandId: ChatId,
      name: Type.String({ minLength: 1, maxLength: 32 }),
      botId: Type.String({ minLength: 1, maxLength: 40 }),
      args: Type.String({ maxLength: 2_000 }),
    }),
  ),
};
const messageEdited = {
  roomId: ChatId,
  seq: EventSeq,
  messageId: ChatId,
  text: LongText,
  by: SenderId,
  editedAt: DateTime,
};
const messageDeleted = { roomId: ChatId, seq: EventSeq, messageId: ChatId, by: SenderId };
const reactionChanged = {
  roomId: ChatId,
  seq: EventSeq,
  messageId: ChatId,
  userId: SenderId,
  emoji: Type.String({ minLength: 1, maxLength: 64 }),
};
const receiptsUpdated = { roomId: ChatId, userId: ChatId, deliveredUpTo: Seq, readUpTo: Seq };

const data = <P extends TProperties>(properties: P): TObject<P> => Type.Object(properties);

/** The `data` of every event chat appends, by type. */
export const chatEventData = {
  [chatEventTypes.roomCreated]: data(roomCreated),
  [chatEventTypes.memberJoined]: data(memberJoined),
  [chatEventTypes.memberLeft]: data(memberLeft),
  [chatEventTypes.memberRoleChanged]: data(memberRoleChanged),
  [chatEventTypes.roomRenamed]: data(roomRenamed),
  [chatEventTypes.roomTopicSet]: data(roomTopicSet),
  [chatEventTypes.roomArchived]: data(roomArchived),
  [chatEventTypes.messagePosted]: data(messagePosted),
  [chatEventTypes.messageEdited]: data(messageEdited),
  [chatEventTypes.messageDeleted]: data(messageDeleted),
  [chatEventTypes.reactionAdded]: data(reactionChanged),
  [chatEventTypes.reactionRemoved]: data(reactionChanged),
  [chatEventTypes.receiptsUpdated]: data(receiptsUpdated),
  [chatEventTypes.messageNotified]: data(messagePosted),
  [chatEventTypes.botCommandIssued]: data(messagePosted),
} as const;
export type ChatEventData = { [K in ChatEventType]: Static<(typeof chatEventData)[K]> };
/** One chat event as appended: its type and the data that type carries. */
export type ChatEvent = { [K in ChatEventType]: { type: K; data: ChatEventData[K] } }[ChatEventType];

export type RoomCreated = ChatEventData['chat.room_created'];
export type MemberJoined = ChatEventData['chat.member_joined'];
export type MemberLeft = ChatEventData['chat.member_left'];
export type MemberRoleChanged = ChatEventData['chat.member_role_changed'];
export type RoomRenamed = ChatEventData['chat.room_renamed'];
export type RoomTopicSet = ChatEventData['chat.room_topic_set'];
export type RoomArchived = ChatEventData['chat.room_archived'];
export type MessagePosted = ChatEventData['chat.message_posted'];
export type MessageEdited = ChatEventData['chat.message_edited'];
export type MessageDeleted = ChatEventData['chat.message_deleted'];
export type ReactionChanged = ChatEventData['chat.reaction_added'];
export type ReceiptsUpdated = ChatEventData['chat.receipts_updated'];
export type AttachmentRef = Static<typeof Attachment>;

/**
 * The integration events chat publishes on `veche.events` (routing key = type). A notifying message
 * goes out as `chat.message_posted` with the message's data; bot commands go to the bots' exchange.
 * The contract is what consumers may rely on: a message's public fields (its idempotency key, mentions,
 * attachments and command travel too, but are chat's own), and receipts with either mark.
 */
export const chatIntegrationEvents = {
  [chatEventTypes.roomCreated]: chatEventData[chatEventTypes.roomCreated],
  [chatEventTypes.memberJoined]: chatEventData[chatEventTypes.memberJoined],
  [chatEventTypes.memberLeft]: chatEventData[chatEventTypes.memberLeft],
  [chatEventTypes.messagePosted]: Type.Pick(chatEventData[chatEventTypes.messagePosted], [
    'roomId',
    'roomName',
    'roomKind',
    'messageId',
    'seq',
    'senderId',
    'senderDisplayName',
    'text',
    'sentAt',
    'notify',
  ]),
  [chatEventTypes.receiptsUpdated]: Type.Object({
    roomId: receiptsUpdated.roomId,
    userId: receiptsUpdated.userId,
    deliveredUpTo: Type.Optional(receiptsUpdated.deliveredUpTo),
    readUpTo: Type.Optional(receiptsUpdated.readUpTo),
  }),
} as const;

/** A realtime room event: the event's type without `chat.`, and exactly the fields a client reads. */
const realtime = <N extends string, P extends TProperties>(type: N, properties: P) =>
  Type.Object({ type: Type.Literal(type), ...properties }, { additionalProperties: false });

export const RoomRealtimeEvent = Type.Union([
  realtime('room_created', roomCreated),
  realtime('member_joined', memberJoined),
  realtime('member_left', memberLeft),
  realtime('member_role_changed', memberRoleChanged),
  realtime('room_renamed', roomRenamed),
  realtime('room_topic_set', roomTopicSet),
  realtime('room_archived', roomArchived),
  // Every member gets its own copy of each message, so bytes count: optional fields only when set.
  realtime('message_posted', {
    roomId: ChatId,
    seq: EventSeq,
    messageId: ChatId,
    senderId: SenderId,
    senderDisplayName: Name,
    text: LongText,
    sentAt: DateTime,
    replyTo: Type.Optional(ChatId),
    mentions: Type.Optional(Type.Array(ChatId)),
    attachments: Type.Optional(Type.Array(Attachment)),
  }),
  realtime('message_edited', messageEdited),
  realtime('message_deleted', messageDeleted),
  realtime('reaction_added', reactionChanged),
  realtime('reaction_removed', reactionChanged),
  realtime('receipts_updated', receiptsUpdated),
  /** Ephemeral, never in the log: a member started (or renewed) or stopped typing. */
  realtime('typing', {
    roomId: ChatId,
    userId: ChatId,
    typing: Type.Boolean(),
    expiresInMs: Type.Integer({ minimum: 0 }),
  }),
]);
export type RoomRealtimeEvent = Static<typeof RoomRealtimeEvent>;

/** What members receive on `veche.user.<userId>.rooms`: one room event, or several in one publication. */
export const RoomRealtimePublication = Type.Union([
  RoomRealtimeEvent,
  Type.Object(
    { type: Type.Literal('batch'), events: Type.Array(RoomRealtimeEvent, { minItems: 1 }) },
    { additionalProperties: false },
  ),
]);
export type RoomRealtimePublication = Static<typeof RoomRealtimePublication>;
