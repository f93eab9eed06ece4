/** The access token's refresh schedule (pure, so it is unit-tested). */

/**
 * When to refresh a token that lives `expiresInMs`: a minute before expiry for tokens living over five
 * minutes, at 80 % of shorter lifetimes, and never sooner than a second.
 */
export function refreshDelay(expiresInMs: number): number {
  return Math.max(1_000, expiresInMs > 300_000 ? expiresInMs - 60_000 : expiresInMs * 0.8);
}
