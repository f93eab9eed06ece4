/**
 * The statuses the signed-in client shows, from the presence-router: each component that shows a
 * person's status asks for it (`watch`), the store subscribes to those people in batches through
 * `/api/presence/subscriptions` (the answer carries their current statuses) and then follows
 * `veche.user.<me>.presence`. After every (re)join of the WAMP session it reads every watched status
 * again, so a change missed while disconnected is not kept. It also says when the person is active
 * (input, at most once a minute), which keeps the automatic status from turning to away.
 */
import { presence } from '../api/endpoints.ts';
import type { MyPresence, PresenceStatusCode } from '../api/types.ts';
import { readPresenceEvent } from './statuses.ts';

export interface PresenceState {
  statuses: Readonly<Record<string, PresenceStatusCode>>;
  /** The signed-in person's own presence: what others see, and what was chosen (null: automatic). */
  mine: MyPresence | undefined;
}

const batchDelayMs = 50;
const batchSize = 1000;
const activityEveryMs = 60_000;

export function createPresenceStore(userId: string, log: (message: string, error?: unknown) => void) {
  let state: PresenceState = { statuses: {}, mine: undefined };
  const listeners = new Set<() => void>();
  const watched = new Set<string>();
  const waiting = new Set<string>();
  let batchTimer: number | undefined;
  let lastActivity = 0;
  let stopped = false;

  function set(next: Partial<PresenceState>) {
    state = { ...state, ...next };
    listeners.forEach((l) => l());
  }

  function learn(entries: readonly { userId: string; status: PresenceStatusCode }[]) {
    const changed = entries.filter((e) => state.statuses[e.userId] !== e.status);
    if (changed.length === 0) return;
    const statuses = { ...state.statuses };
    for (const e of changed) statuses[e.userId] = e.status;
    const own = changed.find((e) => e.userId === userId);
    set({ statuses, ...(own && state.mine ? { mine: { ...state.mine, status: own.status } } : {}) });
  }

  async function subscribe(userIds: string[]) {
    for (let i = 0; i < userIds.length; i += batchSize) {
      const batch = userIds.slice(i, i + batchSize);
      try {
        learn(await presence.watch(batch));
      } catch (error) {
        // Not fatal: they stay watched, and the next join asks again.
        log('presence subscription failed', error);
      }
    }
  }

  function flushWaiting() {
    batchTimer = undefined;
    if (stopped) return;
    const batch = [...waiting];
    waiting.clear();
    if (batch.length > 0) void subscribe(batch);
  }

  async function loadMine() {
    try {
      const mine = await presence.mine();
      set({ mine, statuses: { ...state.statuses, [userId]: mine.status } });
    } catch (error) {
      log('own presence not loaded', error);
    }
  }

  function onInput() {
    const now = Date.now();
    if (now - lastActivity < activityEveryMs || document.hidden) return;
    lastActivity = now;
    presence.activity().catch((error: unknown) => log('activity not sent', error));
  }
  const inputEvents = ['keydown', 'pointerdown'] as const;

  return {
    get: () => state,
    subscribe(listener: () => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start() {
      stopped = false;
      for (const type of inputEvents) window.addEventListener(type, onInput, { passive: true });
      void loadMine();
    },
    stop() {
      stopped = true;
      window.clearTimeout(batchTimer);
      for (const type of inputEvents) window.removeEventListener(type, onInput);
    },
    /** Somebody shows these people's statuses: subscribe to those not yet followed. */
    watch(userIds: readonly string[]) {
      let added = false;
      for (const id of userIds) {
        if (id === userId || watched.has(id)) continue;
        watched.add(id);
        waiting.add(id);
        added = true;
      }
      if (added && batchTimer === undefined) batchTimer = window.setTimeout(flushWaiting, batchDelayMs);
    },
    onEvent(event: Record<string, unknown>) {
      const change = readPresenceEvent(event);
      if (change) learn([change]);
    },
    /** After every (re)join: what changed while the session was away, read afresh. */
    async onJoin() {
      await loadMine();
      const all = [...watched];
      if (all.length > 0) await subscribe(all);
    },
    /** Chooses a status (kept until changed), or `null`: back to the automatic one. */
    async choose(status: PresenceStatusCode | null) {
      const mine = await presence.choose(status);
      set({ mine, statuses: { ...state.statuses, [userId]: mine.status } });
    },
  };
}

export type PresenceStore = ReturnType<typeof createPresenceStore>;
