/** The access token's refresh schedule (pure, so it is unit-tested). */

/**
 * When to refresh a token that lives `expiresInMs`: a minute before expiry for tokens living over five
 * minutes, at 80 % of shorter lifetimes, and never sooner than a second.
 */
export function refreshDelay(expiresInMs: number): number {
  return Math.max(1_000, expiresInMs > 300_000 ? expiresInMs - 60_000 : expiresInMs * 0.8);
}

/**
 * Calls `onNewToken` each time the access token changes to another one (a refresh), not on the first
 * token nor on log-out. The realtime connection reconnects with the new token then: the router ends a
 * WAMP session when the token it was opened with expires, and the session refreshes a minute before.
 */
export function onTokenChange(
  store: { get(): { accessToken: string } | undefined; subscribe(listener: () => void): () => unknown },
  onNewToken: () => void,
): () => void {
  let token = store.get()?.accessToken;
  const unsubscribe = store.subscribe(() => {
    const next = store.get()?.accessToken;
    const changed = token !== undefined && next !== undefined && next !== token;
    token = next;
    if (changed) onNewToken();
  });
  return () => void unsubscribe();
}
