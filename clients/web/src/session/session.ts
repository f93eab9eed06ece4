/**
 * The signed-in session: tokens kept in localStorage, the access token refreshed a minute before it
 * expires (or at 80 % of a short lifetime), one refresh at a time across the origin's tabs (which share
 * the tokens and follow each other's refreshes and log-outs), and the end of the session when the
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
    timer = window.setTimeout(() => void scheduledRefresh(), lifetime <= 0 ? 0 : refreshDelay(lifetime));
  }

  function fromTokens(tokens: Tokens): SessionState {
    return {
      userId: tokens.userId,
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: Date.now() + tokens.expiresIn * 1000,
    };
  }

  /** Takes what another tab stored (a refresh it made, or its log-out), without writing it back. */
  function adopt(next: SessionState | undefined) {
    state = next;
    schedule();
    emit();
  }

  /** What another tab stored since this one last read or wrote it, if anything changed. */
  function storedElsewhere(): SessionState | undefined | 'same' {
    const stored = load();
    return stored?.refreshToken === state?.refreshToken ? 'same' : stored;
  }

  async function refreshNow(): Promise<boolean> {
    const elsewhere = storedElsewhere();
    if (elsewhere !== 'same') {
      adopt(elsewhere);
      return elsewhere !== undefined;
    }
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
    }
  }

  /**
   * One refresh at a time, across every tab of this origin (they share the stored tokens): a tab takes
   * the lock, and one that finds another already refreshed takes its tokens instead of spending the
   * same refresh token a second time (which the gateway would count as a reuse).
   */
  function refresh(): Promise<boolean> {
    if (!state) return Promise.resolve(false);
    inflight ??= (async () => {
      try {
        return await (navigator.locks
          ? navigator.locks.request('veche.session.refresh', refreshNow)
          : refreshNow());
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  /**
   * The timer's refresh. Every tab's timer comes due at about the same moment (they adopt each
   * other's tokens); a tab that finds another already refreshing leaves it that one, and takes its
   * tokens when they are stored (the storage event), rather than queueing behind it: another tab's
   * localStorage write reaches this one a moment after its lock is released, so a queued tab could
   * still read the old tokens and spend them again. It looks again shortly, in case that refresh fails.
   */
  async function scheduledRefresh(): Promise<void> {
    if (!state || inflight || !navigator.locks) {
      await refresh();
      return;
    }
    const ran = await navigator.locks.request(
      'veche.session.refresh',
      { ifAvailable: true },
      async (lock) => {
        if (!lock) return false;
        inflight = refreshNow();
        try {
          await inflight;
        } finally {
          inflight = undefined;
        }
        return true;
      },
    );
    if (!ran) {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void scheduledRefresh(), 2_000);
    }
  }

  // Another tab refreshed, logged in or logged out.
  window.addEventListener('storage', (event) => {
    if (event.key !== storageKey && event.key !== null) return;
    const elsewhere = storedElsewhere();
    if (elsewhere !== 'same') adopt(elsewhere);
  });

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
