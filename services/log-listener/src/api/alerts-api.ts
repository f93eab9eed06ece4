/**
 * Alerts of a source: list, create, read, change, delete. A source's alerts are its owner's (and
 * admins'): anyone else gets 404, as for the source itself. A new alert watches the lines that arrive
 * after it: its cursor starts at the commit horizon of its creation (`afterLineId`, the source's
 * newest line then, is what the event records).
 */
import { randomUUID } from 'node:crypto';
import { inTransaction, sql, type Database } from '@veche/db';
import { notFound } from '@veche/errors';
import type { EventStore } from '@veche/event-store';
import {
  alertDefaults,
  logAlertEventTypes as A,
  type Actor,
  type LogAlert,
  type LogAlertFilter,
} from '@veche/contracts';
import { alertStream } from '../domain/events.ts';
import { startCursor } from '../alerts/evaluator.ts';
import type { AlertsTable, LogsTables } from '../tables.ts';
import type { Selectable } from 'kysely';

export interface AlertSettings {
  name?: string;
  filter?: LogAlertFilter;
  threshold?: number;
  windowSeconds?: number;
  coolDownSeconds?: number;
  enabled?: boolean;
}

export interface AlertsApi {
  listAlerts(actor: Actor, sourceId: string): Promise<{ alerts: LogAlert[] }>;
  createAlert(actor: Actor, sourceId: string, input: AlertSettings & { name: string }): Promise<LogAlert>;
  getAlert(actor: Actor, sourceId: string, alertId: string): Promise<LogAlert>;
  updateAlert(actor: Actor, sourceId: string, alertId: string, input: AlertSettings): Promise<LogAlert>;
  deleteAlert(actor: Actor, sourceId: string, alertId: string): Promise<{ ok: true }>;
}

/** Only the filter's set fields, in a fixed order (what is stored and compared). */
export function cleanFilter(filter: LogAlertFilter | undefined): LogAlertFilter {
  const out: LogAlertFilter = {};
  if (filter?.q !== undefined) out.q = filter.q;
  if (filter?.senderIp !== undefined) out.senderIp = filter.senderIp;
  if (filter?.fileName !== undefined) out.fileName = filter.fileName;
  if (filter?.hostname !== undefined) out.hostname = filter.hostname;
  if (filter?.severity !== undefined) out.severity = filter.severity;
  return out;
}

export function toAlert(row: Selectable<AlertsTable>): LogAlert {
  return {
    alertId: row.alert_id,
    sourceId: row.source_id,
    ownerId: row.owner_id,
    name: row.name,
    filter: cleanFilter(row.filter),
    threshold: row.threshold,
    windowSeconds: row.window_seconds,
    coolDownSeconds: row.cool_down_seconds,
    enabled: row.enabled,
    createdAt: new Date(row.created_at).toISOString(),
    firings: row.firings,
    lastFiredAt: row.last_fired_at ? new Date(row.last_fired_at).toISOString() : null,
  };
}

export function createAlertsApi(options: { database: Database<unknown>; store: EventStore }): AlertsApi {
  const { database, store } = options;
  const db = database.db.$extendTables<LogsTables>();

  /** The source if `actor` may read it; 404 otherwise (whether it exists or not). */
  async function readableSource(actor: Actor, sourceId: string): Promise<{ ownerId: string }> {
    const row = await db
      .selectFrom('sources')
      .select('owner_id')
      .where('source_id', '=', sourceId)
      .executeTakeFirst();
    if (!row || (row.owner_id !== actor.userId && actor.role !== 'admin')) {
      throw notFound('No such log source', { details: { sourceId } });
    }
    return { ownerId: row.owner_id };
  }

  async function readableAlert(actor: Actor, sourceId: string, alertId: string) {
    await readableSource(actor, sourceId);
    const row = await db
      .selectFrom('alerts')
      .selectAll()
      .where('alert_id', '=', alertId)
      .where('source_id', '=', sourceId)
      .executeTakeFirst();
    if (!row) throw notFound('No such alert', { details: { sourceId, alertId } });
    return row;
  }

  return {
    async listAlerts(actor, sourceId) {
      await readableSource(actor, sourceId);
      const rows = await db
        .selectFrom('alerts')
        .selectAll()
        .where('source_id', '=', sourceId)
        .orderBy('created_at')
        .orderBy('alert_id')
        .execute();
      return { alerts: rows.map(toAlert) };
    },

    async createAlert(actor, sourceId, input) {
      const { ownerId } = await readableSource(actor, sourceId);
      const newest = await sql<{ id: number | null }>`
        select max(id) as id from log_lines where source_id = ${sourceId}`.execute(database.db);
      const alertId = randomUUID();
      await inTransaction(database.db, async (trx) => {
        await store.append(
          alertStream(alertId),
          [
            {
              type: A.alertCreated,
              data: {
                sourceId,
                // An admin's alert on someone's source still mails the source's owner.
                ownerId,
                name: input.name.trim(),
                filter: cleanFilter(input.filter),
                threshold: input.threshold ?? alertDefaults.threshold,
                windowSeconds: input.windowSeconds ?? alertDefaults.windowSeconds,
                coolDownSeconds: input.coolDownSeconds ?? alertDefaults.coolDownSeconds,
                enabled: input.enabled ?? true,
                afterLineId: String(newest.rows[0]?.id ?? 0),
              },
            },
          ],
          { expectedVersion: 'no_stream', actor: actor.userId, trx },
        );
        // It counts the lines committed from now on, in commit order (alerts/evaluator.ts).
        await startCursor(trx, alertId);
      });
      return toAlert(await readableAlert(actor, sourceId, alertId));
    },

    async getAlert(actor, sourceId, alertId) {
      return toAlert(await readableAlert(actor, sourceId, alertId));
    },

    async updateAlert(actor, sourceId, alertId, input) {
      await readableAlert(actor, sourceId, alertId);
      const change = {
        ...(input.name === undefined ? {} : { name: input.name.trim() }),
        ...(input.filter === undefined ? {} : { filter: cleanFilter(input.filter) }),
        ...(input.threshold === undefined ? {} : { threshold: input.threshold }),
        ...(input.windowSeconds === undefined ? {} : { windowSeconds: input.windowSeconds }),
        ...(input.coolDownSeconds === undefined ? {} : { coolDownSeconds: input.coolDownSeconds }),
        ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
      };
      if (Object.keys(change).length > 0) {
        // Settings and firings commute: a firing in between does not make this a conflict.
        await store.append(
          alertStream(alertId),
          [{ type: A.alertUpdated, data: { by: actor.userId, ...change } }],
          {
            expectedVersion: 'exists',
            actor: actor.userId,
          },
        );
      }
      return toAlert(await readableAlert(actor, sourceId, alertId));
    },

    async deleteAlert(actor, sourceId, alertId) {
      await readableAlert(actor, sourceId, alertId);
      await store.append(alertStream(alertId), [{ type: A.alertDeleted, data: { by: actor.userId } }], {
        expectedVersion: 'exists',
        actor: actor.userId,
      });
      return { ok: true };
    },
  };
}
