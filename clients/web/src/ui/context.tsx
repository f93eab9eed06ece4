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
import type { PresenceStatusCode } from '../api/types.ts';
import { createPresenceStore, type PresenceState, type PresenceStore } from '../presence/store.ts';
import { emitLogEvent, emitLogRejoin } from '../logs/live.ts';
import { startRealtime } from '../realtime/connection.ts';
import { onTokenChange } from '../session/refresh.ts';
import { createSessionStore, type SessionState, type SessionStore } from '../session/session.ts';

const SessionContext = createContext<SessionStore | undefined>(undefined);
const ChatContext = createContext<ChatStore | undefined>(undefined);
const PresenceContext = createContext<PresenceStore | undefined>(undefined);

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
  const presence = useMemo(() => createPresenceStore(userId, log), [userId]);
  useEffect(() => {
    void store.start();
    presence.start();
    const realtime = startRealtime({
      userId,
      ticket: () => session.freshToken(),
      streams: ['rooms', 'account', 'presence', 'logs'],
      onEvent: (stream, event) => {
        if (stream === 'logs') emitLogEvent(event);
        else if (stream === 'presence') presence.onEvent(event);
        else store.onEvent(stream, event);
      },
      onJoin: () => {
        void store.onJoin();
        void presence.onJoin();
        emitLogRejoin();
      },
      onStatus: (status) => store.setStatus(status),
      onAuthFailed: () => {
        void session.refresh();
      },
    });
    // A refreshed token opens a new WAMP session before the router ends the old one at its expiry.
    const stopFollowing = onTokenChange(session, () => realtime.restart());
    const flushWhenOnline = () => void store.flush();
    window.addEventListener('online', flushWhenOnline);
    return () => {
      stopFollowing();
      window.removeEventListener('online', flushWhenOnline);
      realtime.stop();
      store.stop();
      presence.stop();
    };
  }, [store, presence, userId, session]);
  return (
    <ChatContext value={store}>
      <PresenceContext value={presence}>{children}</PresenceContext>
    </ChatContext>
  );
}

export function usePresenceStore(): PresenceStore {
  const store = useContext(PresenceContext);
  if (!store) throw new Error('usePresenceStore outside ChatProvider');
  return store;
}

export function usePresence<T>(select: (state: PresenceState) => T): T {
  const store = usePresenceStore();
  return useSyncExternalStore(
    (listener) => store.subscribe(listener),
    () => select(store.get()),
  );
}

/**
 * The statuses of these people, followed live (the store subscribes to each once). Unknown until
 * the first answer: `undefined`.
 */
export function useStatuses(userIds: readonly string[]): Readonly<Record<string, PresenceStatusCode>> {
  const store = usePresenceStore();
  const key = userIds.join(',');
  useEffect(() => {
    if (key) store.watch(key.split(','));
  }, [store, key]);
  return usePresence((s) => s.statuses);
}

export function useStatus(userId: string | undefined): PresenceStatusCode | undefined {
  const statuses = useStatuses(userId ? [userId] : []);
  return userId ? statuses[userId] : undefined;
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
