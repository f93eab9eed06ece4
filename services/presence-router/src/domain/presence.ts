/**
 * One user's presence, as an aggregate over the stream `presence-<userId>`: what the user chose, and
 * the status everyone else is told. Pure: the connection and activity facts come from the edge.
 *
 * The status others see:
 *   no live connection (no `/pubsub`, no `/ws` session)  → 3 NOT_REGISTERED
 *   a status the user chose                               → that status, until changed
 *   idle past the configured time                         → 6 ABSENT
 *   otherwise                                             → 1 ENABLE
 *
 * A publication while connected is always told to subscribers, even when the status is the same
 * (seed clients re-publish, with a fresh `timestamp`, to measure delivery), so every
 * `presence.status_changed` is one notification and the history is exactly what subscribers saw.
 */
import {
  presenceEventTypes,
  presenceStatusCodes as S,
  type PresenceStatusCode,
  type StatusChangeCause,
} from '@veche/contracts';
import type { PresenceEventDataOf } from './events.ts';

export const presenceStream = (userId: string): string => `presence-${userId}`;

export interface Choice {
  status: PresenceStatusCode;
  /** Raw JSON text of the publication's `timestamp`, exactly as sent. */
  timestamp?: string;
}

export interface PresenceState {
  /** The stream's version (0: no events yet). */
  version: number;
  /** `null`: automatic. */
  chosen: Choice | null;
  /** What subscribers were last told. */
  status: PresenceStatusCode;
}

export const initialPresence: PresenceState = { version: 0, chosen: null, status: S.NOT_REGISTERED };

/** What the edge observed about the user when the command was decided. */
export interface Facts {
  /** At least one live `/pubsub` connection or `/ws` session (or one closed within the grace time). */
  connected: boolean;
  /** No activity for longer than the idle time. */
  idle: boolean;
}

export type PresenceCommand =
  | { type: 'publish'; status: PresenceStatusCode; timestamp?: string; by: string; facts: Facts }
  | { type: 'clear'; by: string; facts: Facts }
  | { type: 'observe'; facts: Facts };

export type StatusChosen = PresenceEventDataOf<typeof presenceEventTypes.statusChosen>;
export type StatusChanged = PresenceEventDataOf<typeof presenceEventTypes.statusChanged>;

export type PresenceEvent =
  | { type: typeof presenceEventTypes.statusChosen; data: StatusChosen }
  | { type: typeof presenceEventTypes.statusChanged; data: StatusChanged };

export function effectiveStatus(chosen: Choice | null, facts: Facts): PresenceStatusCode {
  if (!facts.connected) return S.NOT_REGISTERED;
  if (chosen) return chosen.status;
  return facts.idle ? S.ABSENT : S.ENABLE;
}

/** Why the status moved when only the facts changed. */
function observedCause(state: PresenceState, facts: Facts, next: PresenceStatusCode): StatusChangeCause {
  if (!facts.connected) return 'disconnected';
  if (state.status === S.NOT_REGISTERED) return 'connected';
  return next === S.ABSENT ? 'idle' : 'active';
}

const changed = (data: StatusChanged): PresenceEvent => ({ type: presenceEventTypes.statusChanged, data });

export function decide(state: PresenceState, command: PresenceCommand): PresenceEvent[] {
  switch (command.type) {
    case 'publish': {
      const choice: Choice =
        command.timestamp === undefined
          ? { status: command.status }
          : { status: command.status, timestamp: command.timestamp };
      const events: PresenceEvent[] = [
        { type: presenceEventTypes.statusChosen, data: { ...choice, by: command.by } },
      ];
      const next = effectiveStatus(choice, command.facts);
      // A publication while connected reaches subscribers even when the status is unchanged.
      if (command.facts.connected || next !== state.status) {
        events.push(changed({ status: next, previous: state.status, cause: 'published', ...stamp(choice) }));
      }
      return events;
    }
    case 'clear': {
      if (state.chosen === null) return [];
      const events: PresenceEvent[] = [
        { type: presenceEventTypes.statusChosen, data: { status: null, by: command.by } },
      ];
      const next = effectiveStatus(null, command.facts);
      if (next !== state.status)
        events.push(changed({ status: next, previous: state.status, cause: 'cleared' }));
      return events;
    }
    case 'observe': {
      const next = effectiveStatus(state.chosen, command.facts);
      if (next === state.status) return [];
      return [
        changed({ status: next, previous: state.status, cause: observedCause(state, command.facts, next) }),
      ];
    }
  }
}

const stamp = (choice: Choice): { timestamp?: string } =>
  choice.timestamp === undefined ? {} : { timestamp: choice.timestamp };

export function evolve(state: PresenceState, event: PresenceEvent): PresenceState {
  switch (event.type) {
    case presenceEventTypes.statusChosen: {
      const { status, timestamp } = event.data;
      const chosen: Choice | null =
        status === null ? null : timestamp === undefined ? { status } : { status, timestamp };
      return { ...state, version: state.version + 1, chosen };
    }
    case presenceEventTypes.statusChanged:
      return { ...state, version: state.version + 1, status: event.data.status };
  }
}
