import type { Message } from '../../api/types.ts';

/** Lets a message's Reply/Edit buttons reach the composer of the same room. */
export const composerBus = {
  reply: (_message: Message) => {},
  edit: (_message: Message) => {},
};
