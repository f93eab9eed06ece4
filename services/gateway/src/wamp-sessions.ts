/**
 * Live WAMP sessions end with their access token and with their account session. Neither Crossbar nor
 * the local router checks a ticket after the join, so the gateway does it, reliably:
 *
 * - the authenticator records each admitted session (the router's session id arrives as the details'
 *   `session`) with its account session and its token's expiry, in PostgreSQL, before the router
 *   welcomes it (a session that could not be recorded does not open);
 * - a recorded session is *doomed* when its token expired, its account session was revoked (log-out,
 *   revoked from another device, refresh-token reuse, log-out everywhere, password change or reset)
 *   or its account is disabled. That is read from the accounts read model, which the event store
 *   updates in the same transaction as the event: the decision to end a session is committed with the
 *   event that causes it, and nothing is lost if a gateway dies right after;
 * - doomed rows are killed by id (`wamp.session.kill`) and a row is deleted only once the router
 *   confirms: the kill succeeded, or `wamp.error.no_such_session` for a row old enough that its session
 *   must have joined already. Anything else (a refusal, a timeout, no router connection, a router
 *   restart) leaves the row with the next attempt scheduled with exponential backoff (0.25 s … 30 s), for
 *   whichever gateway replica comes next (rows are claimed with `for update skip locked`);
 * - every replica looks for due rows once a second; the request that ends a session also runs a pass at
 *   once, so a log-out normally ends its device's session before the answer is sent.
 *
 * Killing by id rather than by authid means a retry can never end a session opened after the
 * revocation (a user who logs out everywhere and logs in again keeps the new session), and a
 * password change keeps the device that changed it. The close reason follows from the state.
 */
import { sql, type Executor } from '@veche/db';
import type { Logger } from '@veche/log';
import { tablesOf } from './tables.ts';

export const wampCloseReasons = {
  tokenExpired: 'veche.close.token_expired',
  loggedOut: 'veche.close.logged_out',
  sessionRevoked: 'veche.close.session_revoked',
  passwordChanged: 'veche.close.password_changed',
  passwordReset: 'veche.close.password_reset',
  accountDisabled: 'veche.close.account_disabled',
} as const;

/** What the router answered a kill. */
export type KillOutcome = 'killed' | 'gone' | 'failed';

export interface WampSessionKiller {
  /** Ends one WAMP session: `gone` when the router knows no such session, `failed` for anything else. */
  killSession(wampSessionId: number, reason: string, message: string): Promise<KillOutcome>;
}

export interface WampSessionTracker {
  /** The authenticator admitted `wampSessionId` for this account session until `expiresAtMs`. */
  record(
    wampSessionId: number,
    owner: { userId: string; sessionId: string; expiresAtMs: number },
  ): Promise<void>;
  /**
   * Kills every doomed session that is due now (after a revocation: at once); answers how many the
   * router confirmed ended. Failures stay scheduled for a retry.
   */
  endDoomed(): Promise<number>;
  start(intervalMs?: number): void;
  stop(): Promise<void>;
}

export interface WampSessionTrackerOptions {
  db: Executor<unknown>;
  killer: WampSessionKiller;
  log: Logger;
  /**
   * A recorded session younger than this that the router does not know may still be joining (the
   * authenticator records it before the WELCOME): it is tried again rather than forgotten. Default 30 s.
   */
  joinGraceMs?: number;
  /** Most rows one pass claims. Default 200. */
  batchSize?: number;
  /** A kill with no answer within this long counts as failed (a lost answer must not stall passes). Default 10 s. */
  killTimeoutMs?: number;
}

/** Retry delay after `attempts` failed kills: 250 ms doubling up to 30 s. */
export const killRetryMs = (attempts: number): number =>
  Math.min(30_000, 250 * 2 ** Math.max(0, attempts - 1));

const messages: Record<string, string> = {
  [wampCloseReasons.tokenExpired]: 'the access token expired',
  [wampCloseReasons.accountDisabled]: 'the account is disabled',
};

