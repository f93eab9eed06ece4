/**
 * The event store: group-committed appends with optimistic concurrency and inline projections, stream
 * reads, and the commit-safe read of the whole log that subscriptions follow.
 */

import { pgErrorCode, pgErrorCodes, sql, type Database, type Kysely, type Transaction } from '@veche/db';
import { unavailable } from '@veche/errors';
import { componentLogger, currentCorrelationId, currentTraceparent, inSpan } from '@veche/log';
import { eventsAppended } from '@veche/metrics';
import {
  encodeEvents,
  encodeExpectedVersion,
  prepareEvents,
  takeBatch,
  validateStreamId,
  versionConflict,
  type EncodedExpectation,
  type PreparedEvent,
} from './append-plan.ts';
import { compareCheckpoints } from './checkpoint.ts';
import { uuidV7 } from './uuid-v7.ts';
import type {
  AppendOptions,
  AppendResult,
  Checkpoint,
  EventMetadata,
  EventStore,
  EventStoreOptions,
  InlineProjection,
  NewEvent,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
} from './types.ts';

type Executor = Kysely<unknown> | Transaction<unknown>;

interface AppendRow {
  append_index: number;
  appended: boolean;
  previous_version: number | string;
  positions: (number | string)[] | null;
  transaction_id: string | null;
  recorded_at: Date | null;
}

interface EventRow {
  global_position: number | string;
  transaction_id: string;
  stream_id: string;
  stream_version: number | string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
}

interface AppendRequest {
  streamId: string;
  eventCount: number;
  options: AppendOptions;
  expected: EncodedExpectation;
  events: PreparedEvent[];
}

interface PendingAppend extends AppendRequest {
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; result: AppendResult } | { ok: false; error: unknown };

const defaultReadLimit = 1_000;
const deadlockRetries = 5;

/**
 * An event's whole metadata as a SQL expression over its row `alias` of events: the row's own part on
 * top of its append's shared part (migration 004), or the row's alone for rows that hold all of it.
 * A subquery per row returned, so the ordered scans and limits of the reads keep their plans.
 */
export function eventMetadata(alias: 'e' | 't'): ReturnType<typeof sql.raw> {
  const row = sql.raw(alias);
  return sql<EventMetadata>`case when ${row}.shared_id is null then ${row}.metadata
    else coalesce((select s.metadata from event_shared_metadata s where s.shared_id = ${row}.shared_id), '{}')
         || ${row}.metadata end`;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    eventId: row.metadata.eventId,
    type: row.type,
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    globalPosition: Number(row.global_position),
    transactionId: row.transaction_id,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
  };
}

/** Where an append runs: a caller's (or a projection's) transaction, or autocommit on the pool. */
type AppendExecutor = Executor | Database['pool'];

/**
 * The append functions as named prepared statements: on the pool's connections (autocommit appends,
 * the hot path) each is parsed and planned once per connection instead of once per call, and kysely's
 * query building is skipped. In a transaction they go through kysely like every other statement.
 */
const appendOneStatement = {
  name: 'veche_event_store_append_one_shared',
  text: 'select append_index, appended, previous_version, positions, transaction_id, recorded_at from event_store_append_one_shared($1, $2, $3::bigint, $4::jsonb, $5::jsonb)',
};
const appendManyStatement = {
  name: 'veche_event_store_append',
  text: 'select append_index, appended, previous_version, positions, transaction_id, recorded_at from event_store_append($1::jsonb)',
};

/**
 * One call of the append function for several appends: one statement, so one round trip. A batch of
 * one append takes the function made for it (no batch machinery on the server).
 */
async function callAppendFunction(
  executor: AppendExecutor,
  requests: readonly AppendRequest[],
): Promise<AppendRow[]> {
  const onPool = 'totalCount' in executor;
  const [only] = requests;
  if (only && requests.length === 1) {
    const { shared, events } = encodeEvents(only.events);
    // Null when every event has metadata of its own: no shared row is written then.
    const sharedJson = events.some((event) => 'i' in event) ? JSON.stringify(shared) : null;
    const values = [only.streamId, only.expected.k, only.expected.v, sharedJson, JSON.stringify(events)];
    if (onPool) return (await executor.query<AppendRow>({ ...appendOneStatement, values })).rows;
    const { rows } = await sql<AppendRow>`
      select * from event_store_append_one_shared(${values[0]}, ${values[1]}, ${values[2]}::bigint,
                                                  ${values[3]}::jsonb, ${values[4]}::jsonb)`.execute(
      executor,
    );
    return rows;
  }
  const payload = JSON.stringify(
    requests.map((request) => ({
      s: request.streamId,
      k: request.expected.k,
      v: request.expected.v,
      e: request.events.map((event) => ({ t: event.type, d: event.data, m: event.metadata })),
    })),
  );
  if (onPool) return (await executor.query<AppendRow>({ ...appendManyStatement, values: [payload] })).rows;
  const { rows } = await sql<AppendRow>`select * from event_store_append(${payload}::jsonb)`.execute(
    executor,
  );
  return rows;
}

