/** Positions in the commit-safe order of the log: (transactionId as xid8 text, globalPosition). */
import type { Checkpoint } from './types.ts';

/** Before every event. */
export const zeroCheckpoint: Checkpoint = Object.freeze({ transactionId: '0', globalPosition: 0 });

/** Negative, zero or positive as `a` is before, at or after `b` in the order readAll delivers. */
export function compareCheckpoints(a: Checkpoint, b: Checkpoint): number {
  // xid8 values exceed 2^53 in long-lived clusters (epoch in the high bits): compare as bigints.
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.globalPosition - b.globalPosition;
}
