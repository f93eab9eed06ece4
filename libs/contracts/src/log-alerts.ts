/**
 * Log alerts: a saved search on one log source with a threshold per time window ("at least N matching
 * lines within W seconds"; N = 1 is "any match"). The log-listener evaluates them on the lines it
 * stores and appends `logs.alert_fired`; the mailer mails the owner, at most once per alert per
 * cool-down, counting the firings it held back. Also the log-listener's integration events on
 * `veche.events` (`logs.*`), with the schemas consumers check them against.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ok, UserId } from './auth.ts';
import { LogSeverity, SourceId, logInputs } from './logs.ts';
import { defineRoutes } from './routes.ts';
import { Text } from './text.ts';

const DateTime = Type.String({ format: 'date-time' });

export const AlertId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'A log alert id (a UUID)',
});

/** The saved search: the same filters as `GET /logs/sources/{id}/events`, every one optional. */
export const LogAlertFilter = Type.Object(
  {
    /** Case-insensitive text the message contains. */
    q: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
    senderIp: Type.Optional(Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' })),
    fileName: Type.Optional(Text({ minLength: 1, maxLength: 255 })),
    hostname: Type.Optional(Text({ minLength: 1, maxLength: 255 })),
    /** At most this severity (3: err and worse). */
    severity: Type.Optional(LogSeverity),
  },
  { additionalProperties: false },
);
export type LogAlertFilter = Static<typeof LogAlertFilter>;

const Threshold = Type.Integer({
  minimum: 1,
  maximum: 1_000_000,
  description: 'fires when at least this many lines match within the window (1: any match)',
});
const WindowSeconds = Type.Integer({ minimum: 10, maximum: 86_400, description: 'the window, in seconds' });
const CoolDownSeconds = Type.Integer({
  minimum: 60,
  maximum: 604_800,
  description: 'at most one mail per this many seconds; later firings are counted in the next mail',
});
const AlertName = Text({ minLength: 1, maxLength: 100, nonBlank: true });

export const alertDefaults = { threshold: 1, windowSeconds: 300, coolDownSeconds: 900 } as const;

export const LogAlert = Type.Object(
  {
    alertId: AlertId,
    sourceId: SourceId,
    ownerId: UserId,
    name: Type.String(),
    filter: LogAlertFilter,
    threshold: Threshold,
    windowSeconds: WindowSeconds,
    coolDownSeconds: CoolDownSeconds,
    enabled: Type.Boolean(),
    createdAt: DateTime,
    /** How often it fired, and when last. */
    firings: Type.Integer({ minimum: 0 }),
    lastFiredAt: Type.Union([DateTime, Type.Null()]),
  },
  { additionalProperties: false },
);
export type LogAlert = Static<typeof LogAlert>;

const alertSettings = {
  name: AlertName,
  filter: Type.Optional(LogAlertFilter),
  threshold: Type.Optional(Threshold),
  windowSeconds: Type.Optional(WindowSeconds),
  coolDownSeconds: Type.Optional(CoolDownSeconds),
  enabled: Type.Optional(Type.Boolean()),
};

export const logAlertInputs = {
  sourceAlerts: logInputs.source,
  alert: Type.Object({ sourceId: SourceId, alertId: AlertId }, { additionalProperties: false }),
  createAlert: Type.Object({ sourceId: SourceId, ...alertSettings }, { additionalProperties: false }),
  updateAlert: Type.Object(
    { sourceId: SourceId, alertId: AlertId, ...alertSettings, name: Type.Optional(AlertName) },
    { additionalProperties: false },
  ),
} as const;

export const logAlertProcedures = {
  listAlerts: 'veche.logs.list_alerts',
  createAlert: 'veche.logs.create_alert',
  getAlert: 'veche.logs.get_alert',
  updateAlert: 'veche.logs.update_alert',
  deleteAlert: 'veche.logs.delete_alert',
} as const;

/** The log-listener's alert events (stream `logalert-<alertId>`). */
export const logAlertEventTypes = {
  alertCreated: 'logs.alert_created',
  alertUpdated: 'logs.alert_updated',
  alertDeleted: 'logs.alert_deleted',
  alertFired: 'logs.alert_fired',
} as const;

/** A matching line as an alert carries it (the message cut to 1,000 characters). */
export const AlertSample = Type.Object(
  {
    id: Type.String({ pattern: '^[0-9]+$' }),
    createdAt: DateTime,
    hostname: Type.Union([Type.String({ maxLength: 255 }), Type.Null()]),
    fileName: Type.String({ maxLength: 255 }),
    message: Type.String({ maxLength: 1_000 }),
  },
  { additionalProperties: false },
);

const alertFired = Type.Object(
  {
    alertId: AlertId,
    alertName: Type.String({ minLength: 1, maxLength: 100 }),
    sourceId: SourceId,
    sourceName: Type.String({ minLength: 1, maxLength: 100 }),
    ownerId: UserId,
    filter: LogAlertFilter,
    threshold: Threshold,
    windowSeconds: WindowSeconds,
    coolDownSeconds: CoolDownSeconds,
    /** Lines that matched since the previous firing, within the window. */
    matches: Type.Integer({ minimum: 1 }),
    firstMatchAt: DateTime,
    lastMatchAt: DateTime,
    firedAt: DateTime,
    /**
     * The highest id among the lines this firing counted (a link into the source's lines). Ids are not
     * commit order: the next firing counts the lines committed after this one's, whatever their ids.
     */
    upToLineId: Type.String({ pattern: '^[0-9]+$' }),
    /** Up to five of the matching lines, newest first. */
    samples: Type.Array(AlertSample, { maxItems: 5 }),
  },
  { additionalProperties: false },
);

export const logAlertEventData = {
  [logAlertEventTypes.alertCreated]: Type.Object(
    {
      sourceId: SourceId,
      ownerId: UserId,
      name: Type.String({ minLength: 1, maxLength: 100 }),
      filter: LogAlertFilter,
      threshold: Threshold,
      windowSeconds: WindowSeconds,
      coolDownSeconds: CoolDownSeconds,
      enabled: Type.Boolean(),
      /** Lines up to this id were there before the alert: it watches newer ones only. */
      afterLineId: Type.String({ pattern: '^[0-9]+$' }),
    },
    { additionalProperties: false },
  ),
  [logAlertEventTypes.alertUpdated]: Type.Object(
    {
      by: UserId,
      name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
      filter: Type.Optional(LogAlertFilter),
      threshold: Type.Optional(Threshold),
      windowSeconds: Type.Optional(WindowSeconds),
      coolDownSeconds: Type.Optional(CoolDownSeconds),
      enabled: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  [logAlertEventTypes.alertDeleted]: Type.Object({ by: UserId }, { additionalProperties: false }),
  [logAlertEventTypes.alertFired]: alertFired,
} as const;

/**
 * What the log-listener publishes on `veche.events` (routing key = type). `logs.alert_fired` is the
 * event as appended; the source events carry their `sourceId` (in the log it is the stream's).
 */
export const logIntegrationEvents = {
  'logs.source_registered': Type.Object({
    sourceId: SourceId,
    ownerId: UserId,
    name: Type.String({ minLength: 1, maxLength: 100 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    tls: Type.Boolean(),
    retentionDays: Type.Integer({ minimum: 1 }),
  }),
  'logs.source_deleted': Type.Object({
    sourceId: SourceId,
    by: UserId,
    /** Absent on sources deleted before it was recorded. */
    ownerId: Type.Optional(UserId),
  }),
  [logAlertEventTypes.alertFired]: alertFired,
} as const;

const tags = ['logs'];
const sourceParams = logInputs.source;
const alertParams = logAlertInputs.alert;

export const logAlertRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'GET',
    url: '/logs/sources/:sourceId/alerts',
    auth: 'user',
    procedure: logAlertProcedures.listAlerts,
    summary: 'The alerts of one of my log sources',
    tags,
    params: sourceParams,
    response: Type.Object({ alerts: Type.Array(LogAlert) }, { additionalProperties: false }),
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/logs/sources/:sourceId/alerts',
    auth: 'user',
    procedure: logAlertProcedures.createAlert,
    summary:
      'Save a search as an alert: at least `threshold` matching lines within `windowSeconds` mail the owner (at most once per `coolDownSeconds`)',
    tags,
    params: sourceParams,
    body: Type.Omit(logAlertInputs.createAlert, ['sourceId'], { additionalProperties: false }),
    response: LogAlert,
    status: 201,
    rateLimit: { max: 60, timeWindowMs: 60_000, key: 'user' },
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/logs/sources/:sourceId/alerts/:alertId',
    auth: 'user',
    procedure: logAlertProcedures.getAlert,
    summary: 'One alert of my log source',
    tags,
    params: alertParams,
    response: LogAlert,
  },
  {
    kind: 'rpc',
    method: 'PATCH',
    url: '/logs/sources/:sourceId/alerts/:alertId',
    auth: 'user',
    procedure: logAlertProcedures.updateAlert,
    summary: 'Change an alert (name, search, threshold, window, cool-down, enabled)',
    tags,
    params: alertParams,
    body: Type.Omit(logAlertInputs.updateAlert, ['sourceId', 'alertId'], { additionalProperties: false }),
    response: LogAlert,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/logs/sources/:sourceId/alerts/:alertId',
    auth: 'user',
    procedure: logAlertProcedures.deleteAlert,
    summary: 'Delete an alert',
    tags,
    params: alertParams,
    response: Ok,
  },
]);
