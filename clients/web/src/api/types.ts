/**
 * The shapes the client reads and sends, all taken from the route declarations in @veche/contracts
 * (the gateway's validators): nothing here is typed by hand except what only the client derives.
 */
import type { Static } from '@sinclair/typebox';
import type {
  ChatAttachment,
  ChatMember,
  ChatMessage,
  ChatRoom,
  Me as MeSchema,
  ReceiptMarks,
  SessionInfo,
  TokenPair,
  RoomRealtimeEvent,
  RoomRealtimePublication,
  NotifyPreference as NotifyPreferenceSchema,
  MyPresence as MyPresenceSchema,
  PresenceStatusCode,
  PrivacyRules as PrivacyRulesSchema,
  GroupPolicyView,
  GroupRule as GroupRuleSchema,
} from '@veche/contracts';

export type Tokens = TokenPair;
export type Me = Static<typeof MeSchema>;
export type Attachment = ChatAttachment;
export type Member = ChatMember;
export type Receipt = Static<typeof ReceiptMarks>;
export type Session = Static<typeof SessionInfo>;
export type NotifyPreference = Static<typeof NotifyPreferenceSchema>;
export type { PresenceStatusCode };
export type MyPresence = Static<typeof MyPresenceSchema>;
export type PrivacyRules = Static<typeof PrivacyRulesSchema>;
export type GroupPolicy = Static<typeof GroupPolicyView>;
export type GroupRule = Static<typeof GroupRuleSchema>;

/** A room as the client holds it: the chat's room plus the counters from /api/sync. */
export type Room = ChatRoom & { unread?: number; mentions?: number };

/** A message; `senderName` is filled in from realtime events when the sender is not a known member. */
export type Message = ChatMessage & { senderName?: string };

/** One realtime room event on `veche.user.<me>.rooms`: a closed union on `type`. */
export type RoomEvent = RoomRealtimeEvent;
/** One publication on that topic: an event, or several in one `batch`. */
export type RoomPublication = RoomRealtimePublication;
