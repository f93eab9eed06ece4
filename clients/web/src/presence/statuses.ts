/**
 * Seed 002's eight statuses as the client shows them: a label key, a glyph and a colour class each,
 * and which of them a person may pick. Typed against the contracts' codes, so a code added there
 * without a face here fails the type check. Pure: no React, no I/O.
 */
import type { PresenceStatusCode } from '../api/types.ts';
import type { MessageKey } from '../i18n/en.ts';

export interface StatusFace {
  code: PresenceStatusCode;
  /** The status's name in the translations (`presence.status.<name>`). */
  label: MessageKey;
  /** Shown inside the dot, so the status reads without colour too. */
  glyph: string;
  /** `status-<tone>` in styles.css. */
  tone: 'on' | 'busy' | 'off' | 'call' | 'dnd' | 'away' | 'forward' | 'unknown';
}

export const statusFaces: { readonly [C in PresenceStatusCode]: StatusFace } = {
  1: { code: 1, label: 'presence.status.enable', glyph: '', tone: 'on' },
  2: { code: 2, label: 'presence.status.busy', glyph: '', tone: 'busy' },
  3: { code: 3, label: 'presence.status.notRegistered', glyph: '', tone: 'off' },
  4: { code: 4, label: 'presence.status.incoming', glyph: '☎', tone: 'call' },
  5: { code: 5, label: 'presence.status.doNotDisturb', glyph: '–', tone: 'dnd' },
  6: { code: 6, label: 'presence.status.absent', glyph: '◔', tone: 'away' },
  7: { code: 7, label: 'presence.status.forwarding', glyph: '↪', tone: 'forward' },
  8: { code: 8, label: 'presence.status.unknown', glyph: '?', tone: 'unknown' },
};

/** The picker's order: the everyday ones first. All eight may be chosen (the seed's clients may too). */
export const pickerOrder: readonly PresenceStatusCode[] = [1, 2, 5, 6, 4, 7, 3, 8];

export function isStatusCode(value: unknown): value is PresenceStatusCode {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 8;
}

/** Sorting members: reachable first (online, then busy/calls/forwarding, then away), unknown and offline last. */
const ranks: { readonly [C in PresenceStatusCode]: number } = {
  1: 0,
  2: 1,
  4: 1,
  5: 1,
  7: 1,
  6: 2,
  8: 3,
  3: 4,
};
export function statusRank(code: PresenceStatusCode | undefined): number {
  return code === undefined ? 5 : ranks[code];
}

/** A realtime publication on `veche.user.<me>.presence`, checked: what the client keeps of it. */
export function readPresenceEvent(
  event: Record<string, unknown>,
): { userId: string; status: PresenceStatusCode } | undefined {
  if (event['type'] !== 'status') return undefined;
  const userId = event['userId'];
  const status = event['status'];
  if (typeof userId !== 'string' || userId === '' || !isStatusCode(status)) return undefined;
  return { userId, status };
}
