/**
 * No mail storm from a noisy log alert: at most one mail per alert per cool-down. A firing inside the
 * cool-down is counted, not mailed; the next mail says how many were held back. Times are the
 * firings' own (`firedAt`), so the decision does not depend on how late the mailer reads the event.
 */
export interface CoolDownState {
  lastMailedAt: Date | null;
  suppressed: number;
}

export type CoolDownDecision = { send: true; suppressedBefore: number } | { send: false };

export function decideAlertMail(
  state: CoolDownState,
  firedAt: Date,
  coolDownSeconds: number,
): CoolDownDecision {
  if (
    state.lastMailedAt !== null &&
    firedAt.getTime() - state.lastMailedAt.getTime() < coolDownSeconds * 1000
  ) {
    return { send: false };
  }
  return { send: true, suppressedBefore: state.suppressed };
}
