/**
 * The signed-in client's state: rooms, their timelines, receipts, typing, members and the outbox, fed
 * by `/api` and by the realtime topic, with gap detection and catch-up. A plain store read through
 * `useSyncExternalStore`; every update replaces the objects it changes.
 */
import { account, chat } from '../api/endpoints.ts';
import { ApiError } from '../api/http.ts';
import { Value } from '@sinclair/typebox/value';
import { RoomRealtimePublication } from '@veche/contracts';
import type { Me, Member, Message, Receipt, Room, RoomEvent, RoomPublication } from '../api/types.ts';
import type { RealtimeStatus } from '../realtime/connection.ts';
import { loadOutbox, nextToSend, saveOutbox, updatePending, type PendingMessage } from './outbox.ts';
import { judgeSeq, mentions, mergeMessages, patchMessage } from './timeline.ts';

export interface RoomView {
  room: Room;
  messages: Message[];
  /** Highest seq held without a hole below it (0: nothing yet). */
  lastSeq: number;
  loaded: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
  receipts: Receipt[];
  typing: Record<string, number>;
  members: Member[] | undefined;
}

export interface ChatState {
  me: Me | undefined;
  status: RealtimeStatus;
  roomsLoaded: boolean;
  rooms: Record<string, RoomView>;
  outbox: PendingMessage[];
  /** Display names seen anywhere (members, messages). */
  names: Record<string, string>;
  activeRoomId: string | undefined;
}

const pageSize = 50;
const typingTtlMs = 6_000;

function emptyView(room: Room): RoomView {
  return {
    room,
    messages: [],
    lastSeq: 0,
    loaded: false,
    hasOlder: true,
    loadingOlder: false,
    receipts: [],
    typing: {},
    members: undefined,
  };
}

/** The message a `message_posted` realtime event describes. */
function fromPosted(e: Extract<RoomEvent, { type: 'message_posted' }>): Message {
  return {
    messageId: e.messageId,
    roomId: e.roomId,
    seq: e.seq,
    senderId: e.senderId,
    text: e.text,
    sentAt: e.sentAt,
    replyTo: e.replyTo ?? null,
    mentions: e.mentions ?? [],
    attachments: e.attachments ?? [],
    reactions: [],
    editedAt: null,
    deleted: false,
    senderName: e.senderDisplayName,
  };
}

function withReaction(message: Message, userId: string, emoji: string, on: boolean): Partial<Message> {
  const others = message.reactions.filter((r) => r.emoji !== emoji);
  const current = message.reactions.find((r) => r.emoji === emoji)?.userIds ?? [];
  const userIds = on ? [...new Set([...current, userId])] : current.filter((u) => u !== userId);
  return { reactions: userIds.length ? [...others, { emoji, userIds }] : others };
}

