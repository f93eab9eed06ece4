/**
 * Rebuilds the gateway's read models from the event log: in one transaction that first locks the
 * `streams` table against appends (in-flight appends finish, new ones wait), empties the read models
 * and replays every event through the same inline projection the appends use.
 */
import { sql, type Database } from '@veche/db';
import type { RecordedEvent } from '@veche/event-store';
import { accountsProjection, resetAccounts } from './projections/accounts.ts';

interface EventRow {
  global_position: number;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
  recorded_at: Date;
  transaction_id: string;
}

export async function rebuildReadModels(
  database: Database<unknown>,
  batchSize = 1_000,
): Promise<{ events: number }> {
  return database.db.transaction().execute(async (trx) => {
    await sql`lock table streams in exclusive mode`.execute(trx);
    await resetAccounts(trx);
    let after = 0;
    let total = 0;
    for (;;) {
      const { rows } = await sql<EventRow>`
        select global_position, stream_id, stream_version, type, data, metadata, recorded_at, transaction_id::text
        from events where global_position > ${after} order by global_position limit ${batchSize}`.execute(
        trx,
      );
      if (rows.length === 0) break;
      const events: RecordedEvent[] = rows.map((r) => ({
        eventId: r.metadata.eventId,
        type: r.type,
        streamId: r.stream_id,
        streamVersion: Number(r.stream_version),
        globalPosition: Number(r.global_position),
        transactionId: r.transaction_id,
        data: r.data,
        metadata: r.metadata,
        recordedAt: r.recorded_at,
      }));
      await accountsProjection.apply(trx, events);
      total += events.length;
      after = Number(rows.at(-1)?.global_position ?? after);
    }
    return { events: total };
  });
}
