/**
 * A named consumer of the log with a persisted checkpoint, run by one process at a time: the holder
 * of a session advisory lock on a dedicated connection leads; the others stand by and retry.
 */
import type pg from 'pg';
import { sql, type Kysely } from '@veche/db';
import { componentLogger } from '@veche/log';
import { notificationChannel } from './append-plan.ts';
import { compareCheckpoints, zeroCheckpoint } from './checkpoint.ts';
import type { Checkpoint, Subscription, SubscriptionOptions } from './types.ts';

const heartbeatMs = 5_000;
const maxBackoffMs = 30_000;

/** Exponential backoff with jitter: 100 ms, 200 ms, … up to 30 s. */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(maxBackoffMs, 100 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

interface CheckpointRow {
  transaction_id: string;
  global_position: number | string;
}

const fromRow = (row: CheckpointRow | undefined): Checkpoint =>
  row ? { transactionId: row.transaction_id, globalPosition: Number(row.global_position) } : zeroCheckpoint;

/** A subscription's persisted checkpoint (the start of the log when it has none yet). */
export async function loadCheckpoint(db: Kysely<unknown>, name: string): Promise<Checkpoint> {
  const { rows } = await sql<CheckpointRow>`
    select transaction_id::text as transaction_id, global_position
    from subscription_checkpoints where name = ${name}`.execute(db);
  return fromRow(rows[0]);
}

export function createSubscription(options: SubscriptionOptions): Subscription {
  const { database, store, name } = options;
  const db = database.db;
  const log = componentLogger(options.log, 'subscription', { subscription: name, mode: options.mode });
  const batchSize = options.batchSize ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const leaseRetryMs = options.leaseRetryMs ?? 1_000;
  const lockKey = `${database.schema}:${name}`;
  const channel = notificationChannel(database.schema);
  const readOptions = options.eventTypes
    ? { limit: batchSize, eventTypes: options.eventTypes }
    : { limit: batchSize };

  let started = false;
  let stopping = false;
  let leader = false;
  let lockClient: pg.Client | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let loop: Promise<void> | undefined;
  let starting: Promise<void> | undefined;

  // Waiting: a timer that stop(), a lost lock or (when asked) a notification cuts short.
  let interrupt: (() => void) | undefined;
  let interruptOnNotify = false;
  let notified = false;

  function pause(ms: number, wakeOnNotify: boolean): Promise<void> {
    if (stopping || (wakeOnNotify && notified)) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        interrupt = undefined;
        interruptOnNotify = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      interrupt = finish;
      interruptOnNotify = wakeOnNotify;
    });
  }

  /**
   * Ends the lock's connection. `unlock` (a graceful stop) first gives the lock back in so many words,
   * so a standby's next attempt takes it: a closed connection's lock is only freed once its server
   * process has noticed and exited, which a standby trying at once can beat. Resolves when closed.
   */
  async function dropLockClient(unlock = false): Promise<void> {
    const client = lockClient;
    lockClient = undefined;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    if (!client) return;
    client.removeAllListeners('notification');
    // The connection may already be dead; all of this is best effort and its lock goes with it.
    if (unlock) await client.query('select pg_advisory_unlock_all()').catch(() => {});
    await client.end().catch(() => {});
  }

  function loseLeadership(reason: string, error?: unknown): void {
    if (leader) log.error({ err: error, reason }, 'lost the subscription lock; stopped handling');
    leader = false;
    void dropLockClient();
    interrupt?.();
  }

  async function tryToLead(): Promise<void> {
    if (!lockClient) {
      const client = await database.connect();
      // The lock lives as long as this session: a connection error means the lock may be gone.
      // A late error from an earlier, already dropped connection must not end a newer leadership.
      client.on('error', (error) => {
        if (lockClient === client) loseLeadership('lock connection error', error);
      });
      client.on('end', () => {
        if (lockClient === client) loseLeadership('lock connection ended');
      });
      lockClient = client;
      // Makes the server notice a vanished client within seconds (instead of the kernel's two hours),
      // releasing the lock for a standby: keepalives cover an idle connection, tcp_user_timeout one with
      // unacknowledged data in flight (a NOTIFY to a dead host would otherwise retransmit for ~15 min).
      // Ignored on Unix sockets.
      await client.query(
        'set tcp_keepalives_idle = 5; set tcp_keepalives_interval = 2; set tcp_keepalives_count = 3; ' +
          'set tcp_user_timeout = 11000',
      );
    }
    const client = lockClient;
    const { rows } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock(hashtextextended($1, 0)) as locked',
      [lockKey],
    );
    if (!rows[0]?.locked) return;
    client.on('notification', () => {
      notified = true;
      if (interruptOnNotify) interrupt?.();
    });
    await client.query(`listen ${client.escapeIdentifier(channel)}`);
    leader = true;
    heartbeat = setInterval(() => {
      checkLock(client).catch((error: unknown) => loseLeadership('lock connection heartbeat failed', error));
    }, heartbeatMs);
    heartbeat.unref();
    log.info('leading the subscription');
  }

  async function checkLock(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('heartbeat timed out')), heartbeatMs);
    });
    try {
      await Promise.race([client.query('select 1'), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function ensureCheckpoint(): Promise<Checkpoint> {
    await sql`insert into subscription_checkpoints (name) values (${name}) on conflict (name) do nothing`.execute(
      db,
    );
    return loadCheckpoint(db, name);
  }

  /** Moves the checkpoint from `from` to `to` unless someone else (a rebuild) moved it meanwhile. */
  async function moveCheckpoint(from: Checkpoint, to: Checkpoint): Promise<boolean> {
    const { rows } = await sql`
      update subscription_checkpoints
      set transaction_id = ${to.transactionId}::xid8, global_position = ${to.globalPosition}, updated_at = now()
      where name = ${name} and transaction_id = ${from.transactionId}::xid8 and global_position = ${from.globalPosition}
      returning name`.execute(db);
    return rows.length === 1;
  }

  /** Handles one batch; false when the persisted checkpoint is no longer `from`. */
  async function handleBatch(
    from: Checkpoint,
    to: Checkpoint,
    events: Parameters<SubscriptionOptions['handle']>[0],
  ): Promise<boolean> {
    if (options.mode === 'at-least-once') {
      await options.handle(events, undefined);
      return moveCheckpoint(from, to);
    }
    return db.transaction().execute(async (trx) => {
      // Locking the checkpoint row fences the batch: a rebuild or a former leader still finishing a
      // batch either committed before (we see the moved checkpoint and back off) or waits for us.
      const { rows } = await sql<CheckpointRow>`
        select transaction_id::text as transaction_id, global_position
        from subscription_checkpoints where name = ${name} for update`.execute(trx);
      if (compareCheckpoints(fromRow(rows[0]), from) !== 0) return false;
      await options.handle(events, trx);
      await sql`
        update subscription_checkpoints
        set transaction_id = ${to.transactionId}::xid8, global_position = ${to.globalPosition}, updated_at = now()
        where name = ${name}`.execute(trx);
      return true;
    });
  }

  async function lead(): Promise<void> {
    let checkpoint = await ensureCheckpoint();
    let failures = 0;
    /** The next wait while committed events are not readable yet (0: none pending). */
    let heldBackWait = 0;
    while (leader && !stopping) {
      try {
        notified = false;
        const { events, checkpoint: next, pending } = await store.readAll(checkpoint, readOptions);
        if (!leader || stopping) return;
        if (events.length === 0) {
          if (compareCheckpoints(next, checkpoint) > 0 && (await moveCheckpoint(checkpoint, next)))
            checkpoint = next;
          // Committed events not readable yet: an older transaction (anywhere in the cluster: the
          // horizon is the snapshot's xmin) still holds them back, for as long as it runs. Look again
          // soon, then less often (25 ms doubling to 1 s), rather than after a whole poll interval. The
          // read says so itself, so a leader that missed their notification (it took the lock after
          // they committed, or took it back after losing it) does not wait a poll interval either.
          heldBackWait = pending ? Math.min(Math.max(heldBackWait * 2, 25), 1_000) : 0;
          await pause(pending ? Math.min(heldBackWait, pollIntervalMs) : pollIntervalMs, true);
          // Picks up a checkpoint reset by a rebuild while idle.
          checkpoint = await loadCheckpoint(db, name);
          continue;
        }
        heldBackWait = 0;
        if (await handleBatch(checkpoint, next, events)) {
          checkpoint = next;
        } else {
          log.warn({ checkpoint }, 'checkpoint moved by another process; reloading it');
          checkpoint = await loadCheckpoint(db, name);
        }
        failures = 0;
      } catch (error) {
        failures += 1;
        const retryInMs = backoffMs(failures);
        log.error({ err: error, failures, retryInMs, checkpoint }, 'subscription batch failed; retrying');
        await pause(retryInMs, false);
      }
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      try {
        if (!leader) await tryToLead();
        if (leader) {
          await lead();
          failures = 0;
          // Lost the lock (not stopping): give a standby the first chance at it.
          if (!stopping) await pause(leaseRetryMs, false);
        } else {
          await pause(leaseRetryMs, false);
        }
      } catch (error) {
        // Cannot reach PostgreSQL or lost the lock session while leading: start over as a standby.
        failures += 1;
        const retryInMs = Math.max(leaseRetryMs, backoffMs(failures));
        log.warn({ err: error, retryInMs }, 'subscription lock attempt failed; retrying');
        loseLeadership('lock attempt failed', error);
        await pause(retryInMs, false);
      }
    }
  }

  return {
    async start() {
      if (started) return;
      started = true;
      stopping = false;
      starting = (async () => {
        // The first attempt happens before start() resolves, so a lone process is leading by then.
        try {
          await tryToLead();
        } catch (error) {
          log.warn({ err: error }, 'first subscription lock attempt failed; retrying');
          loseLeadership('first lock attempt failed', error);
        }
        if (stopping) return; // stop() came while we were taking the lock: it releases it.
        if (!leader) log.info('standing by');
        loop = run();
      })();
      await starting;
    },

    async stop() {
      if (!started) return;
      stopping = true;
      await starting;
      interrupt?.();
      // The current batch finishes: run() only returns between batches.
      await loop;
      leader = false;
      await dropLockClient(true);
      started = false;
      log.info('subscription stopped');
    },

    get isLeader() {
      return leader;
    },

    async checkpoint() {
      return loadCheckpoint(db, name);
    },

    async lag() {
      const { rows } = await sql<{ lag: number | string }>`
        select greatest(0, coalesce((select max(global_position) from events), 0)
          - coalesce((select global_position from subscription_checkpoints where name = ${name}), 0)) as lag`.execute(
        db,
      );
      return Number(rows[0]?.lag ?? 0);
    },
  };
}