function outcomesOf(requests: readonly AppendRequest[], rows: readonly AppendRow[]): Outcome[] {
  const byIndex = new Map(rows.map((row) => [row.append_index, row]));
  return requests.map((request, index): Outcome => {
    const row = byIndex.get(index);
    if (!row)
      return { ok: false, error: new Error(`The append function returned no row for append ${index}`) };
    const previous = Number(row.previous_version);
    if (!row.appended) {
      return {
        ok: false,
        error: versionConflict(request.streamId, request.options.expectedVersion ?? 'any', previous),
      };
    }
    const positions = row.positions ?? [];
    const events = request.events.map((event, i): RecordedEvent => ({
      eventId: event.metadata.eventId,
      type: event.type,
      streamId: request.streamId,
      streamVersion: previous + i + 1,
      globalPosition: Number(positions[i]),
      transactionId: row.transaction_id ?? '0',
      data: event.data,
      metadata: event.metadata,
      recordedAt: row.recorded_at ?? new Date(),
    }));
    return { ok: true, result: { nextVersion: previous + request.events.length, events } };
  });
}

/** Errors after which PostgreSQL surely committed nothing: it rejected the statement itself. */
function rejectedByServer(error: unknown): boolean {
  const code = pgErrorCode(error);
  if (code === undefined || !/^[0-9A-Z]{5}$/.test(code)) return false;
  // Connection loss, shutdown, resource exhaustion and internal errors leave the outcome unknown.
  return !['08', '57', '53', '58', 'XX'].includes(code.slice(0, 2));
}

class ProjectionFailure extends Error {
  constructor(projection: string, cause: unknown) {
    super(`Inline projection ${projection} failed`, { cause });
    this.name = 'ProjectionFailure';
  }
}

