/**
 * The presence-router's copy of an account's directory facts (stream `presence-directory-<userId>`):
 * its extension number, and whether it is disabled. Fed by the gateway's account events; an event is
 * recorded only when something changed, so redelivered or repeated account events append nothing.
 */
import { presenceEventTypes } from '@veche/contracts';
import type { PresenceEventDataOf } from './events.ts';

export const directoryStream = (userId: string): string => `presence-directory-${userId}`;

export interface DirectoryState {
  version: number;
  extension: string | null;
  disabled: boolean;
}
export const initialDirectory: DirectoryState = { version: 0, extension: null, disabled: false };

export type DirectoryUpdated = {
  type: typeof presenceEventTypes.directoryUpdated;
  data: PresenceEventDataOf<typeof presenceEventTypes.directoryUpdated>;
};

/** What an account event says; a field left out is unchanged. */
export interface DirectoryChange {
  extension?: string | null;
  disabled?: boolean;
}

export function decideDirectory(state: DirectoryState, change: DirectoryChange): DirectoryUpdated[] {
  const extension = change.extension === undefined ? state.extension : change.extension;
  const disabled = change.disabled ?? state.disabled;
  // A first event records the account even when it has nothing to say yet (it exists from now on).
  if (state.version > 0 && extension === state.extension && disabled === state.disabled) return [];
  return [
    {
      type: presenceEventTypes.directoryUpdated,
      data: { extension, previous: state.extension, disabled },
    },
  ];
}
