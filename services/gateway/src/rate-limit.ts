/**
 * Fixed-window counters in PostgreSQL, so a limit holds across every gateway replica (an in-memory
 * limiter would give each replica its own budget; see ADR). One upsert per check: the row's window
 * restarts when it has expired, otherwise its count goes up.
 */
import { sql, type Executor } from '@veche/db';
import { rateLimited } from '@veche/errors';

export interface RateLimiter {
  /** Counts one hit on `key`; rejects with `rate_limited` (and its Retry-After) past `max` in the window. */
  hit(key: string, max: number, windowSeconds: number): Promise<void>;
}

export function createRateLimiter(db: Executor<unknown>): RateLimiter {
  const refuse = (retryAfterSeconds: number) => {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    return rateLimited('Too many attempts; try again later', {
      retryAfterSeconds: seconds,
      details: { retryAfterSeconds: seconds },
    });
  };
  return {
    async hit(key, max, windowSeconds) {
      const { rows } = await sql<{ hits: number; retry_after: number }>`
        insert into rate_limits as r (key, window_start, hits) values (${key}, now(), 1)
        on conflict (key) do update set
          hits = case when r.window_start <= now() - make_interval(secs => ${windowSeconds}) then 1 else r.hits + 1 end,
          window_start = case when r.window_start <= now() - make_interval(secs => ${windowSeconds}) then now() else r.window_start end
        returning hits, extract(epoch from (window_start + make_interval(secs => ${windowSeconds}) - now()))::float8 as retry_after`.execute(
        db,
      );
      const row = rows[0];
      if (row && row.hits > max) throw refuse(row.retry_after);
    },
  };
}
