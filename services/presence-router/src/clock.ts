/**
 * What changes a status with nobody asking: time. Each replica, every `intervalMs`, renews its own
 * heartbeat, removes the connections of replicas whose heartbeat ran out (they died: their users'
 * clients reconnect elsewhere), and re-decides the users who went idle or whose offline grace ended.
 * Every replica sweeps; a user re-decided twice appends once (the second decision finds nothing new).
 */
import { sql, type Database } from '@veche/db';
import type { Logger } from '@veche/log';
import type { StatusTimings, Statuses } from './statuses.ts';
import type { PresenceTables } from './tables.ts';

export interface PresenceClock {
  start(): Promise<void>;
  /** One sweep now (tests, and the first one at start). */
  sweep(): Promise<void>;
  /** Stops sweeping; `forget` removes this replica's row (its connections are closed by then). */
  stop(options?: { forget?: boolean }): Promise<void>;
}

export function createPresenceClock(options: {
  database: Database<unknown>;
  statuses: Statuses;
  replicaId: string;
  timings: StatusTimings;
  intervalMs: number;
  log: Logger;
}): PresenceClock {
  const { statuses, replicaId, timings } = options;
  const db = options.database.db.$extendTables<PresenceTables>();
  const log = options.log.child({ component: 'presence-clock', replicaId });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const seconds = (ms: number) => ms / 1000;

  async function heartbeat(): Promise<void> {
    await db
      .insertInto('replicas')
      .values({ replica_id: replicaId, heartbeat_at: sql<Date>`now()`, started_at: sql<Date>`now()` })
      .onConflict((oc) => oc.column('replica_id').doUpdateSet({ heartbeat_at: sql<Date>`now()` }))
      .execute();
  }

  async function buryDeadReplicas(): Promise<void> {
    const dead = await db
      .deleteFrom('replicas')
      .where(
        'heartbeat_at',
        '<',
        sql<Date>`now() - make_interval(secs => ${seconds(timings.replicaLeaseMs)})`,
      )
      .returning('replica_id')
      .execute();
    if (dead.length === 0) return;
    const ids = dead.map((row) => row.replica_id);
    const connections = await db
      .selectFrom('connections')
      .select('connection_id')
      .where('replica_id', 'in', ids)
      .execute();
    log.warn(
      { replicas: ids, connections: connections.length },
      'replicas stopped answering; their connections are gone',
    );
    for (const { connection_id } of connections) await statuses.connectionClosed(connection_id);
  }

  async function redecideDue(): Promise<void> {
    const idle = await db
      .selectFrom('statuses as s')
      .innerJoin('activity as a', 'a.user_id', 's.user_id')
      .select('s.user_id')
      .where('s.chosen', 'is', null)
      .where('s.status', '=', 1)
      .where('a.last_active_at', '<', sql<Date>`now() - make_interval(secs => ${seconds(timings.idleMs)})`)
      .limit(1000)
      .execute();
    const graceOver = await db
      .selectFrom('activity as a')
      .innerJoin('statuses as s', 's.user_id', 'a.user_id')
      .select('a.user_id')
      .where('s.status', '<>', 3)
      .where(
        'a.offline_since',
        '<',
        sql<Date>`now() - make_interval(secs => ${seconds(timings.offlineGraceMs)})`,
      )
      .limit(1000)
      .execute();
    for (const { user_id } of [...idle, ...graceOver]) await statuses.observe(user_id);
  }

  async function sweep(): Promise<void> {
    await heartbeat();
    await buryDeadReplicas();
    await redecideDue();
    // An on_join later than an hour after its session ended does not happen.
    await db
      .deleteFrom('ended_sessions')
      .where('ended_at', '<', sql<Date>`now() - interval '1 hour'`)
      .execute();
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep()
        .catch((error: unknown) => log.error({ err: error }, 'sweep failed; trying again'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, options.intervalMs);
  }

  return {
    async start() {
      await sweep();
      schedule();
    },
    sweep,
    async stop({ forget = true } = {}) {
      stopped = true;
      clearTimeout(timer);
      await running;
      if (forget) await db.deleteFrom('replicas').where('replica_id', '=', replicaId).execute();
    },
  };
}
