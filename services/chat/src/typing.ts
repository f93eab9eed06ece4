/**
 * Typing indicators: ephemeral, never in the log. A start (or renewal) is published at once to the
 * room's other members, and ends by itself: the payload says when it expires, and this process
 * publishes the stop when no renewal came within the TTL. A lost stop costs nothing but a few seconds
 * of "typing…", since clients expire it too.
 */
import type { RoomRealtimeEvent } from '@veche/contracts';
import type { Logger } from '@veche/log';
import type { WampService } from '@veche/wamp';
import { isSafeUriComponent, userTopic } from '@veche/wamp-policy';

export interface Typing {
  set(roomId: string, userId: string, typing: boolean, members: readonly string[]): Promise<number>;
  stop(): void;
}

export function createTyping(options: {
  session: () => Pick<WampService, 'publish'> | undefined;
  ttlMs: number;
  log: Logger;
}): Typing {
  const timers = new Map<string, NodeJS.Timeout>();
  const log = options.log.child({ component: 'typing' });

  const publish = async (roomId: string, userId: string, typing: boolean, members: readonly string[]) => {
    const session = options.session();
    if (!session) return;
    const payload: RoomRealtimeEvent = {
      type: 'typing',
      roomId,
      userId,
      typing,
      expiresInMs: typing ? options.ttlMs : 0,
    };
    await Promise.all(
      members
        .filter((member) => member !== userId && isSafeUriComponent(member))
        .map((member) =>
          session.publish(userTopic(member, 'rooms'), payload).catch((error: unknown) => {
            log.warn({ err: error, roomId }, 'typing publish failed');
          }),
        ),
    );
  };

  return {
    async set(roomId, userId, typing, members) {
      const key = `${roomId}\u0000${userId}`;
      const previous = timers.get(key);
      if (previous) clearTimeout(previous);
      timers.delete(key);
      if (typing) {
        const timer = setTimeout(() => {
          timers.delete(key);
          void publish(roomId, userId, false, members);
        }, options.ttlMs);
        timer.unref();
        timers.set(key, timer);
      }
      await publish(roomId, userId, typing, members);
      return typing ? options.ttlMs : 0;
    },
    stop() {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
    },
  };
}
