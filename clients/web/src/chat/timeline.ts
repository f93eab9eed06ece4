/**
 * A room's messages in `seq` order, and the rule that finds what is missing. Pure: no I/O, no DOM.
 */
import type { Message, Receipt } from '../api/types.ts';

/** Merges messages into an ascending timeline; a message seen again (by id) is replaced, not doubled. */
export function mergeMessages(timeline: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return timeline as Message[];
  const byId = new Map<string, Message>();
  for (const m of timeline) byId.set(m.messageId, m);
  for (const m of incoming) byId.set(m.messageId, { ...byId.get(m.messageId), ...m });
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}

/** Applies a partial update (edit, delete, reaction) to the message it names, if loaded. */
export function patchMessage(
  timeline: readonly Message[],
  messageId: string,
  patch: Partial<Message>,
): Message[] {
  let changed = false;
  const next = timeline.map((m) => {
    if (m.messageId !== messageId) return m;
    changed = true;
    return { ...m, ...patch };
  });
  return changed ? next : (timeline as Message[]);
}

export type SeqVerdict =
  /** Already seen: ignore. */
  | { kind: 'duplicate' }
  /** The next one: apply and advance. */
  | { kind: 'next' }
  /** Something between `after` and this event was missed: fetch it. */
  | { kind: 'gap'; after: number };

/** What to do with a realtime event carrying `seq`, given the highest contiguous seq held. */
export function judgeSeq(lastSeq: number, seq: number): SeqVerdict {
  if (seq <= lastSeq) return { kind: 'duplicate' };
  if (seq === lastSeq + 1) return { kind: 'next' };
  return { kind: 'gap', after: lastSeq };
}

export type Tick = 'sent' | 'delivered' | 'read';

/**
 * The tick for my message `seq`: read when every other member has read it, delivered when every
 * other member's device has it; `readBy` names who has read it so far.
 */
export function tickFor(
  seq: number,
  myId: string,
  receipts: readonly Receipt[],
): { tick: Tick; readBy: string[] } {
  const others = receipts.filter((r) => r.userId !== myId);
  const readBy = others.filter((r) => r.readUpTo >= seq).map((r) => r.userId);
  if (others.length === 0) return { tick: 'sent', readBy };
  if (readBy.length === others.length) return { tick: 'read', readBy };
  if (others.every((r) => Math.max(r.deliveredUpTo, r.readUpTo) >= seq)) return { tick: 'delivered', readBy };
  return { tick: 'sent', readBy };
}

/** Whether `text` mentions the user by display name (`@Name`) or id. */
export function mentions(text: string, user: { userId: string; displayName?: string | undefined }): boolean {
  const lower = text.toLowerCase();
  if (lower.includes(`@${user.userId.toLowerCase()}`)) return true;
  const name = user.displayName?.trim().toLowerCase();
  return Boolean(name && lower.includes(`@${name}`));
}

/** The mention being typed at the caret (`@al|`), for completion. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | undefined {
  const before = text.slice(0, caret);
  const match = /(^|\s)@([\p{L}\p{N}_.-]{0,30})$/u.exec(before);
  if (!match) return undefined;
  return { start: caret - match[2]!.length - 1, query: match[2]! };
}
