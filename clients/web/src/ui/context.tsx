/** The session and chat stores, given to every screen through React context. */
import {
  createContext,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import { createChatStore, type ChatState, type ChatStore } from '../chat/store.ts';
import { startRealtime } from '../realtime/connection.ts';
import { createSessionStore, type SessionState, type SessionStore } from '../session/session.ts';

const SessionContext = createContext<SessionStore | undefined>(undefined);
const ChatContext = createContext<ChatStore | undefined>(undefined);

/** Browser-side diagnostics: kept in the console (there is no log server for browsers). */
function log(message: string, error?: unknown) {
  // eslint-disable-next-line no-console -- the browser's console is the client's log
  console.warn(`[veche] ${message}`, error ?? '');
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [store] = useState(createSessionStore);
  return <SessionContext value={store}>{children}</SessionContext>;
}

export function useSessionStore(): SessionStore {
  const store = useContext(SessionContext);
  if (!store) throw new Error('useSessionStore outside SessionProvider');
  return store;
}

export function useSession(): SessionState | undefined {
  const store = useSessionStore();
  return useSyncExternalStore(
    (listener) => store.subscribe(listener),
    () => store.get(),
  );
}

/** Starts the chat store and the realtime connection for the signed-in user; stops them on log-out. */
export function ChatProvider({ userId, children }: { userId: string; children: ReactNode }) {
  const session = useSessionStore();
  const store = useMemo(() => createChatStore(userId, log), [userId]);
  useEffect(() => {
    void store.start();
    const realtime = startRealtime({
      userId,
      ticket: () => session.freshToken(),
      onEvent: (stream, event) => store.onEvent(stream, event),
      onJoin: () => void store.onJoin(),
      onStatus: (status) => store.setStatus(status),
      onAuthFailed: () => {
        void session.refresh();
      },
    });
    const flushWhenOnline = () => void store.flush();
    window.addEventListener('online', flushWhenOnline);
    return () => {
      window.removeEventListener('online', flushWhenOnline);
      realtime.stop();
      store.stop();
    };
  }, [store, userId, session]);
  return <ChatContext value={store}>{children}</ChatContext>;
}

export function useChatStore(): ChatStore {
  const store = useContext(ChatContext);
  if (!store) throw new Error('useChatStore outside ChatProvider');
  return store;
}

export function useChat<T>(select: (state: ChatState) => T): T {
  const store = useChatStore();
  return useSyncExternalStore(
    (listener) => store.subscribe(listener),
    () => select(store.get()),
  );
}
