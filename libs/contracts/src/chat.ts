/**
 * The chat service's public routes: rooms, members, messages, receipts, typing, sync, search, bot
 * commands (WAMP procedures `veche.chat.*`) and attachments (streamed to the chat's internal HTTP).
 * Realtime room events reach each member on `veche.user.<userId>.rooms`; their shapes are `RoomRealtimeEvent` (chat-events.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineRoutes } from './routes.ts';
import { Text } from './text.ts';

/** User, room, message and attachment ids: one URI component, so they are safe in topics and paths. */
export const ChatId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
/** Senders are users, or bots (`bot:<name>`). */
export const SenderId = Type.String({ minLength: 1, maxLength: 64, pattern: '^(bot:)?[A-Za-z0-9_-]+$' });
export const RoomName = Text({ minLength: 1, maxLength: 100, nonBlank: true });
export const RoomTopic = Text({ maxLength: 500 });
export const MessageText = Text({ minLength: 1, maxLength: 10_000, nonBlank: true });
export const IdempotencyKey = Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21-\\x7e]+$' });
export const Emoji = Text({ minLength: 1, maxLength: 32, noSpace: true });
export const Seq = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });
export const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);
export const RoomKind = Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('dm')]);
export const MemberRole = Type.Union([
  Type.Literal('owner'),
  Type.Literal('moderator'),
  Type.Literal('member'),
]);
const DateTime = Type.String({ format: 'date-time' });

const RoomParams = Type.Object({ roomId: ChatId }, { additionalProperties: false });
const MessageParams = Type.Object({ roomId: ChatId, messageId: ChatId }, { additionalProperties: false });
const MemberParams = Type.Object({ roomId: ChatId, userId: ChatId }, { additionalProperties: false });
const Empty = Type.Object({}, { additionalProperties: false });
/** Room commands answer with the `seq` of the event they appended (absent when nothing changed). */
const Applied = Type.Object({ ok: Type.Literal(true), seq: Type.Optional(Seq) });

export const Room = Type.Object({
  roomId: ChatId,
  kind: RoomKind,
  name: Type.String(),
  topic: Type.String(),
  archived: Type.Boolean(),
  createdBy: ChatId,
  createdAt: DateTime,
  lastSeq: Seq,
  memberCount: Type.Integer({ minimum: 0 }),
  /** The caller's role, when a member. */
  myRole: Type.Optional(MemberRole),
});

export const Member = Type.Object({
  userId: ChatId,
  displayName: Type.String(),
  role: MemberRole,
  joinedAt: DateTime,
  /** The presence-router shows the member as ENABLE (1) to the caller (`isOnlineStatus`); false when it cannot say. */
  online: Type.Boolean(),
  deliveredUpTo: Seq,
  readUpTo: Seq,
});

export const Attachment = Type.Object({
  attachmentId: ChatId,
  filename: Type.String(),
  contentType: Type.String(),
  size: Type.Integer({ minimum: 0 }),
  hasThumbnail: Type.Boolean(),
});

export const Message = Type.Object({
  messageId: ChatId,
  roomId: ChatId,
  seq: Seq,
  senderId: SenderId,
  text: Type.String(),
  sentAt: DateTime,
  replyTo: Type.Union([ChatId, Type.Null()]),
  mentions: Type.Array(ChatId),
  attachments: Type.Array(Attachment),
  reactions: Type.Array(Type.Object({ emoji: Type.String(), userIds: Type.Array(SenderId) })),
  editedAt: Type.Union([DateTime, Type.Null()]),
  deleted: Type.Boolean(),
});

export const MessagePage = Type.Object({
  messages: Type.Array(Message),
  /** The room's latest seq (room events of every kind, not only messages). */
  lastSeq: Seq,
  /** More messages exist beyond this page in the direction read. */
  hasMore: Type.Boolean(),
});

export const ReceiptMarks = Type.Object({ userId: ChatId, deliveredUpTo: Seq, readUpTo: Seq });

export type ChatRoom = Static<typeof Room>;
export type ChatMember = Static<typeof Member>;
export type ChatMessage = Static<typeof Message>;
export type ChatAttachment = Static<typeof Attachment>;

