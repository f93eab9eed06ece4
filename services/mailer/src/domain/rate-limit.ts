/**
 * The global send rate as a token bucket: the sender claims from the outbox only as many mails as it
 * has tokens for, so a mail waiting for its turn stays `queued` in PostgreSQL, not in memory.
 */
export interface TokenBucket {
  /** Takes up to `wanted` tokens now; returns how many it got. */
  take(wanted: number, nowMs: number): number;
  /** Gives back tokens taken but not used (fewer mails were due than the bucket allowed). */
  refund(count: number): void;
  /** How long until at least one token is there (0 when one is now). */
  waitMs(nowMs: number): number;
}

export function createTokenBucket(options: {
  ratePerSecond: number;
  burst?: number;
  nowMs: number;
}): TokenBucket {
  const rate = options.ratePerSecond / 1000;
  // One second's worth by default: an idle sender may not then fire more than that at once.
  const capacity = Math.max(1, options.burst ?? Math.ceil(options.ratePerSecond));
  let tokens = capacity;
  let last = options.nowMs;
  const refill = (nowMs: number) => {
    if (nowMs > last) {
      tokens = Math.min(capacity, tokens + (nowMs - last) * rate);
      last = nowMs;
    }
  };
  return {
    take(wanted, nowMs) {
      refill(nowMs);
      const granted = Math.max(0, Math.min(Math.floor(tokens), Math.floor(wanted)));
      tokens -= granted;
      return granted;
    },
    refund(count) {
      if (count > 0) tokens = Math.min(capacity, tokens + count);
    },
    waitMs(nowMs) {
      refill(nowMs);
      return tokens >= 1 ? 0 : Math.ceil((1 - tokens) / rate);
    },
  };
}
