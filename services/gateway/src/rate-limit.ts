/**
 * Fixed-window counters in PostgreSQL, so a limit holds across every gateway replica (an in-memory
 * limiter would give each replica its own budget; see ADR). One upsert per check: the row's window
 * restarts when it has expired, otherwise its count goes up.
 */
import { sql, type Executor } from '@veche/db';
import { rateLimited } from '@veche/errors';
import { tablesOf } from './tables.ts';

export interface RateLimiter {
  /** Counts one hit on `key`; rejects with `rate_limited` (and its Retry-After) past `max` in the window. */
  hit(key: string, max: number, windowSeconds: number): Promise<void>;
}

export function createRateLimiter(executor: Executor<unknown>): RateLimiter {
  const db = tablesOf(executor);
  const refuse = (retryAfterSeconds: number) => {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    return rateLimited('Too many attempts; try again later', {
      retryAfterSeconds: seconds,
      details: { retryAfterSeconds: seconds },
    });
  };
  return {
    async hit(key, max, windowSeconds) {
      // The window is interval arithmetic on the server's clock, which the query builder has no words for.
      const window = sql<string>`make_interval(secs => ${windowSeconds})`;
      const row = await db
        .insertInto('rate_limits')
        .values({ key, window_start: sql<Date>`now()`, hits: 1 })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => {
            const expired = eb('rate_limits.window_start', '<=', sql<Date>`now() - ${window}`);
            return {
              hits: eb
                .case()
                .when(expired)
                .then(1)
                .else(eb('rate_limits.hits', '+', 1))
                .end(),
              window_start: eb
                .case()
                .when(expired)
                .then(sql<Date>`now()`)
                .else(eb.ref('rate_limits.window_start'))
                .end(),
            };
          }),
        )
        .returning([
          'hits',
          sql<number>`extract(epoch from (window_start + ${window} - now()))::float8`.as('retry_after'),
        ])
        .executeTakeFirst();
      if (row && row.hits > max) throw refuse(row.retry_after);
    },
  };
}