/** Inputs, one schema per route part; the procedure receives params + querystring + body merged. */
export const chatInputs = {
  createRoom: Type.Object(
    { name: RoomName, visibility: Visibility, topic: Type.Optional(RoomTopic) },
    { additionalProperties: false },
  ),
  listRooms: Type.Object(
    {
      scope: Type.Optional(Type.Union([Type.Literal('mine'), Type.Literal('public')])),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    },
    { additionalProperties: false },
  ),
  invite: Type.Object({ userId: ChatId }, { additionalProperties: false }),
  setRole: Type.Object({ role: MemberRole }, { additionalProperties: false }),
  rename: Type.Object({ name: RoomName }, { additionalProperties: false }),
  setTopic: Type.Object({ topic: RoomTopic }, { additionalProperties: false }),
  openDm: Type.Object({ userId: ChatId }, { additionalProperties: false }),
  postMessage: Type.Object(
    {
      text: MessageText,
      idempotencyKey: IdempotencyKey,
      replyTo: Type.Optional(ChatId),
      attachments: Type.Optional(Type.Array(ChatId, { maxItems: 10, uniqueItems: true })),
    },
    { additionalProperties: false },
  ),
  listMessages: Type.Object(
    {
      before: Type.Optional(Seq),
      after: Type.Optional(Seq),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    },
    { additionalProperties: false },
  ),
  editMessage: Type.Object({ text: MessageText }, { additionalProperties: false }),
  reaction: Type.Object({ emoji: Emoji }, { additionalProperties: false }),
  receipts: Type.Object(
    { deliveredUpTo: Type.Optional(Seq), readUpTo: Type.Optional(Seq) },
    { additionalProperties: false },
  ),
  typing: Type.Object({ typing: Type.Boolean() }, { additionalProperties: false }),
  search: Type.Object(
    {
      q: Text({ minLength: 1, maxLength: 200, nonBlank: true }),
      roomId: Type.Optional(ChatId),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
    },
    { additionalProperties: false },
  ),
  switchRoom: Type.Object(
    { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) },
    { additionalProperties: false },
  ),
} as const;

const tags = ['chat'];

