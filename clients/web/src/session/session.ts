/**
 * The signed-in session: tokens kept in localStorage, the access token refreshed a minute before it
 * expires (or at 80 % of a short lifetime), one refresh at a time, and the end of the session when the
 * refresh token is refused.
 */
import { auth } from '../api/endpoints.ts';
import { ApiError, useTokenSource } from '../api/http.ts';
import type { Tokens } from '../api/types.ts';
import { describeDevice } from './device.ts';
import { negotiateTwice } from './kerberos.ts';
import { refreshDelay } from './refresh.ts';

export interface SessionState {
  userId: string;
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const storageKey = 'veche.session';

function load(): SessionState | undefined {
  try {
    const value = JSON.parse(localStorage.getItem(storageKey) ?? 'null') as SessionState | null;
    return value && typeof value.accessToken === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

type Listener = () => void;

export function createSessionStore() {
  let state = load();
  let timer: number | undefined;
  let inflight: Promise<boolean> | undefined;
  const listeners = new Set<Listener>();

  const emit = () => listeners.forEach((l) => l());

  function set(next: SessionState | undefined) {
    state = next;
    if (next) localStorage.setItem(storageKey, JSON.stringify(next));
    else localStorage.removeItem(storageKey);
    schedule();
    emit();
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!state) return;
    const lifetime = state.expiresAt - Date.now();
    timer = window.setTimeout(() => void refresh(), lifetime <= 0 ? 0 : refreshDelay(lifetime));
  }

  function fromTokens(tokens: Tokens): SessionState {
    return {
      userId: tokens.userId,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: Date.now() + tokens.expiresIn * 1000,
    };
  }

  function refresh(): Promise<boolean> {
    if (!state) return Promise.resolve(false);
    inflight ??= (async () => {
      const current = state;
      if (!current) return false;
      try {
        set(fromTokens(await auth.refresh(current.refreshToken)));
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.retryable) {
          // Offline or the gateway restarting: keep the session and try again soon.
          window.clearTimeout(timer);
          timer = window.setTimeout(() => void refresh(), 5_000);
          return false;
        }
        set(undefined);
        return false;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  const store = {
    get: () => state,
    subscribe(listener: Listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async login(email: string, password: string) {
      set(fromTokens(await auth.login({ email, password, device: describeDevice(navigator.userAgent) })));
    },
    /** Kerberos (SPNEGO done by the browser): the same tokens as a password log-in. */
    async loginWithKerberos() {
      set(fromTokens(await negotiateTwice(() => auth.negotiate())));
    },
    async logout() {
      const refreshToken = state?.refreshToken;
      try {
        if (refreshToken) await auth.logout();
      } catch {
        // The session ends locally whatever the server says.
      }
      set(undefined);
    },
    /** Drops the session without calling the server (its tokens are already refused). */
    end: () => set(undefined),
    refresh,
    /** A token good for at least a few seconds, refreshing first when needed (for the WAMP ticket). */
    async freshToken(): Promise<string | undefined> {
      if (state && state.expiresAt - Date.now() < 10_000) await refresh();
      return state?.accessToken;
    },
  };
  useTokenSource({ accessToken: () => state?.accessToken, refresh });
  schedule();
  return store;
}

export type SessionStore = ReturnType<typeof createSessionStore>;
