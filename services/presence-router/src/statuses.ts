/**
 * The command side of statuses: each change for a user runs in one transaction that first locks the
 * user's `activity` row (so the connection count, the facts and the expected version cannot move
 * under it), applies the connection change, reads the facts (live connections, idleness), decides
 * with the pure aggregate, and appends. The inline projection and the NOTIFY ride in that transaction.
 *
 * A connection is live when it is a `/ws` session the router reported, or a `/pubsub` connection of a
 * replica whose heartbeat is fresh: a replica that dies takes its connections with it once its lease
 * runs out, and explicit statuses, which are events, are never lost with it.
 */
import { sql, type Database, type Kysely, type Transaction } from '@veche/db';
import type { EventStore } from '@veche/event-store';
import type { Logger } from '@veche/log';
import type { PresenceStatusCode } from '@veche/contracts';
import {
  decide,
  initialPresence,
  presenceStream,
  type Facts,
  type PresenceCommand,
  type PresenceState,
} from './domain/presence.ts';
import type { PresenceTables } from './tables.ts';

export interface StatusTimings {
  /** No activity for this long: ABSENT (unless the user chose a status). */
  idleMs: number;
  /** The last connection closed this long ago: NOT_REGISTERED (reconnections within it go unnoticed). */
  offlineGraceMs: number;
  /** A replica whose heartbeat is older than this is dead, and so are its `/pubsub` connections. */
  replicaLeaseMs: number;
}

export type ConnectionKind = 'pubsub' | 'ws';

export interface Statuses {
  connectionOpened(connection: {
    connectionId: string;
    userId: string;
    kind: ConnectionKind;
    replicaId: string | null;
  }): Promise<void>;
  /** `ended`: the router said the session ended (a late `on_join` from another replica cannot revive it). */
  connectionClosed(connectionId: string, options?: { ended?: boolean }): Promise<void>;
  /**
   * `/ws` sessions as the router listed them at `listedAt` (the database's clock, read before asking):
   * those recorded before then and not in the list are gone.
   */
  replaceWsSessions(
    sessions: readonly { connectionId: string; userId: string }[],
    listedAt: Date,
  ): Promise<void>;
  /** The database's clock, for {@link replaceWsSessions}. */
  now(): Promise<Date>;
  publish(
    userId: string,
    status: PresenceStatusCode,
    options: { timestamp?: string; by: string },
  ): Promise<void>;
  clear(userId: string, by: string): Promise<void>;
  /** The user did something: refreshes idleness (written at most every `activityWriteMs` per user). */
  activity(userId: string): Promise<void>;
  /** Re-decides one user from the facts as they are now (idle, grace over, replica gone). */
  observe(userId: string): Promise<void>;
  state(userId: string): Promise<{ state: PresenceState; facts: Facts }>;
}

export interface StatusesOptions {
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
  timings: StatusTimings;
  /**
   * Status transactions at once (default 6; keep it below the pool's size). The rest wait their turn
   * here, in order: the pool's own queue gives up after its connection timeout, which a crowd of
   * clients connecting at once (a replica's clients coming back through another) would otherwise hit,
   * and each would be closed instead of registered.
   */
  concurrency?: number;
}

/** Runs tasks at most `width` at a time, the others in arrival order. */
export function createGate(width: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active < width) active += 1;
    // A finishing task hands its place straight to the next one waiting.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active -= 1;
    }
  };
}

type Trx = Transaction<PresenceTables>;

