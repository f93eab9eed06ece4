/**
 * Evaluates the enabled alerts on the stored lines, every `intervalMs`, one replica at a time (a
 * session advisory lock per round). Out of the ingest path: it reads committed lines by id.
 *
 * Per alert it keeps, in memory, the matching lines of the window counted per second of arrival, and
 * each round reads only the lines committed since its last round (ids above its cursor, up to the
 * source's newest id read first), so a round costs the new lines, not the window. It fires when the
 * lines that match since the previous firing and arrived within the window reach the threshold: it
 * appends `logs.alert_fired` against the alert's version (a change or a firing by another replica in
 * between is a conflict; the state is then rebuilt from the projection). The state is rebuilt from
 * `fired_up_to_id` whenever the alert's version moves, so a restart or another replica taking over
 * rescans at most one window.
 */
import type { Database } from '@veche/db';
import { isVecheError } from '@veche/errors';
import type { EventStore } from '@veche/event-store';
import { logAlertEventTypes as A, type LogAlertFilter } from '@veche/contracts';
import type { Logger } from '@veche/log';
import type { ExpressionBuilder, SelectQueryBuilder } from 'kysely';
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

interface AlertState {
  version: number;
  /** Lines up to this id were read. */
  scannedUpTo: number;
  /** Matching lines per second of arrival (epoch seconds). */
  buckets: Map<number, Bucket>;
  upTo: number;
}

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
        scannedUpTo: Number(alert.fired_up_to_id),
        buckets: new Map(),
        upTo: Number(alert.fired_up_to_id),
      };
      states.set(alert.alert_id, state);
    }
    const newest = await db
      .selectFrom('log_lines')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('source_id', '=', alert.source_id)
      .executeTakeFirst();
    const newestId = Number(newest?.id ?? 0);
    const windowStart = (eb: ExpressionBuilder<LogsTables, 'log_lines'>) =>
      eb('received_at', '>=', new Date(Date.now() - alert.window_seconds * 1000));
    if (newestId > state.scannedUpTo) {
      const rows = await whereFilter(
        db
          .selectFrom('log_lines')
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
          .where('source_id', '=', alert.source_id)
          .where('id', '>', state.scannedUpTo)
          .where('id', '<=', newestId)
          .where(windowStart),
        filter,
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
      state.scannedUpTo = newestId;
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
    const samples = await whereFilter(
      db
        .selectFrom('log_lines')
        .select(['id', 'created_at', 'hostname', 'file_name', 'message'])
        .where('source_id', '=', alert.source_id)
        .where('id', '>', Number(alert.fired_up_to_id))
        .where('id', '<=', state.upTo)
        .where(windowStart),
      filter,
    )
      .orderBy('id', 'desc')
      .limit(5)
      .execute();
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
              createdAt: new Date(s.created_at).toISOString(),
              hostname: s.hostname === null ? null : s.hostname.slice(0, 255),
              fileName: s.file_name.slice(0, 255),
              message: s.message.slice(0, 1_000),
            })),
          },
        },
      ],
      { expectedVersion: alert.version, actor: 'service:log-listener' },
    );
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
