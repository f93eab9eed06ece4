/**
 * Evaluates the enabled alerts on the stored lines, every `intervalMs`, one replica at a time (a
 * session advisory lock per round). Out of the ingest path: it reads committed lines.
 *
 * Lines are read in commit-safe order, not by id: batches commit in any order, so a line committed
 * after a round with a lower id than that round read would be missed forever. Each batch's
 * transaction records the runs of ids it stored (`line_runs`, with its transaction id); a round takes
 * the runs after the alert's cursor `(transaction_id, position)` whose transaction is below its
 * snapshot's xmin (every transaction that could still add a run before the cursor has ended), then
 * counts the matching lines of those runs only, so a round costs the new lines, not the window.
 *
 * Per alert it keeps, in memory, the matching lines of the window counted per second of arrival. It
 * fires when the lines that match since the previous firing and arrived within the window reach the
 * threshold: it appends `logs.alert_fired` against the alert's version (a change or a firing by
 * another replica in between is a conflict; the state is then rebuilt) and, in the same transaction,
 * moves the alert's cursor (`alert_cursors`) past the runs it counted. The state is rebuilt from that
 * cursor whenever the alert's version moves, so a restart or another replica taking over rescans at
 * most one window.
 */
import { inTransaction, sql, type Database, type Executor } from '@veche/db';
import { isVecheError } from '@veche/errors';
import type { EventStore } from '@veche/event-store';
import { logAlertEventTypes as A, type LogAlertFilter } from '@veche/contracts';
import type { Logger } from '@veche/log';
import type { SelectQueryBuilder } from 'kysely';
import { alertStream } from '../domain/events.ts';
import { cleanFilter } from '../api/alerts-api.ts';
import type { LogsTables } from '../tables.ts';

export interface EvaluatorOptions {
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
  intervalMs: number;
}

export interface Evaluator {
  start(): void;
  /** One round now (tests; also what the timer runs). Returns the alerts that fired. */
  runOnce(): Promise<string[]>;
  stop(): Promise<void>;
}

interface Bucket {
  count: number;
  first: Date;
  last: Date;
}

interface Cursor {
  /** xid8 as decimal text. */
  transactionId: string;
  position: string;
}

interface Sample {
  id: number;
  createdAt: Date;
  receivedAt: Date;
  hostname: string | null;
  fileName: string;
  message: string;
}

interface AlertState {
  version: number;
  /** The runs up to this one were read (commit-safe order). */
  cursor: Cursor;
  /** Matching lines per second of arrival (epoch seconds). */
  buckets: Map<number, Bucket>;
  /** The newest matching line's id (what `upToLineId` reports). */
  upTo: number;
  /** The newest matching lines read (by id, newest first; at most five). */
  samples: Sample[];
}

/** Runs read per alert and round at most (the next round goes on from there). */
const runsPerRound = 2_000;

const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The alert's saved search as conditions on `log_lines`. */
export function whereFilter<O>(
  query: SelectQueryBuilder<LogsTables, 'log_lines', O>,
  filter: LogAlertFilter,
): SelectQueryBuilder<LogsTables, 'log_lines', O> {
  let q = query;
  if (filter.senderIp !== undefined) q = q.where('sender_ip', '=', filter.senderIp);
  if (filter.fileName !== undefined) q = q.where('file_name', '=', filter.fileName);
  if (filter.hostname !== undefined) q = q.where('hostname', '=', filter.hostname);
  if (filter.severity !== undefined) q = q.where('severity', '<=', filter.severity);
  if (filter.q !== undefined) q = q.where('message', 'ilike', `%${escapeLike(filter.q)}%`);
  return q;
}

/** Ranges of ids of the runs, adjacent ones merged, with their arrival span (ms). */
export function mergedRanges(
  runs: readonly {
    first_id: number;
    last_id: number;
    received_from: Date | string;
    received_to: Date | string;
  }[],
): { first: number; last: number; from: number; to: number }[] {
  const sorted = runs
    .map((r) => ({
      first: Number(r.first_id),
      last: Number(r.last_id),
      from: new Date(r.received_from).getTime(),
      to: new Date(r.received_to).getTime(),
    }))
    .sort((a, b) => a.first - b.first);
  const out: { first: number; last: number; from: number; to: number }[] = [];
  for (const range of sorted) {
    const previous = out.at(-1);
    if (previous && range.first <= previous.last + 1) {
      previous.last = Math.max(previous.last, range.last);
      previous.from = Math.min(previous.from, range.from);
      previous.to = Math.max(previous.to, range.to);
    } else out.push({ ...range });
  }
  return out;
}

/**
 * A new alert's cursor: the runs of every transaction still running or yet to come are after it
 * (below the snapshot's xmin every transaction has ended; those lines are before the alert).
 */
