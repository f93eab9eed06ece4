/**
 * The inline projection of the alerts' log (`logalert-<alertId>`): one `alerts` row per live alert,
 * with how far it has fired. A deleted source takes its alerts with it.
 */
import { sql, type Transaction } from '@veche/db';
import type { InlineProjection, RecordedEvent } from '@veche/event-store';
import { logAlertEventTypes as A, logEventTypes as T } from '@veche/contracts';
import { alertIdOf, readLogsEvent, sourceIdOf } from '../domain/events.ts';
import type { LogsTables } from '../tables.ts';

async function applyOne(raw: Transaction<unknown>, recorded: RecordedEvent): Promise<void> {
  const trx = raw.$extendTables<LogsTables>();
  const event = readLogsEvent(recorded);
  if (!event) return;
  switch (event.type) {
    case A.alertCreated: {
      const d = event.data;
      await trx
        .insertInto('alerts')
        .values({
          alert_id: alertIdOf(recorded.streamId),
          version: recorded.streamVersion,
          source_id: d.sourceId,
          owner_id: d.ownerId,
          name: d.name,
          filter: JSON.stringify(d.filter),
          threshold: d.threshold,
          window_seconds: d.windowSeconds,
          cool_down_seconds: d.coolDownSeconds,
          enabled: d.enabled,
          created_at: recorded.metadata.occurredAt,
          fired_up_to_id: d.afterLineId,
        })
        .execute();
      return;
    }
    case A.alertUpdated: {
      const d = event.data;
      await trx
        .updateTable('alerts')
        .set({
          version: recorded.streamVersion,
          ...(d.name === undefined ? {} : { name: d.name }),
          ...(d.filter === undefined ? {} : { filter: JSON.stringify(d.filter) }),
          ...(d.threshold === undefined ? {} : { threshold: d.threshold }),
          ...(d.windowSeconds === undefined ? {} : { window_seconds: d.windowSeconds }),
          ...(d.coolDownSeconds === undefined ? {} : { cool_down_seconds: d.coolDownSeconds }),
          ...(d.enabled === undefined ? {} : { enabled: d.enabled }),
        })
        .where('alert_id', '=', alertIdOf(recorded.streamId))
        .execute();
      return;
    }
    case A.alertFired: {
      const d = event.data;
      await trx
        .updateTable('alerts')
        .set((eb) => ({
          version: recorded.streamVersion,
          firings: eb('firings', '+', 1),
          last_fired_at: d.firedAt,
          fired_up_to_id: d.upToLineId,
        }))
        .where('alert_id', '=', alertIdOf(recorded.streamId))
        .execute();
      return;
    }
    case A.alertDeleted:
      await trx.deleteFrom('alerts').where('alert_id', '=', alertIdOf(recorded.streamId)).execute();
      return;
    case T.sourceDeleted:
      await trx.deleteFrom('alerts').where('source_id', '=', sourceIdOf(recorded.streamId)).execute();
      return;
    case T.sourceRegistered:
      return;
  }
}

export function alertsProjection(): InlineProjection {
  return {
    name: 'logs.alerts',
    eventTypes: [...Object.values(A), T.sourceDeleted],
    async apply(trx, events) {
      for (const event of events) await applyOne(trx, event);
    },
    async reset(trx) {
      await sql`truncate alerts`.execute(trx);
    },
  };
}
