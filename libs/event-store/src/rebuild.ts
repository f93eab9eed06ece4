/**
 * Rebuilding a service's read models from its event log: in one transaction that first locks the
 * `streams` table against appends (appends under way finish first, new ones wait until the commit),
 * every projection empties its tables, then every event is replayed through the same `apply` the
 * appends use, in log order. Readers keep seeing the old read models until the commit, so the API
 * answers throughout; writers wait. `bin/rebuild-read-models.ts` is the command around it.
 */
import { sql, type Database, type Transaction } from '@veche/db';
import { eventMetadata } from './event-store.ts';
import type { EventMetadata, InlineProjection, RecordedEvent } from './types.ts';

/**
 * A service's read models, as its projections module exports them (`export const readModels`): a
 * list, or a function of the service's schema for projections that need it.
 */
export type ReadModels =
  readonly InlineProjection[] | ((context: { schema: string }) => readonly InlineProjection[]);

export interface RebuildOptions {
  database: Database<unknown>;
  projections: readonly InlineProjection[];
  /** Events read and applied per round (default 1,000). */
  batchSize?: number;
  /** After each round: how many events have been replayed so far, and up to which position. */
  onProgress?: (progress: { events: number; position: number }) => void;
}

export interface RebuildResult {
  events: number;
  projections: string[];
}

interface EventRow {
  global_position: string | number;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
  transaction_id: string;
}

const toRecorded = (row: EventRow): RecordedEvent => ({
  eventId: row.metadata.eventId,
  type: row.type,
  streamId: row.stream_id,
  streamVersion: Number(row.stream_version),
  globalPosition: Number(row.global_position),
  transactionId: row.transaction_id,
  data: row.data,
  metadata: row.metadata,
  recordedAt: row.recorded_at,
});

async function replay(
  trx: Transaction<unknown>,
  projections: readonly InlineProjection[],
  options: Pick<RebuildOptions, 'batchSize' | 'onProgress'>,
): Promise<number> {
  const batchSize = options.batchSize ?? 1_000;
  let after = 0;
  let total = 0;
  for (;;) {
    // Position order: appends to one stream are serialised, so each stream replays in version order.
    const { rows } = await sql<EventRow>`
      select e.global_position, e.stream_id, e.stream_version, e.type, e.data, ${eventMetadata('e')} as metadata,
             e.recorded_at, e.transaction_id::text as transaction_id
      from events e where e.global_position > ${after} order by e.global_position limit ${batchSize}`.execute(
      trx,
    );
    if (rows.length === 0) return total;
    const events = rows.map(toRecorded);
    for (const projection of projections) {
      const wanted = projection.eventTypes;
      const mine = wanted ? events.filter((event) => wanted.includes(event.type)) : events;
      if (mine.length > 0) await projection.apply(trx, mine);
    }
    total += events.length;
    after = events.at(-1)?.globalPosition ?? after;
    options.onProgress?.({ events: total, position: after });
  }
}

/** Empties every projection's tables and replays the whole log through them, atomically. */
export async function rebuildReadModels(options: RebuildOptions): Promise<RebuildResult> {
  const { database, projections } = options;
  const events = await database.db.transaction().execute(async (trx) => {
    await sql`lock table streams in exclusive mode`.execute(trx);
    for (const projection of projections) await projection.reset(trx);
    return replay(trx, projections, options);
  });
  return { events, projections: projections.map((projection) => projection.name) };
}
