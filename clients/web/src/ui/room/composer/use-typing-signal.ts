/** Tells the room the caller is typing: at most every 3 s while text is there, and once when it ends. */
import { useRef } from 'react';
import { useChatStore } from '../../context.tsx';

export function useTypingSignal(roomId: string) {
  const store = useChatStore();
  const sentAt = useRef(0);
  const stop = () => {
    if (!sentAt.current) return;
    sentAt.current = 0;
    store.typing(roomId, false);
  };
  return {
    /** After each change of the text. */
    changed(value: string) {
      const now = Date.now();
      if (value && now - sentAt.current > 3_000) {
        sentAt.current = now;
        store.typing(roomId, true);
      } else if (!value) {
        stop();
      }
    },
    stop,
    /** The message went out: the indicator stops whatever was sent before. */
    sent() {
      sentAt.current = 0;
      store.typing(roomId, false);
    },
  };
}
