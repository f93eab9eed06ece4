/** Display names seen anywhere (members, messages), as the room's components read them. */
import { useChat } from '../context.tsx';

export function useChatNames(): Record<string, string> {
  return useChat((s) => s.names);
}
