/**
 * The failure counters behind the growing log-in delays (domain/login-throttle.ts), in PostgreSQL so
 * every gateway replica sees the same ones. A key's count starts again once it has not failed for
 * `memorySeconds`.
 */
import { sql, type Executor } from '@veche/db';
import { rateLimited } from '@veche/errors';
import { delayAfterFailures, type ThrottleGuard } from './domain/login-throttle.ts';

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

export function createLoginThrottle(db: Executor<unknown>, memorySeconds: number): LoginThrottle {
  return {
    async read(keys) {
      const states = new Map<string, KeyState>();
      if (keys.length === 0) return states;
      const { rows } = await sql<{ key: string; failures: number; wait_seconds: number }>`
        select key, failures,
          greatest(0, extract(epoch from (coalesce(blocked_until, now()) - now())))::float8 as wait_seconds
        from login_throttle
        where key = any(${[...keys]}::text[])
          and last_failure_at > now() - make_interval(secs => ${memorySeconds})`.execute(db);
      for (const row of rows) states.set(row.key, { failures: row.failures, waitSeconds: row.wait_seconds });
      return states;
    },
    async fail(guards) {
      for (const { key, policy } of guards) {
        const { rows } = await sql<{ failures: number }>`
          insert into login_throttle as t (key, failures, last_failure_at) values (${key}, 1, now())
          on conflict (key) do update set
            failures = case when t.last_failure_at <= now() - make_interval(secs => ${memorySeconds})
                            then 1 else t.failures + 1 end,
            blocked_until = case when t.last_failure_at <= now() - make_interval(secs => ${memorySeconds})
                                 then null else t.blocked_until end,
            last_failure_at = now()
          returning failures`.execute(db);
        const delay = delayAfterFailures(rows[0]?.failures ?? 1, policy);
        if (delay > 0) {
          // Never shortens a wait another replica has just set.
          await sql`
            update login_throttle
            set blocked_until = greatest(coalesce(blocked_until, now()), now() + make_interval(secs => ${delay}))
            where key = ${key}`.execute(db);
        }
      }
    },
    async clear(keys) {
      if (keys.length === 0) return;
      await sql`delete from login_throttle where key = any(${[...keys]}::text[])`.execute(db);
    },
    async prune() {
      const result = await sql`
        delete from login_throttle
        where last_failure_at < now() - make_interval(secs => ${memorySeconds})
          and (blocked_until is null or blocked_until < now())`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
  };
}
