/**
 * The chat's operations: each reads the read model, decides with the pure rules in `domain/`, and
 * appends through the room writer. The WAMP procedures, the bot-reply consumer and the tests call
 * these; none of them trusts anything but `actor` for identity. Each concern has its file: rooms and
 * members (`rooms.ts`), messages (`messages.ts`), receipts and sync (`receipts.ts`), search
 * (`search.ts`), over the shared reads and command runner of `room-access.ts`.
 */
import { createMessages } from './messages.ts';
import { createReceipts } from './receipts.ts';
import { createRoomAccess, type ChatDeps } from './room-access.ts';
import { createRooms } from './rooms.ts';
import { createSearch } from './search.ts';

export type { Actor, ChatDeps } from './room-access.ts';
export type { PostInput, PostResult } from './messages.ts';
export { dmRoomId } from './rooms.ts';

export function createChat(deps: ChatDeps) {
  const access = createRoomAccess(deps);
  const { idle: postsIdle, ...messages } = createMessages(access);
  const { idle: receiptsIdle, ...receipts } = createReceipts(access);
  return {
    /** The room aggregate's state as commands see it (from the read model). */
    roomState: access.roomState,
    ...createRooms(access),
    ...messages,
    ...receipts,
    ...createSearch(access),
    memberRole: access.memberRole,
    memberIds: access.memberIds,
    /** Waits for posts and receipts under way (graceful stop). */
    async idle() {
      await postsIdle();
      await receiptsIdle();
      await deps.writer.drain();
    },
  };
}

export type Chat = ReturnType<typeof createChat>;
