/**
 * The failure counters behind the growing log-in delays (domain/login-throttle.ts), in PostgreSQL so
 * every gateway replica sees the same ones. A key's count starts again once it has not failed for
 * `memorySeconds`.
 */
import { sql, type Executor } from '@veche/db';
import { rateLimited } from '@veche/errors';
import { delayAfterFailures, type ThrottleGuard } from './domain/login-throttle.ts';
import { tablesOf } from './tables.ts';

export interface KeyState {
  failures: number;
  /** Seconds until the key may be tried again; 0 when it may now. */
  waitSeconds: number;
}

export interface LoginThrottle {
  /** The keys that have failures on record (the others are clean). */
  read(keys: readonly string[]): Promise<Map<string, KeyState>>;
  /** Counts one failure on every guard and starts its wait when it is past its free failures. */
  fail(guards: readonly ThrottleGuard[]): Promise<void>;
  clear(keys: readonly string[]): Promise<void>;
  /** Forgets keys that have not failed for the memory period. */
  prune(): Promise<number>;
}

/** The refusal while a key waits: 429 with Retry-After, the same whatever the key. */
export function tooManyFailures(waitSeconds: number) {
  const seconds = Math.max(1, Math.ceil(waitSeconds));
  return rateLimited(`Too many failed attempts; try again in ${seconds} s`, {
    retryAfterSeconds: seconds,
    details: { retryAfterSeconds: seconds },
  });
}

/** The longest wait among `keys`, or undefined when none waits. */
export function longestWait(states: ReadonlyMap<string, KeyState>, keys: readonly string[]) {
  const waits = keys.map((key) => states.get(key)?.waitSeconds ?? 0);
  const longest = Math.max(0, ...waits);
  return longest > 0 ? longest : undefined;
}

export function createLoginThrottle(executor: Executor<unknown>, memorySeconds: number): LoginThrottle {
  const db = tablesOf(executor);
  // Interval arithmetic on the server's clock, which the query builder has no words for.
  const forgottenBefore = sql<Date>`now() - make_interval(secs => ${memorySeconds})`;
  return {
    async read(keys) {
      const states = new Map<string, KeyState>();
      if (keys.length === 0) return states;
      const rows = await db
        .selectFrom('login_throttle')
        .select([
          'key',
          'failures',
          // Seconds left of the wait, on the server's clock.
          sql<number>`greatest(0, extract(epoch from (coalesce(blocked_until, now()) - now())))::float8`.as(
            'wait_seconds',
          ),
        ])
        .where('key', 'in', keys)
        .where('last_failure_at', '>', forgottenBefore)
        .execute();
      for (const row of rows) states.set(row.key, { failures: row.failures, waitSeconds: row.wait_seconds });
      return states;
    },
    async fail(guards) {
      for (const { key, policy } of guards) {
        const row = await db
          .insertInto('login_throttle')
          .values({ key, failures: 1, last_failure_at: sql<Date>`now()` })
          .onConflict((oc) =>
            oc.column('key').doUpdateSet((eb) => {
              // A key that has not failed for the memory period starts counting again.
              const forgotten = eb('login_throttle.last_failure_at', '<=', forgottenBefore);
              return {
                failures: eb
                  .case()
                  .when(forgotten)
                  .then(1)
                  .else(eb('login_throttle.failures', '+', 1))
                  .end(),
                blocked_until: eb
                  .case()
                  .when(forgotten)
                  .then(null)
                  .else(eb.ref('login_throttle.blocked_until'))
                  .end()
                  .$castTo<Date | null>(),
                last_failure_at: sql<Date>`now()`,
              };
            }),
          )
          .returning('failures')
          .executeTakeFirst();
        const delay = delayAfterFailures(row?.failures ?? 1, policy);
        if (delay > 0) {
          // Never shortens a wait another replica has just set.
          await db
            .updateTable('login_throttle')
            .set({
              blocked_until: sql<Date>`greatest(coalesce(blocked_until, now()), now() + make_interval(secs => ${delay}))`,
            })
            .where('key', '=', key)
            .execute();
        }
      }
    },
    async clear(keys) {
      if (keys.length === 0) return;
      await db.deleteFrom('login_throttle').where('key', 'in', keys).execute();
    },
    async prune() {
      const result = await db
        .deleteFrom('login_throttle')
        .where('last_failure_at', '<', forgottenBefore)
        .where((eb) => eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', eb.fn<Date>('now'))]))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    },
  };
}