export const chatRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms',
    auth: 'user',
    summary: 'Create a public or private room; the creator is its owner',
    tags,
    procedure: 'veche.chat.createRoom',
    body: chatInputs.createRoom,
    response: Type.Object({ roomId: ChatId, seq: Seq }),
    status: 201,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms',
    auth: 'user',
    summary: "The caller's rooms (default) or the public rooms anyone may join",
    tags,
    procedure: 'veche.chat.listRooms',
    querystring: chatInputs.listRooms,
    response: Type.Object({ rooms: Type.Array(Room) }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms/:roomId',
    auth: 'user',
    summary: 'One room (members, and anyone for a public room)',
    tags,
    procedure: 'veche.chat.getRoom',
    params: RoomParams,
    response: Room,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/join',
    auth: 'user',
    summary: 'Join a public room',
    tags,
    procedure: 'veche.chat.joinRoom',
    params: RoomParams,
    body: Type.Optional(Empty),
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/leave',
    auth: 'user',
    summary: 'Leave a room (an owner hands the room to someone first, unless alone)',
    tags,
    procedure: 'veche.chat.leaveRoom',
    params: RoomParams,
    body: Type.Optional(Empty),
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/invite',
    auth: 'user',
    summary: 'Add a user to the room (any member of a public room, moderators of a private one)',
    tags,
    procedure: 'veche.chat.inviteMember',
    params: RoomParams,
    body: chatInputs.invite,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/members/:userId/kick',
    auth: 'user',
    summary: 'Remove a member (moderators and owners; never an owner)',
    tags,
    procedure: 'veche.chat.kickMember',
    params: MemberParams,
    body: Type.Optional(Empty),
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/rooms/:roomId/members/:userId/role',
    auth: 'user',
    summary: "Change a member's role (owners; moderators may make members moderators)",
    tags,
    procedure: 'veche.chat.setMemberRole',
    params: MemberParams,
    body: chatInputs.setRole,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/rooms/:roomId/name',
    auth: 'user',
    summary: 'Rename a room (moderators and owners)',
    tags,
    procedure: 'veche.chat.renameRoom',
    params: RoomParams,
    body: chatInputs.rename,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/rooms/:roomId/topic',
    auth: 'user',
    summary: "Set a room's topic (moderators and owners)",
    tags,
    procedure: 'veche.chat.setRoomTopic',
    params: RoomParams,
    body: chatInputs.setTopic,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/archive',
    auth: 'user',
    summary: 'Archive a room: read-only from then on (owners)',
    tags,
    procedure: 'veche.chat.archiveRoom',
    params: RoomParams,
    body: Type.Optional(Empty),
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms/:roomId/members',
    auth: 'user',
    summary: 'Members with role, online state and receipt marks',
    tags,
    procedure: 'veche.chat.listMembers',
    params: RoomParams,
    response: Type.Object({ members: Type.Array(Member) }),
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/dms',
    auth: 'user',
    summary: 'The direct-message room with a user (one per pair, created on first use)',
    tags,
    procedure: 'veche.chat.openDirectRoom',
    body: chatInputs.openDm,
    response: Type.Object({ roomId: ChatId, created: Type.Boolean() }),
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/messages',
    auth: 'user',
    summary: 'Post a message; a retry with the same idempotencyKey returns the first post',
    tags,
    procedure: 'veche.chat.postMessage',
    params: RoomParams,
    body: chatInputs.postMessage,
    response: Type.Object({ messageId: ChatId, seq: Seq, duplicate: Type.Boolean() }),
    status: 201,
    rateLimit: { max: 600, timeWindowMs: 60_000, key: 'user' },
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms/:roomId/messages',
    auth: 'user',
    summary: 'History by seq: newest first, or ascending from `after` (catch-up)',
    tags,
    procedure: 'veche.chat.listMessages',
    params: RoomParams,
    querystring: chatInputs.listMessages,
    response: MessagePage,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/rooms/:roomId/messages/:messageId',
    auth: 'user',
    summary: "Edit one's own message",
    tags,
    procedure: 'veche.chat.editMessage',
    params: MessageParams,
    body: chatInputs.editMessage,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/rooms/:roomId/messages/:messageId',
    auth: 'user',
    summary: "Delete one's own message (moderators: any)",
    tags,
    procedure: 'veche.chat.deleteMessage',
    params: MessageParams,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/messages/:messageId/reactions',
    auth: 'user',
    summary: 'React with an emoji',
    tags,
    procedure: 'veche.chat.addReaction',
    params: MessageParams,
    body: chatInputs.reaction,
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/rooms/:roomId/messages/:messageId/reactions/:emoji',
    auth: 'user',
    summary: "Take one's reaction back",
    tags,
    procedure: 'veche.chat.removeReaction',
    params: Type.Object({ roomId: ChatId, messageId: ChatId, emoji: Emoji }, { additionalProperties: false }),
    response: Applied,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms/:roomId/messages/:messageId/receipts',
    auth: 'user',
    summary: 'Which members have one message delivered and read',
    tags,
    procedure: 'veche.chat.getMessageReceipts',
    params: MessageParams,
    response: Type.Object({ seq: Seq, deliveredTo: Type.Array(ChatId), readBy: Type.Array(ChatId) }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms/:roomId/switch',
    auth: 'user',
    summary: 'Switch room: the room, its members and its latest page in one call',
    tags,
    procedure: 'veche.chat.switchRoom',
    params: RoomParams,
    querystring: chatInputs.switchRoom,
    response: Type.Object({ room: Room, members: Type.Array(Member), page: MessagePage }),
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/receipts',
    auth: 'user',
    summary: "Move the caller's delivery and read marks forward (never back)",
    tags,
    procedure: 'veche.chat.postReceipts',
    params: RoomParams,
    body: chatInputs.receipts,
    response: Type.Object({ deliveredUpTo: Seq, readUpTo: Seq }),
    rateLimit: { max: 1200, timeWindowMs: 60_000, key: 'user' },
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/rooms/:roomId/receipts',
    auth: 'user',
    summary: "Every member's delivery and read marks",
    tags,
    procedure: 'veche.chat.getReceipts',
    params: RoomParams,
    response: Type.Object({ receipts: Type.Array(ReceiptMarks) }),
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/rooms/:roomId/typing',
    auth: 'user',
    summary: 'Start (renew) or stop the typing indicator; it expires after a few seconds',
    tags,
    procedure: 'veche.chat.setTyping',
    params: RoomParams,
    body: chatInputs.typing,
    response: Type.Object({ ok: Type.Literal(true), expiresInMs: Type.Integer() }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/sync',
    auth: 'user',
    summary: "For each of the caller's rooms: latest seq, unread count, unread mentions, own marks",
    tags,
    procedure: 'veche.chat.sync',
    response: Type.Object({
      rooms: Type.Array(
        Type.Object({
          roomId: ChatId,
          kind: RoomKind,
          name: Type.String(),
          lastSeq: Seq,
          unread: Type.Integer({ minimum: 0 }),
          unreadMentions: Type.Integer({ minimum: 0 }),
          deliveredUpTo: Seq,
          readUpTo: Seq,
        }),
      ),
    }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/search',
    auth: 'user',
    summary: "Full-text search in the caller's rooms, ranked",
    tags,
    procedure: 'veche.chat.search',
    querystring: chatInputs.search,
    response: Type.Object({
      results: Type.Array(Type.Object({ message: Message, rank: Type.Number() })),
      hasMore: Type.Boolean(),
    }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/bots/commands',
    auth: 'user',
    summary: 'The slash commands registered bots answer',
    tags,
    procedure: 'veche.chat.listCommands',
    response: Type.Object({
      commands: Type.Array(
        Type.Object({ name: Type.String(), botId: Type.String(), description: Type.String() }),
      ),
    }),
  },
  {
    kind: 'stream',
    method: 'POST',
    url: '/rooms/:roomId/attachments',
    auth: 'user',
    summary: 'Upload a file (multipart field `file`) to attach to a message in this room',
    tags,
    service: 'chat',
    params: RoomParams,
    bodyLimit: 26_214_400,
    consumes: ['multipart/form-data'],
    response: Attachment,
  },
  {
    kind: 'stream',
    method: 'GET',
    url: '/rooms/:roomId/attachments/:attachmentId',
    auth: 'user',
    summary: 'Download an attachment (members of its room only)',
    tags,
    service: 'chat',
    params: Type.Object({ roomId: ChatId, attachmentId: ChatId }, { additionalProperties: false }),
    produces: ['application/octet-stream'],
  },
  {
    kind: 'stream',
    method: 'GET',
    url: '/rooms/:roomId/attachments/:attachmentId/thumbnail',
    auth: 'user',
    summary: "An image attachment's thumbnail (WebP, at most 320 px)",
    tags,
    service: 'chat',
    params: Type.Object({ roomId: ChatId, attachmentId: ChatId }, { additionalProperties: false }),
    produces: ['image/webp'],
  },
] as const);