export async function loadPresence(db: Kysely<PresenceTables> | Trx, userId: string): Promise<PresenceState> {
  const row = await db
    .selectFrom('statuses')
    .select(['version', 'status', 'chosen', 'chosen_timestamp'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row ? presenceOf(row) : initialPresence;
}

/** A `statuses` row as the aggregate's state. */
function presenceOf(row: {
  version: number;
  status: PresenceStatusCode;
  chosen: PresenceStatusCode | null;
  chosen_timestamp: string | null;
}): PresenceState {
  return {
    version: row.version,
    status: row.status,
    chosen:
      row.chosen === null
        ? null
        : row.chosen_timestamp === null
          ? { status: row.chosen }
          : { status: row.chosen, timestamp: row.chosen_timestamp },
  };
}

export function createStatuses(options: StatusesOptions): Statuses {
  const { store, timings } = options;
  const db = options.database.db.$extendTables<PresenceTables>();
  const log = options.log.child({ component: 'statuses' });
  const activityWriteMs = Math.max(250, Math.min(Math.floor(timings.idleMs / 10), 30_000));
  const lastActivityWrite = new Map<string, number>();
  const gate = createGate(Math.max(1, options.concurrency ?? 6));

  /**
   * Locks the user's row (creating it the first time); every change for one user is serialised here.
   * One statement: `on conflict do update … where false` updates nothing but locks the row it
   * conflicts with, also one another transaction inserted meanwhile (it waits for that one's end).
   */
  async function lockUser(trx: Trx, userId: string): Promise<void> {
    await sql`
      insert into activity (user_id, last_active_at, offline_since) values (${userId}, now(), null)
      on conflict (user_id) do update set user_id = excluded.user_id where false`.execute(trx);
  }

  /** A `/pubsub` connection of a replica whose lease ran out is not live; a `/ws` session is. */
  const liveCount = (userId: string) => sql<number>`(
    select count(*) from connections c left join replicas r on r.replica_id = c.replica_id
    where c.user_id = ${userId}
      and (c.kind = 'ws' or r.heartbeat_at > now() - make_interval(secs => ${timings.replicaLeaseMs / 1000})))`;

  /** The facts the aggregate decides on and its state, in one read (after the lock: a fresh snapshot). */
  async function factsAndState(trx: Trx, userId: string): Promise<{ facts: Facts; state: PresenceState }> {
    const { rows } = await sql<{
      live: string;
      idle: boolean;
      in_grace: boolean;
      version: number | null;
      status: PresenceStatusCode | null;
      chosen: PresenceStatusCode | null;
      chosen_timestamp: string | null;
    }>`
      select ${liveCount(userId)} as live,
        a.last_active_at < now() - make_interval(secs => ${timings.idleMs / 1000}) as idle,
        coalesce(a.offline_since > now() - make_interval(secs => ${timings.offlineGraceMs / 1000}), false)
          as in_grace,
        s.version, s.status, s.chosen, s.chosen_timestamp
      from activity a left join statuses s on s.user_id = a.user_id
      where a.user_id = ${userId}`.execute(trx);
    const row = rows[0];
    if (!row) throw new Error(`No activity row for ${userId} under its lock`);
    const { version, status } = row;
    const state: PresenceState =
      version === null || status === null ? initialPresence : presenceOf({ ...row, version, status });
    return { facts: { connected: Number(row.live) > 0 || row.in_grace, idle: row.idle }, state };
  }

  /** After connections changed: start the grace when the last one went, end it when one came. */
  async function markOffline(trx: Trx, userId: string): Promise<void> {
    await sql`
      update activity
      set offline_since = case when ${liveCount(userId)} > 0 then null else coalesce(offline_since, now()) end
      where user_id = ${userId}`.execute(trx);
  }

  async function run(
    userId: string,
    command: (facts: Facts) => PresenceCommand,
    change?: (trx: Trx) => Promise<void>,
    actor = userId,
  ): Promise<void> {
    await gate(() => transact(userId, command, change, actor));
  }

  async function transact(
    userId: string,
    command: (facts: Facts) => PresenceCommand,
    change: ((trx: Trx) => Promise<void>) | undefined,
    actor: string,
  ): Promise<void> {
    await options.database.db.transaction().execute(async (raw) => {
      const trx = raw.$extendTables<PresenceTables>();
      await lockUser(trx, userId);
      if (change) {
        await change(trx);
        await markOffline(trx, userId);
      }
      const { facts, state } = await factsAndState(trx, userId);
      const events = decide(state, command(facts));
      if (events.length === 0) return;
      await store.append(presenceStream(userId), events, {
        expectedVersion: state.version,
        trx: raw,
        actor,
      });
    });
  }

  return {
    async connectionOpened({ connectionId, userId, kind, replicaId }) {
      await run(
        userId,
        (facts) => ({ type: 'observe', facts }),
        async (trx) => {
          await trx
            .insertInto('connections')
            .columns(['connection_id', 'user_id', 'kind', 'replica_id'])
            .expression(
              trx
                .selectNoFrom((eb) => [
                  eb.val(connectionId).as('connection_id'),
                  eb.val(userId).as('user_id'),
                  eb.val(kind).as('kind'),
                  eb.val(replicaId).as('replica_id'),
                ])
                // A session another replica already saw end stays ended.
                .where((eb) =>
                  eb.not(
                    eb.exists(
                      eb
                        .selectFrom('ended_sessions')
                        .select('connection_id')
                        .where('connection_id', '=', connectionId),
                    ),
                  ),
                ),
            )
            .onConflict((oc) => oc.column('connection_id').doNothing())
            .execute();
          // Connecting is activity.
          await trx
            .updateTable('activity')
            .set({ last_active_at: sql<Date>`now()` })
            .where('user_id', '=', userId)
            .execute();
        },
      );
      // Just written: the connection's first frames need not write it again (one commit fewer per
      // connection, which is what limits how fast a crowd of clients can connect and subscribe).
      lastActivityWrite.set(userId, Date.now());
    },

    async connectionClosed(connectionId, { ended = false } = {}) {
      if (ended) {
        await db
          .insertInto('ended_sessions')
          .values({ connection_id: connectionId })
          .onConflict((oc) => oc.column('connection_id').doNothing())
          .execute();
      }
      const row = await db
        .selectFrom('connections')
        .select('user_id')
        .where('connection_id', '=', connectionId)
        .executeTakeFirst();
      if (!row) return;
      await run(
        row.user_id,
        (facts) => ({ type: 'observe', facts }),
        async (trx) => {
          await trx.deleteFrom('connections').where('connection_id', '=', connectionId).execute();
        },
      );
    },

    async replaceWsSessions(sessions, listedAt) {
      const listed = new Map(sessions.map((s) => [s.connectionId, s.userId]));
      const known = await db
        .selectFrom('connections')
        .select(['connection_id', 'user_id', 'opened_at'])
        .where('kind', '=', 'ws')
        .execute();
      // A session recorded after the list was taken joined after it: not gone.
      const gone = known.filter((row) => !listed.has(row.connection_id) && row.opened_at < listedAt);
      const knownIds = new Set(known.map((row) => row.connection_id));
      const added = [...listed].filter(([id]) => !knownIds.has(id));
      for (const row of gone) await this.connectionClosed(row.connection_id);
      for (const [connectionId, userId] of added) {
        await this.connectionOpened({ connectionId, userId, kind: 'ws', replicaId: null });
      }
      if (gone.length + added.length > 0)
        log.info({ gone: gone.length, added: added.length }, 'WAMP sessions reconciled');
    },

    async now() {
      const row = await db.selectNoFrom(sql<Date>`now()`.as('now')).executeTakeFirstOrThrow();
      return row.now;
    },

    async publish(userId, status, { timestamp, by }) {
      await run(
        userId,
        (facts) =>
          timestamp === undefined
            ? { type: 'publish', status, by, facts }
            : { type: 'publish', status, timestamp, by, facts },
        undefined,
        by,
      );
    },

    async clear(userId, by) {
      await run(userId, (facts) => ({ type: 'clear', by, facts }), undefined, by);
    },

    async activity(userId) {
      const now = Date.now();
      const last = lastActivityWrite.get(userId);
      if (last !== undefined && now - last < activityWriteMs) return;
      lastActivityWrite.set(userId, now);
      if (lastActivityWrite.size > 100_000) lastActivityWrite.clear();
      const row = await db
        .updateTable('activity')
        .set({ last_active_at: sql<Date>`now()` })
        .where('user_id', '=', userId)
        .returning((eb) =>
          eb
            .selectFrom('statuses')
            .select('status')
            .where('statuses.user_id', '=', userId)
            .where('statuses.chosen', 'is', null)
            .as('automatic_status'),
        )
        .executeTakeFirst();
      // Back from idle: tell subscribers now rather than at the next sweep.
      if (row?.automatic_status === 6) await this.observe(userId);
    },

    async observe(userId) {
      await run(userId, (facts) => ({ type: 'observe', facts }));
    },

    async state(userId) {
      return db.transaction().execute(async (trx) => {
        await lockUser(trx, userId);
        return factsAndState(trx, userId);
      });
    },
  };
}
