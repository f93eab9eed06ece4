/**
 * Who hears of a message, pure: the members its `@mentions` name (by id or by display name without
 * spaces) and, in a direct-message room, the other side. The sender is never among them.
 */
import type { MessagePosted } from './events.ts';
import { mentionTokens } from './rules.ts';

export interface MemberName {
  userId: string;
  displayName: string | null;
}

/** True when the text could mention someone, or the room notifies anyway: only then are members read. */
export const needsMembers = (text: string, roomKind: 'public' | 'private' | 'dm'): boolean =>
  roomKind === 'dm' || mentionTokens(text).length > 0;

export function notifyPolicy(message: {
  text: string;
  senderId: string;
  roomKind: 'public' | 'private' | 'dm';
  members: readonly MemberName[];
}): { mentions: string[]; notify: MessagePosted['notify'] } {
  const wanted = new Set(mentionTokens(message.text));
  const others = message.members.filter((m) => m.userId !== message.senderId);
  const mentions = others
    .filter(
      (m) =>
        wanted.has(m.userId.toLowerCase()) ||
        (m.displayName !== null && wanted.has(m.displayName.replace(/\s+/g, '').toLowerCase())),
    )
    .map((m) => m.userId);
  const notify: MessagePosted['notify'] = mentions.map((userId) => ({ userId, reason: 'mention' }));
  if (message.roomKind === 'dm')
    for (const m of others)
      if (!mentions.includes(m.userId)) notify.push({ userId: m.userId, reason: 'direct' });
  return { mentions, notify };
}
