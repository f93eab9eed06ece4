/**
 * The log-listener's WAMP procedures: one handler per `/api/logs` route, typed from its declaration
 * in @veche/contracts and registered by the service kit's `serveRoutes`.
 */
import { logAlertRoutes, logRoutes } from '@veche/contracts';
import { serveRoutes, type RouteHandlers } from '@veche/service';
import type { WampService } from '@veche/wamp';
import type { AlertsApi } from './alerts-api.ts';
import type { LogsApi } from './logs-api.ts';

/** Drops keys whose value is undefined (exactOptionalPropertyTypes). */
function defined<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

export function logsHandlers(api: LogsApi): RouteHandlers<typeof logRoutes> {
  return {
    'veche.logs.create_source': ({ actor, input }) => api.createSource(actor, defined(input)),
    'veche.logs.list_sources': ({ actor }) => api.listSources(actor),
    'veche.logs.get_source': ({ actor, input }) => api.getSource(actor, input.sourceId),
    'veche.logs.delete_source': ({ actor, input }) => api.deleteSource(actor, input.sourceId),
    'veche.logs.events': ({ actor, input }) => api.events(actor, defined(input)),
  };
}

export function alertsHandlers(api: AlertsApi): RouteHandlers<typeof logAlertRoutes> {
  return {
    'veche.logs.list_alerts': ({ actor, input }) => api.listAlerts(actor, input.sourceId),
    'veche.logs.create_alert': ({ actor, input }) => {
      const { sourceId, ...settings } = input;
      return api.createAlert(actor, sourceId, defined(settings));
    },
    'veche.logs.get_alert': ({ actor, input }) => api.getAlert(actor, input.sourceId, input.alertId),
    'veche.logs.update_alert': ({ actor, input }) => {
      const { sourceId, alertId, ...settings } = input;
      return api.updateAlert(actor, sourceId, alertId, defined(settings));
    },
    'veche.logs.delete_alert': ({ actor, input }) => api.deleteAlert(actor, input.sourceId, input.alertId),
  };
}

export async function registerLogsProcedures(
  wamp: WampService,
  api: LogsApi,
  alerts: AlertsApi,
): Promise<void> {
  await serveRoutes(wamp, logRoutes, logsHandlers(api));
  await serveRoutes(wamp, logAlertRoutes, alertsHandlers(alerts));
}
