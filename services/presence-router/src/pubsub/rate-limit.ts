/**
 * A `/pubsub` connection's frame budget: a token bucket (`perSecond` refill, `burst` capacity). A
 * frame over budget is dropped; the first drop of a run is told to the client; a client that keeps
 * sending `burst` more frames while over budget is flooding and is closed. Pure, clock injected.
 */
export type RateVerdict = 'accept' | 'drop-and-warn' | 'drop' | 'close';

export interface FrameBudget {
  take(nowMs: number): RateVerdict;
}

export function createFrameBudget(perSecond: number, burst: number, startMs: number): FrameBudget {
  let tokens = burst;
  let updatedMs = startMs;
  let strikes = 0;
  return {
    take(nowMs) {
      tokens = Math.min(burst, tokens + ((nowMs - updatedMs) / 1000) * perSecond);
      updatedMs = nowMs;
      if (tokens >= 1) {
        tokens -= 1;
        strikes = 0;
        return 'accept';
      }
      strikes += 1;
      if (strikes >= burst) return 'close';
      return strikes === 1 ? 'drop-and-warn' : 'drop';
    },
  };
}