export function createEventStore(options: EventStoreOptions): EventStore {
  const { database } = options;
  const db = database.db;
  const log = componentLogger(options.log, 'event-store', { schema: database.schema });
  const projections = options.inlineProjections ?? [];
  const maxAppends = Math.max(1, options.maxBatchSize ?? 256);
  const maxEvents = Math.max(1, options.maxBatchEvents ?? 10_000);
  const maxWriters = Math.max(1, options.maxConcurrentBatches ?? 2);
  const metadataSources = {
    now: () => new Date(),
    newId: () => uuidV7(),
    ambientCorrelationId: currentCorrelationId,
    ambientTraceparent: currentTraceparent,
  };

  let queue: PendingAppend[] = [];
  const busyStreams = new Set<string>();
  let writers = 0;
  let closed = false;
  let idle: (() => void) | undefined;
  let closing: Promise<void> | undefined;

  const wants = (projection: InlineProjection, type: string): boolean =>
    projection.eventTypes === undefined || projection.eventTypes.includes(type);

  async function applyProjections(
    trx: Transaction<unknown>,
    events: readonly RecordedEvent[],
  ): Promise<void> {
    const ordered = [...events].sort((a, b) => a.globalPosition - b.globalPosition);
    for (const projection of projections) {
      const selected = ordered.filter((event) => wants(projection, event.type));
      if (selected.length === 0) continue;
      try {
        await projection.apply(trx, selected);
      } catch (error) {
        throw new ProjectionFailure(projection.name, error);
      }
    }
  }

  const concernsProjections = (requests: readonly AppendRequest[]): boolean =>
    projections.length > 0 &&
    requests.some((request) =>
      request.events.some((event) => projections.some((projection) => wants(projection, event.type))),
    );

  /** Appends a batch in one transaction, retrying deadlocks; the outcome of each append, in order. */
  async function writeOnce(requests: readonly AppendRequest[]): Promise<Outcome[]> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        if (!concernsProjections(requests)) {
          // Autocommit: the function call is the whole transaction, commit included.
          return outcomesOf(requests, await callAppendFunction(database.pool, requests));
        }
        return await db.transaction().execute(async (trx) => {
          const outcomes = outcomesOf(requests, await callAppendFunction(trx, requests));
          await applyProjections(
            trx,
            outcomes.flatMap((outcome) => (outcome.ok ? outcome.result.events : [])),
          );
          return outcomes;
        });
      } catch (error) {
        if (pgErrorCode(error) === pgErrorCodes.deadlockDetected && attempt < deadlockRetries) {
          log.warn({ attempt, appends: requests.length }, 'append batch deadlocked; retrying');
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * A batch that fails as a whole (an inline projection throws, PostgreSQL rejects one append's data)
   * is retried one append at a time, so only the guilty append fails. One by one, in order, so a
   * stream's appends keep their order.
   */
  async function writeBatch(batch: readonly PendingAppend[]): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await writeOnce(batch);
    } catch (error) {
      const isolatable = error instanceof ProjectionFailure || rejectedByServer(error);
      if (batch.length > 1 && isolatable) {
        log.warn({ err: error, appends: batch.length }, 'append batch failed; appending one by one');
        for (const item of batch) await writeBatch([item]);
        return;
      }
      if (!(error instanceof ProjectionFailure) && !rejectedByServer(error)) {
        log.error({ err: error, appends: batch.length }, 'append batch failed');
      }
      const cause = error instanceof ProjectionFailure ? error.cause : error;
      for (const item of batch) item.reject(cause);
      return;
    }
    let appended = 0;
    outcomes.forEach((outcome, index) => {
      const item = batch[index];
      if (!item) return;
      if (outcome.ok) {
        appended += outcome.result.events.length;
        item.resolve(outcome.result);
      } else item.reject(outcome.error);
    });
    eventsAppended.inc(appended);
  }

  function pump(): void {
    while (writers < maxWriters && queue.length > 0) {
      const { batch, rest } = takeBatch(queue, busyStreams, { maxAppends, maxEvents });
      if (batch.length === 0) return;
      queue = rest;
      for (const item of batch) busyStreams.add(item.streamId);
      writers += 1;
      writeBatch(batch)
        .catch((error: unknown) => {
          // writeBatch settles every append itself; this is a bug guard, never the normal path.
          log.error({ err: error }, 'append writer failed');
          for (const item of batch) item.reject(error);
        })
        .finally(() => {
          for (const item of batch) busyStreams.delete(item.streamId);
          writers -= 1;
          pump();
          if (writers === 0 && queue.length === 0) idle?.();
        });
    }
  }

  async function appendInTransaction(
    trx: Transaction<unknown>,
    request: AppendRequest,
  ): Promise<AppendResult> {
    const [outcome] = outcomesOf([request], await callAppendFunction(trx, [request]));
    if (!outcome) throw new Error('The append function returned nothing');
    if (!outcome.ok) throw outcome.error;
    if (concernsProjections([request])) {
      try {
        await applyProjections(trx, outcome.result.events);
      } catch (error) {
        throw error instanceof ProjectionFailure ? error.cause : error;
      }
    }
    // In the caller's transaction: counted now, although that transaction may still roll back.
    eventsAppended.inc(outcome.result.events.length);
    return outcome.result;
  }

  async function readAll(
    after: Checkpoint,
    readOptions: { limit?: number; eventTypes?: readonly string[] } = {},
  ): Promise<ReadAllResult> {
    const limit = Math.max(1, readOptions.limit ?? defaultReadLimit);
    const types = readOptions.eventTypes;
    const afterCheckpoint = sql`(${after.transactionId}::xid8, ${after.globalPosition}::bigint)`;
    const ofTypes = (alias: 'e' | 'p') =>
      types ? sql`and ${sql.ref(`${alias}.type`)} = any(${[...types]}::text[])` : sql``;
    // The horizon: every transaction below the snapshot's xmin has ended, so no row can still appear
    // below it. One statement, one snapshot: the horizon and the rows read agree. Besides the events:
    // with a type filter, the last row of any type below the horizon (the checkpoint then moves past
    // events the reader does not want instead of scanning them again on every read); and whether a
    // committed event waits at or above the horizon (the snapshot sees only committed rows), so that
    // the reader looks again soon rather than at its next notification or poll.
    const tail = types
      ? sql`union all (
          select 'tail' as kind, t.global_position, t.transaction_id::text as transaction_id,
                 null, null, null, null::jsonb, null::jsonb, null::timestamptz
          from events t
          where (t.transaction_id, t.global_position) > ${afterCheckpoint}
            and t.transaction_id < (select xmin from horizon)
          order by t.transaction_id desc, t.global_position desc
          limit 1)`
      : sql``;
    const { rows } = await sql<EventRow & { kind: 'event' | 'tail' | 'pending' }>`
      with horizon as materialized (select pg_snapshot_xmin(pg_current_snapshot()) as xmin)
      (select 'event' as kind, e.global_position, e.transaction_id::text as transaction_id, e.stream_id,
              e.stream_version, e.type, e.data, ${eventMetadata('e')} as metadata, e.recorded_at
       from events e
       where (e.transaction_id, e.global_position) > ${afterCheckpoint}
         and e.transaction_id < (select xmin from horizon)
         ${ofTypes('e')}
       order by e.transaction_id, e.global_position
       limit ${limit})
      ${tail}
      union all (
        select 'pending', null, null, null, null, null, null::jsonb, null::jsonb, null::timestamptz
        from events p
        where p.transaction_id >= (select xmin from horizon)
          and (p.transaction_id, p.global_position) > ${afterCheckpoint}
          ${ofTypes('p')}
        limit 1)`.execute(db);
    const events = rows
      .filter((row) => row.kind === 'event')
      .map(toRecordedEvent)
      .sort((a, b) => compareCheckpoints(a, b));
    const last = events.at(-1);
    let checkpoint: Checkpoint = last
      ? { transactionId: last.transactionId, globalPosition: last.globalPosition }
      : after;
    const tailRow = rows.find((row) => row.kind === 'tail');
    if (tailRow && events.length < limit) {
      const scanned = {
        transactionId: tailRow.transaction_id,
        globalPosition: Number(tailRow.global_position),
      };
      if (compareCheckpoints(scanned, checkpoint) > 0) checkpoint = scanned;
    }
    const pending = rows.some((row) => row.kind === 'pending');
    return { events, checkpoint, pending };
  }

  async function appendNow(
    streamId: string,
    events: readonly NewEvent[],
    appendOptions: AppendOptions,
  ): Promise<AppendResult> {
    validateStreamId(streamId);
    const expectedVersion = appendOptions.expectedVersion ?? 'any';
    const request: AppendRequest = {
      streamId,
      eventCount: events.length,
      options: appendOptions,
      expected: encodeExpectedVersion(expectedVersion),
      events: prepareEvents(events, appendOptions, metadataSources),
    };
    if (appendOptions.trx) return appendInTransaction(appendOptions.trx, request);
    if (closed) throw unavailable('The event store is closed');
    return new Promise<AppendResult>((resolve, reject) => {
      queue.push({ ...request, resolve, reject });
      pump();
    });
  }

  return {
    append(streamId: string, events: readonly NewEvent[], appendOptions: AppendOptions = {}) {
      // One span per append; its trace context goes into each event's metadata (traceparent), so the
      // relays and consumers continue the trace of the request that appended.
      return inSpan(
        'event-store append',
        { attributes: { 'veche.stream_id': streamId, 'veche.events': events.length } },
        () => appendNow(streamId, events, appendOptions),
      );
    },

    async readStream(streamId: string, readOptions: ReadStreamOptions = {}) {
      const from = readOptions.fromVersion ?? 1;
      const limit = readOptions.limit === undefined ? sql`` : sql`limit ${readOptions.limit}`;
      const { rows } = await sql<EventRow>`
        select e.global_position, e.transaction_id::text as transaction_id, e.stream_id, e.stream_version,
               e.type, e.data, ${eventMetadata('e')} as metadata, e.recorded_at
        from events e
        where e.stream_id = ${streamId} and e.stream_version >= ${from}
        order by e.stream_version
        ${limit}`.execute(db);
      return rows.map(toRecordedEvent);
    },

    async streamVersion(streamId: string) {
      const { rows } = await sql<{ version: number | string }>`
        select version from streams where stream_id = ${streamId}`.execute(db);
      return Number(rows[0]?.version ?? 0);
    },

    readAll,

    async close() {
      closed = true;
      if (writers === 0 && queue.length === 0) return;
      // Every caller waits for the same moment (a second close() must not replace the first's waiter).
      closing ??= new Promise<void>((resolve) => {
        idle = resolve;
      });
      await closing;
    },
  };
}
