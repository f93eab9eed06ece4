/**
 * The inline projection of the sources' log: `sources` (what the API and every replica's listeners
 * read), `deleted_sources` (lines still to remove) and an empty `source_counters` row, all in the
 * append's transaction, so a source is readable, and its port taken, the moment it is registered.
 */
import { sql, type Transaction } from '@veche/db';
import type { InlineProjection, RecordedEvent } from '@veche/event-store';
import { logEventTypes as T } from '@veche/contracts';
import { readLogsEvent, sourceIdOf } from '../domain/events.ts';
import type { LogsTables } from '../tables.ts';

async function applyOne(raw: Transaction<unknown>, recorded: RecordedEvent): Promise<void> {
  const trx = raw.$extendTables<LogsTables>();
  const event = readLogsEvent(recorded);
  if (!event) return;
  const sourceId = sourceIdOf(recorded.streamId);
  switch (event.type) {
    case T.sourceRegistered: {
      const d = event.data;
      await trx
        .insertInto('sources')
        .values({
          source_id: sourceId,
          version: recorded.streamVersion,
          owner_id: d.ownerId,
          name: d.name,
          time_zone: d.timeZone,
          allowed_ips: d.allowedIps,
          tls: d.tls,
          retention_days: d.retentionDays,
          port: d.port,
          created_at: recorded.metadata.occurredAt,
        })
        .execute();
      await trx
        .insertInto('source_counters')
        .values({ source_id: sourceId })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    }
    case T.sourceDeleted: {
      await trx.deleteFrom('sources').where('source_id', '=', sourceId).execute();
      await trx.deleteFrom('source_counters').where('source_id', '=', sourceId).execute();
      await trx
        .insertInto('deleted_sources')
        .values({ source_id: sourceId, deleted_at: recorded.metadata.occurredAt })
        .onConflict((oc) => oc.doNothing())
        .execute();
      return;
    }
    case 'logs.alert_created':
    case 'logs.alert_updated':
    case 'logs.alert_deleted':
    case 'logs.alert_fired':
      // The alerts' projection reads these.
      return;
  }
}

export function sourcesProjection(): InlineProjection {
  return {
    name: 'logs.sources',
    eventTypes: Object.values(T),
    async apply(trx, events) {
      for (const event of events) await applyOne(trx, event);
    },
    async reset(trx) {
      await sql`truncate sources, deleted_sources`.execute(trx);
    },
  };
}