export function createChatStore(userId: string, log: (message: string, error?: unknown) => void) {
  let state: ChatState = {
    me: undefined,
    status: 'connecting',
    roomsLoaded: false,
    rooms: {},
    outbox: loadOutbox(localStorage, userId),
    names: {},
    activeRoomId: undefined,
  };
  const listeners = new Set<() => void>();
  const catchingUp = new Map<string, Promise<void>>();
  let flushing = false;

  function set(next: Partial<ChatState>) {
    state = { ...state, ...next };
    if ('outbox' in next) saveOutbox(localStorage, userId, state.outbox);
    listeners.forEach((l) => l());
  }

  function setRoom(roomId: string, update: (view: RoomView) => Partial<RoomView>) {
    const view = state.rooms[roomId];
    if (!view) return;
    set({ rooms: { ...state.rooms, [roomId]: { ...view, ...update(view) } } });
  }

  function learnNames(entries: { userId: string; name?: string | undefined }[]) {
    const fresh = entries.filter((e) => e.name && state.names[e.userId] !== e.name);
    if (fresh.length === 0) return;
    const names = { ...state.names };
    for (const e of fresh) names[e.userId] = e.name!;
    set({ names });
  }

  /** Adds messages; `live` ones count as unread (and mentions) unless the room is on screen. */
  function receive(roomId: string, incoming: Message[], opts: { live: boolean }) {
    const view = state.rooms[roomId];
    if (!view || incoming.length === 0) return;
    learnNames(incoming.map((m) => ({ userId: m.senderId, name: m.senderName })));
    const known = new Set(view.messages.map((m) => m.messageId));
    const messages = mergeMessages(view.messages, incoming);
    let { unread = 0, mentions: mentionCount = 0 } = view.room;
    if (opts.live) {
      for (const m of incoming) {
        if (m.senderId === userId || known.has(m.messageId)) continue;
        if (state.activeRoomId !== roomId || document.hidden) {
          unread += 1;
          if (state.me && (m.mentions.includes(userId) || mentions(m.text, state.me))) mentionCount += 1;
        }
      }
    }
    const newest = messages.at(-1)?.seq ?? 0;
    setRoom(roomId, () => ({
      messages,
      room: { ...view.room, unread, mentions: mentionCount, lastSeq: Math.max(view.room.lastSeq, newest) },
    }));
    void acknowledge(roomId);
  }

  /** The seq this device holds messages up to (for delivery and read marks). */
  function heldUpTo(view: RoomView): number {
    return Math.max(view.lastSeq, view.messages.at(-1)?.seq ?? 0);
  }

  /** Tells the room what this device holds and, when the room is on screen, what was read. */
  async function acknowledge(roomId: string) {
    const view = state.rooms[roomId];
    if (!view) return;
    const held = heldUpTo(view);
    if (held === 0) return;
    const mine = view.receipts.find((r) => r.userId === userId);
    const reading = state.activeRoomId === roomId && !document.hidden && document.hasFocus();
    const body: { deliveredUpTo?: number; readUpTo?: number } = {};
    if (!mine || mine.deliveredUpTo < held) body.deliveredUpTo = held;
    if (reading && (!mine || mine.readUpTo < held)) body.readUpTo = held;
    if (reading && (view.room.unread || view.room.mentions)) {
      setRoom(roomId, (v) => ({ room: { ...v.room, unread: 0, mentions: 0 } }));
    }
    if (body.deliveredUpTo === undefined && body.readUpTo === undefined) return;
    updateReceipt(roomId, {
      userId,
      deliveredUpTo: Math.max(mine?.deliveredUpTo ?? 0, body.deliveredUpTo ?? 0, body.readUpTo ?? 0),
      readUpTo: Math.max(mine?.readUpTo ?? 0, body.readUpTo ?? 0),
    });
    try {
      await chat.markReceipts(roomId, body);
    } catch (error) {
      log('receipts not sent', error);
    }
  }

  function updateReceipt(roomId: string, receipt: Receipt) {
    setRoom(roomId, (view) => {
      const others = view.receipts.filter((r) => r.userId !== receipt.userId);
      const old = view.receipts.find((r) => r.userId === receipt.userId);
      const merged = {
        userId: receipt.userId,
        deliveredUpTo: Math.max(old?.deliveredUpTo ?? 0, receipt.deliveredUpTo ?? 0),
        readUpTo: Math.max(old?.readUpTo ?? 0, receipt.readUpTo ?? 0),
      };
      return { receipts: [...others, merged] };
    });
  }

  /**
   * Fetches every message after the held seq, page by page: the reconnect and gap path. The page's
   * `lastSeq` (the room's latest event of any kind) then becomes the held seq.
   */
  function catchUp(roomId: string): Promise<void> {
    const running = catchingUp.get(roomId);
    if (running) return running.then(() => catchUp(roomId));
    const job = (async () => {
      try {
        for (;;) {
          const view = state.rooms[roomId];
          if (!view) return;
          const page = await chat.after(roomId, view.lastSeq, 100);
          receive(roomId, page.messages, { live: true });
          const top = Math.max(page.messages.at(-1)?.seq ?? 0, page.hasMore ? 0 : page.lastSeq);
          setRoom(roomId, (v) => ({ lastSeq: Math.max(v.lastSeq, top) }));
          if (!page.hasMore || page.messages.length === 0) return;
        }
      } catch (error) {
        log(`catch-up of ${roomId} failed`, error);
      } finally {
        catchingUp.delete(roomId);
      }
    })();
    catchingUp.set(roomId, job);
    return job;
  }

  async function loadRooms() {
    try {
      const [rooms, counters] = await Promise.all([
        chat.rooms(),
        chat.sync().catch((error: unknown) => {
          log('unread counters not loaded', error);
          return [];
        }),
      ]);
      const unread = new Map(counters.map((c) => [c.roomId, c]));
      const next: Record<string, RoomView> = {};
      for (const room of rooms) {
        const old = state.rooms[room.roomId];
        const count = unread.get(room.roomId);
        const merged: Room = {
          ...old?.room,
          ...room,
          ...(count ? { unread: count.unread, mentions: count.unreadMentions } : {}),
        };
        next[room.roomId] = old ? { ...old, room: merged } : emptyView(merged);
      }
      set({ rooms: next, roomsLoaded: true });
      // Direct messages are shown by the other person's name: their members name them.
      for (const room of rooms)
        if (room.kind === 'dm' && !next[room.roomId]?.members) void loadMembers(room.roomId);
    } catch (error) {
      log('rooms not loaded', error);
      set({ roomsLoaded: true });
    }
  }

  async function loadRoom(roomId: string) {
    const view = state.rooms[roomId];
    if (!view) return;
    if (view.loaded) {
      await catchUp(roomId);
      return;
    }
    void loadMembers(roomId);
    try {
      const [page, receipts] = await Promise.all([
        chat.history(roomId, undefined, pageSize),
        chat.receipts(roomId),
      ]);

      setRoom(roomId, (v) => ({
        messages: mergeMessages(v.messages, page.messages),
        lastSeq: Math.max(v.lastSeq, page.lastSeq),
        loaded: true,
        hasOlder: page.hasMore,
        receipts: mergeReceipts(v.receipts, receipts),
      }));
      await catchUp(roomId);
      void acknowledge(roomId);
    } catch (error) {
      log(`room ${roomId} not loaded`, error);
    }
  }

  /** Re-reads the newest page: edits, deletions and reactions made while this client was away. */
  async function refreshLatest(roomId: string) {
    try {
      const page = await chat.history(roomId, undefined, pageSize);
      setRoom(roomId, (v) => ({ messages: mergeMessages(v.messages, page.messages) }));
    } catch (error) {
      log(`latest page of ${roomId} not refreshed`, error);
    }
  }

  function mergeReceipts(held: readonly Receipt[], fresh: readonly Receipt[]): Receipt[] {
    const byUser = new Map(held.map((r) => [r.userId, r]));
    for (const r of fresh) {
      const old = byUser.get(r.userId);
      byUser.set(r.userId, {
        userId: r.userId,
        deliveredUpTo: Math.max(old?.deliveredUpTo ?? 0, r.deliveredUpTo),
        readUpTo: Math.max(old?.readUpTo ?? 0, r.readUpTo),
      });
    }
    return [...byUser.values()];
  }

  async function loadMembers(roomId: string) {
    try {
      const members = await chat.members(roomId);
      learnNames(members.map((m) => ({ userId: m.userId, name: m.displayName })));
      setRoom(roomId, (v) => ({
        members,
        receipts: mergeReceipts(v.receipts, members),
        room: { ...v.room, memberCount: members.length },
      }));
    } catch (error) {
      log(`members of ${roomId} not loaded`, error);
    }
  }

  async function loadOlder(roomId: string) {
    const view = state.rooms[roomId];
    if (!view || view.loadingOlder || !view.hasOlder) return;
    const oldest = view.messages[0]?.seq;
    setRoom(roomId, () => ({ loadingOlder: true }));
    try {
      const page = await chat.history(roomId, oldest, pageSize);

      setRoom(roomId, (v) => ({
        messages: mergeMessages(v.messages, page.messages),
        hasOlder: page.hasMore,
        loadingOlder: false,
      }));
    } catch (error) {
      log('older messages not loaded', error);
      setRoom(roomId, () => ({ loadingOlder: false }));
    }
  }

  /** Applies one event's effect on what is loaded (idempotent: a replay changes nothing). */
  function apply(event: RoomEvent) {
    const roomId = event.roomId;
    switch (event.type) {
      case 'message_posted': {
        const message = fromPosted(event);
        setRoom(roomId, (v) => {
          const typing = { ...v.typing };
          delete typing[message.senderId];
          return { typing };
        });
        receive(roomId, [message], { live: true });
        return;
      }
      case 'message_edited': {
        const { messageId, text, editedAt } = event;
        setRoom(roomId, (v) => ({ messages: patchMessage(v.messages, messageId, { text, editedAt }) }));
        return;
      }
      case 'message_deleted': {
        const { messageId } = event;
        setRoom(roomId, (v) => ({
          messages: patchMessage(v.messages, messageId, { deleted: true, text: '' }),
        }));
        return;
      }
      case 'reaction_added':
      case 'reaction_removed': {
        const { messageId, userId: who, emoji } = event;
        setRoom(roomId, (v) => {
          const message = v.messages.find((m) => m.messageId === messageId);
          if (!message) return {};
          return {
            messages: patchMessage(
              v.messages,
              messageId,
              withReaction(message, who, emoji, event.type === 'reaction_added'),
            ),
          };
        });
        return;
      }
      case 'member_joined':
      case 'member_left':
      case 'member_role_changed':
        if (event.userId === userId && event.type === 'member_left') void loadRooms();
        else void loadMembers(roomId);
        return;
      case 'room_renamed':
      case 'room_topic_set':
      case 'room_archived':
      case 'room_created':
        void loadRooms();
        return;
      case 'typing':
      case 'receipts_updated':
        return; // handled before the seq check: they take no seq
    }
  }

  function onRoomEvent(publication: RoomPublication) {
    if (publication.type === 'batch') {
      for (const inner of publication.events) onRoomEvent(inner);
      return;
    }
    const event = publication;
    const roomId = event.roomId;
    if (!state.rooms[roomId]) {
      // A room we were just added to (invitation, new DM): list it; it is read when opened.
      void loadRooms();
      return;
    }
    if (event.type === 'typing') {
      const who = event.userId;
      if (who === userId) return;
      const ttl = event.expiresInMs > 0 ? event.expiresInMs : typingTtlMs;
      setRoom(roomId, (v) => {
        const typing = { ...v.typing };
        if (event.typing) typing[who] = Date.now() + ttl;
        else delete typing[who];
        return { typing };
      });
      return;
    }
    if (event.type === 'receipts_updated') {
      const { userId: who, deliveredUpTo, readUpTo } = event;
      updateReceipt(roomId, { userId: who, deliveredUpTo, readUpTo });
      return;
    }
    const seq = event.seq;
    const view = state.rooms[roomId];
    if (!view.loaded) {
      // Not opened yet: keep the counters moving; the history is read on opening.
      apply(event);
      return;
    }
    const verdict = judgeSeq(view.lastSeq, seq);
    if (verdict.kind === 'duplicate') return;
    apply(event);
    if (verdict.kind === 'next') setRoom(roomId, (v) => ({ lastSeq: Math.max(v.lastSeq, seq) }));
    else void catchUp(roomId);
  }

  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      for (;;) {
        const pending = nextToSend(state.outbox);
        if (!pending) return;
        set({ outbox: updatePending(state.outbox, pending.idempotencyKey, { state: 'sending' }) });
        try {
          const result = await chat.post(pending.roomId, {
            text: pending.text,
            idempotencyKey: pending.idempotencyKey,
            ...(pending.replyTo ? { replyTo: pending.replyTo } : {}),
            ...(pending.attachments?.length
              ? { attachments: pending.attachments.map((a) => a.attachmentId) }
              : {}),
          });
          set({ outbox: updatePending(state.outbox, pending.idempotencyKey, undefined) });
          receive(
            pending.roomId,
            [
              {
                messageId: result.messageId,
                roomId: pending.roomId,
                seq: result.seq,
                senderId: userId,
                text: pending.text,
                sentAt: pending.createdAt,
                replyTo: pending.replyTo ?? null,
                mentions: [],
                attachments: pending.attachments ?? [],
                reactions: [],
                editedAt: null,
                deleted: false,
              },
            ],
            { live: false },
          );
        } catch (error) {
          if (error instanceof ApiError && error.retryable) {
            set({ outbox: updatePending(state.outbox, pending.idempotencyKey, { state: 'queued' }) });
            log('message kept for later', error);
            window.setTimeout(() => void flush(), 3_000);
            return;
          }
          set({
            outbox: updatePending(state.outbox, pending.idempotencyKey, {
              state: 'failed',
              error: error instanceof ApiError ? error.code : 'unknown',
            }),
          });
        }
      }
    } finally {
      flushing = false;
    }
  }

  // Typing indicators expire on their own when the "stopped" event is lost.
  const sweep = window.setInterval(() => {
    const now = Date.now();
    for (const [roomId, view] of Object.entries(state.rooms)) {
      const live = Object.entries(view.typing).filter(([, until]) => until > now);
      if (live.length !== Object.keys(view.typing).length)
        setRoom(roomId, () => ({ typing: Object.fromEntries(live) }));
    }
  }, 1_000);

  const onVisible = () => {
    if (!document.hidden && state.activeRoomId) void acknowledge(state.activeRoomId);
  };
  document.addEventListener('visibilitychange', onVisible);

  return {
    get: () => state,
    subscribe(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async start() {
      try {
        const me = await account.me();
        learnNames([{ userId: me.userId, name: me.displayName }]);
        set({ me });
      } catch (error) {
        log('profile not loaded', error);
      }
      await loadRooms();
    },
    stop() {
      window.clearInterval(sweep);
      document.removeEventListener('visibilitychange', onVisible);
    },
    setStatus(status: RealtimeStatus) {
      if (status !== state.status) set({ status });
    },
    setMe(me: Me) {
      set({ me });
    },
    /** After every (re)join: refresh the list, catch every loaded room up, send what waited. */
    async onJoin() {
      await loadRooms();
      await Promise.all(
        Object.values(state.rooms)
          .filter((v) => v.loaded)
          .map(async (v) => {
            await catchUp(v.room.roomId);
            await refreshLatest(v.room.roomId);
          }),
      );
      void flush();
    },
    onEvent(stream: string, event: Record<string, unknown>) {
      if (stream === 'rooms') {
        // Checked against the chat's contract: what does not match is dropped, never half-applied.
        if (Value.Check(RoomRealtimePublication, event)) onRoomEvent(event);
        else log('a realtime room event that is not in the contract was dropped', event['type']);
      }
      if (stream === 'account' && state.me) {
        const name = event['displayName'];
        if (typeof name === 'string') set({ me: { ...state.me, displayName: name } });
      }
    },
    async openRoom(roomId: string | undefined) {
      set({ activeRoomId: roomId });
      if (roomId) {
        if (!state.rooms[roomId]) await loadRooms();
        await loadRoom(roomId);
        void acknowledge(roomId);
      }
    },
    loadOlder,
    loadRooms,
    loadMembers,
    catchUp,
    send(
      roomId: string,
      text: string,
      extra: { replyTo?: string; attachments?: PendingMessage['attachments'] } = {},
    ) {
      const pending: PendingMessage = {
        idempotencyKey: crypto.randomUUID(),
        roomId,
        text,
        createdAt: new Date().toISOString(),
        state: 'queued',
        ...(extra.replyTo ? { replyTo: extra.replyTo } : {}),
        ...(extra.attachments?.length ? { attachments: extra.attachments } : {}),
      };
      set({ outbox: [...state.outbox, pending] });
      void flush();
    },
    retry(key: string) {
      set({ outbox: updatePending(state.outbox, key, { state: 'queued' }) });
      void flush();
    },
    discard(key: string) {
      set({ outbox: updatePending(state.outbox, key, undefined) });
    },
    flush,
    async edit(roomId: string, messageId: string, text: string) {
      await chat.edit(roomId, messageId, text);
      setRoom(roomId, (v) => ({
        messages: patchMessage(v.messages, messageId, { text, editedAt: new Date().toISOString() }),
      }));
    },
    async remove(roomId: string, messageId: string) {
      await chat.remove(roomId, messageId);
      setRoom(roomId, (v) => ({
        messages: patchMessage(v.messages, messageId, { deleted: true, text: '' }),
      }));
    },
    async react(roomId: string, messageId: string, emoji: string) {
      const message = state.rooms[roomId]?.messages.find((m) => m.messageId === messageId);
      if (!message) return;
      const mine = message.reactions.find((r) => r.emoji === emoji)?.userIds.includes(userId) ?? false;
      if (mine) await chat.removeReaction(roomId, messageId, emoji);
      else await chat.addReaction(roomId, messageId, emoji);
      setRoom(roomId, (v) => {
        const current = v.messages.find((m) => m.messageId === messageId);
        return current
          ? { messages: patchMessage(v.messages, messageId, withReaction(current, userId, emoji, !mine)) }
          : {};
      });
    },
    typing(roomId: string, typing: boolean) {
      chat.typing(roomId, typing).catch((error: unknown) => log('typing not sent', error));
    },
  };
}

export type ChatStore = ReturnType<typeof createChatStore>;