export function createWampSessionTracker(options: WampSessionTrackerOptions): WampSessionTracker {
  const { db, killer } = options;
  const tables = tablesOf(db);
  const log = options.log.child({ component: 'wamp-sessions' });
  const joinGraceMs = options.joinGraceMs ?? 30_000;
  const batchSize = options.batchSize ?? 200;
  const killTimeoutMs = options.killTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let again = false;

  /**
   * Claims the doomed rows that are due: each gets its next attempt scheduled now, so another replica
   * (or this one, should it die mid-kill) takes it up only after the backoff.
   */
  async function claim() {
    // One statement that locks, reschedules and returns the due rows (a CTE with `for update skip
    // locked` feeding `update … from … returning`): beyond what the query builder says clearly.
    const { rows } = await sql<{
      wamp_session_id: number;
      reason: string;
      kill_attempts: number;
      young: boolean;
    }>`
      with due as (
        select w.wamp_session_id,
          case
            when a.status is distinct from 'active' then ${wampCloseReasons.accountDisabled}
            when s.session_id is null then ${wampCloseReasons.sessionRevoked}
            when s.revoked_at is not null then
              case s.revoked_reason
                when 'logout' then ${wampCloseReasons.loggedOut}
                when 'logout_all' then ${wampCloseReasons.loggedOut}
                when 'password_changed' then ${wampCloseReasons.passwordChanged}
                when 'password_reset' then ${wampCloseReasons.passwordReset}
                else ${wampCloseReasons.sessionRevoked}
              end
            else ${wampCloseReasons.tokenExpired}
          end as reason
        from wamp_sessions w
          left join sessions s on s.session_id = w.session_id
          left join accounts a on a.user_id = w.user_id
        where (w.next_kill_at is null or w.next_kill_at <= now())
          and (w.expires_at <= now() or s.session_id is null or s.revoked_at is not null
            or a.status is distinct from 'active')
        order by w.next_kill_at nulls first
        limit ${batchSize}
        for update of w skip locked
      )
      update wamp_sessions w
      set kill_attempts = w.kill_attempts + 1,
        next_kill_at = now() + make_interval(secs => least(30, 0.25 * power(2, w.kill_attempts)))
      from due
      where w.wamp_session_id = due.wamp_session_id
      returning w.wamp_session_id, due.reason, w.kill_attempts,
        w.created_at > now() - make_interval(secs => ${joinGraceMs / 1000}::float8) as young`.execute(db);
    return rows.map((r) => ({
      id: r.wamp_session_id,
      reason: r.reason,
      attempts: r.kill_attempts,
      young: r.young,
    }));
  }

  async function pass(): Promise<number> {
    const claimed = await claim();
    if (claimed.length === 0) return 0;
    const outcomes = await Promise.all(
      claimed.map(async (row) => {
        let timeout: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          killer
            .killSession(row.id, row.reason, messages[row.reason] ?? 'the session has ended')
            .catch((): KillOutcome => 'failed'),
          new Promise<KillOutcome>((resolve) => {
            timeout = setTimeout(() => resolve('failed'), killTimeoutMs);
          }),
        ]).finally(() => clearTimeout(timeout));
        return { ...row, outcome };
      }),
    );
    const ended = outcomes.filter((o) => o.outcome === 'killed' || (o.outcome === 'gone' && !o.young));
    if (ended.length > 0) {
      await tables
        .deleteFrom('wamp_sessions')
        .where(
          'wamp_session_id',
          'in',
          ended.map((o) => o.id),
        )
        .execute();
    }
    const killed = outcomes.filter((o) => o.outcome === 'killed');
    if (killed.length > 0) {
      log.info(
        { wampSessions: killed.map((o) => o.id), reasons: [...new Set(killed.map((o) => o.reason))] },
        'ended WAMP sessions',
      );
    }
    const failed = outcomes.filter((o) => o.outcome === 'failed');
    if (failed.length > 0) {
      log.warn(
        {
          failed: failed.map((o) => ({
            wampSessionId: o.id,
            attempts: o.attempts,
            retryInMs: killRetryMs(o.attempts),
          })),
        },
        'the router did not confirm ending some WAMP sessions; retrying',
      );
    }
    return killed.length;
  }

  /** One pass at a time per process; a request during a pass runs another right after it. */
  function run(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      try {
        do {
          again = false;
          total += await pass();
        } while (again);
      } finally {
        running = undefined;
      }
      return total;
    })();
    return running;
  }

  const tracker: WampSessionTracker = {
    async record(wampSessionId, { userId, sessionId, expiresAtMs }) {
      await tables
        .insertInto('wamp_sessions')
        .values({
          wamp_session_id: wampSessionId,
          session_id: sessionId,
          user_id: userId,
          expires_at: new Date(expiresAtMs),
        })
        .onConflict((oc) =>
          oc.column('wamp_session_id').doUpdateSet((eb) => ({
            session_id: eb.ref('excluded.session_id'),
            user_id: eb.ref('excluded.user_id'),
            expires_at: eb.ref('excluded.expires_at'),
            created_at: eb.fn<Date>('now'),
            kill_attempts: 0,
            next_kill_at: null,
          })),
        )
        .execute();
    },

    endDoomed: run,

    start(intervalMs = 1_000) {
      clearInterval(timer);
      timer = setInterval(() => {
        if (running) return;
        run().catch((error: unknown) => log.warn({ err: error }, 'ending doomed WAMP sessions failed'));
      }, intervalMs);
      timer.unref();
    },

    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running?.catch(() => 0);
    },
  };
  return tracker;
}