export async function startCursor(executor: Executor<unknown>, alertId: string): Promise<void> {
  await sql`
    insert into alert_cursors (alert_id, transaction_id, position)
    values (${alertId}, pg_snapshot_xmin(pg_current_snapshot()), 0)
    on conflict (alert_id) do nothing`.execute(executor);
}

async function saveCursor(executor: Executor<unknown>, alertId: string, cursor: Cursor): Promise<void> {
  await sql`
    insert into alert_cursors (alert_id, transaction_id, position)
    values (${alertId}, ${cursor.transactionId}::xid8, ${cursor.position}::int8)
    on conflict (alert_id) do update set transaction_id = excluded.transaction_id, position = excluded.position`.execute(
    executor,
  );
}

export function createEvaluator(options: EvaluatorOptions): Evaluator {
  const { database, store } = options;
  const db = database.db.$extendTables<LogsTables>();
  const log = options.log.child({ component: 'logs-alerts' });
  const states = new Map<string, AlertState>();
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> | undefined;
  let stopped = false;

  /** Rounds of this process run one after another (a test's round waits for the timer's). */
  let chain: Promise<unknown> = Promise.resolve();
  function runOnce(): Promise<string[]> {
    const next = chain.then(round, round);
    chain = next.catch(() => undefined);
    return next;
  }

  async function round(): Promise<string[]> {
    const client = await database.pool.connect();
    const fired: string[] = [];
    try {
      const lock = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtext($1)) as ok', [
        `${database.schema}.alerts`,
      ]);
      if (!lock.rows[0]?.ok) return fired;
      try {
        const alerts = await db
          .selectFrom('alerts as a')
          .innerJoin('sources as s', 's.source_id', 'a.source_id')
          .selectAll('a')
          .select('s.name as source_name')
          .where('a.enabled', '=', true)
          .execute();
        const live = new Set(alerts.map((a) => a.alert_id));
        for (const id of states.keys()) if (!live.has(id)) states.delete(id);
        await sql`delete from alert_cursors c where not exists (select from alerts a where a.alert_id = c.alert_id)`.execute(
          database.db,
        );
        for (const alert of alerts) {
          if (stopped) break;
          try {
            if (await evaluate(alert)) fired.push(alert.alert_id);
          } catch (error) {
            states.delete(alert.alert_id);
            if (isVecheError(error, 'conflict')) continue;
            log.error({ err: error, alertId: alert.alert_id }, 'alert evaluation failed');
          }
        }
      } finally {
        await client.query('select pg_advisory_unlock(hashtext($1))', [`${database.schema}.alerts`]);
      }
    } finally {
      client.release();
    }
    return fired;
  }

  async function cursorOf(alertId: string): Promise<Cursor> {
    const read = () =>
      db
        .selectFrom('alert_cursors')
        .select(sql<string>`transaction_id::text`.as('transaction_id'))
        .select(sql<string>`position::text`.as('position'))
        .where('alert_id', '=', alertId)
        .executeTakeFirst();
    let row = await read();
    if (!row) {
      // An alert made before cursors were kept, or a rebuilt projection: it watches from now on.
      await startCursor(database.db, alertId);
      row = await read();
    }
    return { transactionId: row!.transaction_id, position: row!.position };
  }

  async function evaluate(alert: {
    alert_id: string;
    version: number;
    source_id: string;
    owner_id: string;
    name: string;
    source_name: string;
    filter: Record<string, unknown>;
    threshold: number;
    window_seconds: number;
    cool_down_seconds: number;
    fired_up_to_id: number;
  }): Promise<boolean> {
    const filter = cleanFilter(alert.filter);
    let state = states.get(alert.alert_id);
    if (!state || state.version !== alert.version) {
      state = {
        version: alert.version,
        cursor: await cursorOf(alert.alert_id),
        buckets: new Map(),
        upTo: Number(alert.fired_up_to_id),
        samples: [],
      };
      states.set(alert.alert_id, state);
    }
    const windowStart = new Date(Date.now() - alert.window_seconds * 1000);
    const runs = await db
      .selectFrom('line_runs')
      .select(['position', 'first_id', 'last_id', 'received_from', 'received_to'])
      .select(sql<string>`transaction_id::text`.as('tx'))
      .where('source_id', '=', alert.source_id)
      .where(
        sql<boolean>`(transaction_id, position) > (${state.cursor.transactionId}::xid8, ${state.cursor.position}::int8)`,
      )
      .where(sql<boolean>`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`)
      // By the xid8 column itself (its text would sort 10 before 9).
      .orderBy('line_runs.transaction_id')
      .orderBy('line_runs.position')
      .limit(runsPerRound)
      .execute();
    const last = runs.at(-1);
    if (last) {
      const ranges = mergedRanges(runs.filter((r) => new Date(r.received_to) >= windowStart));
      if (ranges.length > 0) {
        const from = new Date(Math.min(...ranges.map((r) => r.from)));
        const to = new Date(Math.max(...ranges.map((r) => r.to)));
        const lines = () =>
          whereFilter(
            db
              .selectFrom('log_lines')
              .where('source_id', '=', alert.source_id)
              .where((eb) => eb.or(ranges.map((r) => eb.between('id', r.first, r.last))))
              // The runs' arrival span: only their partitions are read.
              .where('received_at', '>=', from > windowStart ? from : windowStart)
              .where('received_at', '<=', to),
            filter,
          );
        const rows = await lines()
          .select((eb) => [
            eb.fn.countAll<number>().as('n'),
            eb.fn.min('received_at').as('first'),
            eb.fn.max('received_at').as('last'),
            eb.fn.max('id').as('up_to'),
          ])
          .select((eb) =>
            eb
              .fn<number>('floor', [eb.fn('date_part', [eb.val('epoch'), eb.ref('received_at')])])
              .as('second'),
          )
          .groupBy('second')
          .execute();
        for (const row of rows) {
          const second = Number(row.second);
          const bucket = state.buckets.get(second);
          const first = new Date(row.first);
          const last = new Date(row.last);
          if (bucket) {
            bucket.count += Number(row.n);
            if (first < bucket.first) bucket.first = first;
            if (last > bucket.last) bucket.last = last;
          } else state.buckets.set(second, { count: Number(row.n), first, last });
          state.upTo = Math.max(state.upTo, Number(row.up_to));
        }
        if (rows.length > 0) {
          const newest = await lines()
            .select(['id', 'created_at', 'received_at', 'hostname', 'file_name', 'message'])
            .orderBy('id', 'desc')
            .limit(5)
            .execute();
          state.samples = [
            ...state.samples,
            ...newest.map((s) => ({
              id: Number(s.id),
              createdAt: new Date(s.created_at),
              receivedAt: new Date(s.received_at),
              hostname: s.hostname,
              fileName: s.file_name,
              message: s.message,
            })),
          ]
            .sort((a, b) => b.id - a.id)
            .slice(0, 5);
        }
      }
      state.cursor = { transactionId: last.tx, position: String(last.position) };
    }
    const oldest = Math.floor(Date.now() / 1000) - alert.window_seconds;
    let matches = 0;
    let firstMatch: Date | undefined;
    let lastMatch: Date | undefined;
    for (const [second, bucket] of state.buckets) {
      if (second < oldest) {
        state.buckets.delete(second);
        continue;
      }
      matches += bucket.count;
      if (!firstMatch || bucket.first < firstMatch) firstMatch = bucket.first;
      if (!lastMatch || bucket.last > lastMatch) lastMatch = bucket.last;
    }
    if (matches < alert.threshold || !firstMatch || !lastMatch) return false;
    const samples = state.samples.filter((s) => s.receivedAt >= windowStart);
    const cursor = state.cursor;
    await inTransaction(database.db, async (trx) => {
      await store.append(
        alertStream(alert.alert_id),
        [
          {
            type: A.alertFired,
            data: {
              alertId: alert.alert_id,
              alertName: alert.name,
              sourceId: alert.source_id,
              sourceName: alert.source_name,
              ownerId: alert.owner_id,
              filter,
              threshold: alert.threshold,
              windowSeconds: alert.window_seconds,
              coolDownSeconds: alert.cool_down_seconds,
              matches,
              firstMatchAt: firstMatch.toISOString(),
              lastMatchAt: lastMatch.toISOString(),
              firedAt: new Date().toISOString(),
              upToLineId: String(state.upTo),
              samples: samples.map((s) => ({
                id: String(s.id),
                createdAt: s.createdAt.toISOString(),
                hostname: s.hostname === null ? null : s.hostname.slice(0, 255),
                fileName: s.fileName.slice(0, 255),
                message: s.message.slice(0, 1_000),
              })),
            },
          },
        ],
        { expectedVersion: alert.version, actor: 'service:log-listener', trx },
      );
      // The next firing counts the runs after the ones this one counted.
      await saveCursor(trx, alert.alert_id, cursor);
    });
    // The projection moved the version: the next round starts afresh after this firing's lines.
    states.delete(alert.alert_id);
    log.info({ alertId: alert.alert_id, sourceId: alert.source_id, matches }, 'alert fired');
    return true;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      current = runOnce()
        .catch((error: unknown) => log.error({ err: error }, 'alert round failed'))
        .finally(schedule);
    }, options.intervalMs);
    timer.unref();
  }

  return {
    start() {
      stopped = false;
      schedule();
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
