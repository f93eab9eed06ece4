/**
 * Logs (the log-listener, `veche.logs.*`): log sources (each with its own syslog port), the lines
 * received on them (seed 004's record `{id, createdAt, userId: "<host>:<port>", senderIp, fileName,
 * message}` plus what syslog carries), the `/api/logs` routes, what owners receive on
 * `veche.user.<userId>.logs`, and the payloads of the log-listener's events.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ok, UserId } from './auth.ts';
import { defineRoutes } from './routes.ts';
import { Text } from './text.ts';

const DateTime = Type.String({ format: 'date-time' });

export const SourceId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'A log source id (a UUID)',
});

/** `+02:00`, `-05:30`, `Z`, or an IANA zone such as `Europe/Moscow`. */
export const SourceTimeZone = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^(Z|[+-](0[0-9]|1[0-4])[:.]?[0-5][0-9]|[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*)$',
  description: '`+02:00` (seed 004 also wrote `+02.00`), `Z`, or an IANA zone such as `Europe/Moscow`',
});

/** An IPv4 or IPv6 address, or a CIDR block of either. */
export const SenderAddress = Type.String({
  minLength: 2,
  maxLength: 49,
  pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$',
  description: 'An IPv4/IPv6 address or CIDR block (`10.0.0.0/8`)',
});

export const LogSeverity = Type.Integer({
  minimum: 0,
  maximum: 7,
  description: '0 emerg, 1 alert, 2 crit, 3 err, 4 warning, 5 notice, 6 info, 7 debug',
});

export const severityNames = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

/** What the listener counted on a source: lines taken in, and what it refused or repaired. */
export const SourceCounters = Type.Object(
  {
    received: Type.Integer({ minimum: 0 }),
    /** Connections refused because the sender is outside `allowedIps`. */
    rejectedConnections: Type.Integer({ minimum: 0 }),
    /** Lines longer than the limit: kept up to it and flagged `truncated`. */
    truncated: Type.Integer({ minimum: 0 }),
    /** Lines that were not UTF-8: kept with U+FFFD and flagged `invalidUtf8`. */
    invalidUtf8: Type.Integer({ minimum: 0 }),
    /**
     * Frames dropped: an empty octet-counted frame and frames that are not text. Blank lines between
     * LF-framed lines are separators (senders emit CRLF or a trailing newline), skipped and not counted.
     */
    dropped: Type.Integer({ minimum: 0 }),
    /** Connections closed for idleness or too many at once. */
    closedConnections: Type.Integer({ minimum: 0 }),
    lastReceivedAt: Type.Union([DateTime, Type.Null()]),
  },
  { additionalProperties: false },
);
export type SourceCounters = Static<typeof SourceCounters>;

export const LogSource = Type.Object(
  {
    sourceId: SourceId,
    ownerId: UserId,
    name: Type.String(),
    timeZone: SourceTimeZone,
    allowedIps: Type.Array(SenderAddress),
    tls: Type.Boolean(),
    retentionDays: Type.Integer({ minimum: 1 }),
    /** Where the sender connects. */
    host: Type.String(),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    /** Seed 004's `user_id`: `<host>:<port>`. */
    userId: Type.String(),
    createdAt: DateTime,
    /** Ready-to-paste sender configuration. */
    setup: Type.Object(
      { remoteSyslog2: Type.String(), rsyslog: Type.String() },
      { additionalProperties: false },
    ),
    counters: SourceCounters,
  },
  { additionalProperties: false },
);
export type LogSource = Static<typeof LogSource>;

/** One received line: seed 004's record, plus what syslog carries. */
export const LogEvent = Type.Object(
  {
    /** Increasing with arrival (a decimal string: it may outgrow 2^53). */
    id: Type.String({ pattern: '^[0-9]+$' }),
    sourceId: SourceId,
    /** The sender's stamp (zone-less stamps read in the source's zone), or the arrival time without one. */
    createdAt: DateTime,
    receivedAt: DateTime,
    /** Seed 004's `user_id`: `<host>:<port>` of the source. */
    userId: Type.String(),
    senderIp: Type.String(),
    /** The watched file: the syslog tag / APP-NAME (remote_syslog2 and rsyslog's imfile put it there). */
    fileName: Type.String(),
    message: Type.String(),
    severity: Type.Union([LogSeverity, Type.Null()]),
    facility: Type.Union([Type.Integer({ minimum: 0, maximum: 23 }), Type.Null()]),
    hostname: Type.Union([Type.String(), Type.Null()]),
    appName: Type.Union([Type.String(), Type.Null()]),
    truncated: Type.Boolean(),
    invalidUtf8: Type.Boolean(),
    /** With `q`: [start, end) character offsets of each match in `message`. */
    highlights: Type.Optional(Type.Array(Type.Tuple([Type.Integer(), Type.Integer()]))),
  },
  { additionalProperties: false },
);
export type LogEvent = Static<typeof LogEvent>;

/**
 * Where a catch-up read stopped, in commit order: the reading's snapshot, then the transaction id and
 * line id of the last line returned, then the lowest line id asked for (`after` when its run is no
 * longer known). Opaque to clients: give it back as `cursor` for the next page.
 */
export const CatchUpCursor = Type.String({
  pattern: '^[0-9]+:[0-9]+:[0-9,]*\\.[0-9]+\\.[0-9]+\\.[0-9]+$',
  maxLength: 4_000,
  description: 'A catch-up position (from a previous page with `after` or `cursor`)',
});

export const LogEventsPage = Type.Object(
  {
    events: Type.Array(LogEvent),
    isOldestEventReached: Type.Boolean(),
    /**
     * With `after` or `cursor`: the next page of the catch-up is `cursor=` this. Lines come in commit
     * order (a batch that committed late may hold lower ids than lines already read), so the largest
     * id read is not a safe `after` for the next page; a line may come twice, never not at all.
     */
    cursor: Type.Optional(CatchUpCursor),
  },
  { additionalProperties: false },
);
export type LogEventsPage = Static<typeof LogEventsPage>;

const LineId = Type.String({ pattern: '^[0-9]{1,19}$', description: 'A line id' });

export const logInputs = {
  createSource: Type.Object(
    {
      name: Text({ minLength: 1, maxLength: 100, nonBlank: true }),
      timeZone: SourceTimeZone,
      allowedIps: Type.Optional(Type.Array(SenderAddress, { maxItems: 100, uniqueItems: true })),
      tls: Type.Optional(Type.Boolean()),
      retentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    },
    { additionalProperties: false },
  ),
  source: Type.Object({ sourceId: SourceId }, { additionalProperties: false }),
  events: Type.Object(
    {
      sourceId: SourceId,
      /** Lines older than this id, newest first (seed 004's minId). */
      before: Type.Optional(LineId),
      /**
       * The catch-up direction (seed 004's maxId): lines the reader may not have seen, having seen this
       * one (live or read), oldest committed first: every line committed after this one's batch, lower
       * ids included. The answer's `cursor` goes on from there.
       */
      after: Type.Optional(LineId),
      /** The next page of a catch-up: the previous page's `cursor`. */
      cursor: Type.Optional(CatchUpCursor),
      /** Seed 004's logs_portion. */
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      /** Case-insensitive text search in the message; matches come back in `highlights`. */
      q: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
      /** Seed 004's watched_ip. */
      senderIp: Type.Optional(Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' })),
      fileName: Type.Optional(Text({ minLength: 1, maxLength: 255 })),
      hostname: Type.Optional(Text({ minLength: 1, maxLength: 255 })),
      /** At most this severity (3: err and worse). */
      severity: Type.Optional(LogSeverity),
      /** createdAt at or after. */
      from: Type.Optional(DateTime),
      /** createdAt before. */
      to: Type.Optional(DateTime),
    },
    { additionalProperties: false },
  ),
} as const;

export const logProcedures = {
  createSource: 'veche.logs.create_source',
  listSources: 'veche.logs.list_sources',
  getSource: 'veche.logs.get_source',
  deleteSource: 'veche.logs.delete_source',
  events: 'veche.logs.events',
} as const;

/** What an owner receives on `veche.user.<userId>.logs`. */
export const LogRealtimeEvent = Type.Union([
  Type.Object(
    { type: Type.Literal('lines'), sourceId: SourceId, events: Type.Array(LogEvent) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('source_deleted'), sourceId: SourceId }, { additionalProperties: false }),
]);
export type LogRealtimeEvent = Static<typeof LogRealtimeEvent>;

/** The log-listener's events (stream `logsource-<sourceId>`). */
export const logEventTypes = {
  sourceRegistered: 'logs.source_registered',
  sourceDeleted: 'logs.source_deleted',
} as const;

export const logEventData = {
  [logEventTypes.sourceRegistered]: Type.Object(
    {
      ownerId: UserId,
      name: Type.String({ minLength: 1, maxLength: 100 }),
      timeZone: SourceTimeZone,
      allowedIps: Type.Array(SenderAddress),
      tls: Type.Boolean(),
      retentionDays: Type.Integer({ minimum: 1 }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
    },
    { additionalProperties: false },
  ),
  [logEventTypes.sourceDeleted]: Type.Object(
    {
      by: UserId,
      /** Recorded since alerts (older events lack it): consumers of `logs.source_deleted` want it. */
      ownerId: Type.Optional(UserId),
    },
    { additionalProperties: false },
  ),
} as const;

const tags = ['logs'];

export const logRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'POST',
    url: '/logs/sources',
    auth: 'user',
    procedure: logProcedures.createSource,
    summary: 'Register a log source: it gets its own syslog port (TCP, or TLS) and sender set-up snippets',
    tags,
    body: logInputs.createSource,
    response: LogSource,
    status: 201,
    rateLimit: { max: 30, timeWindowMs: 60_000, key: 'user' },
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/logs/sources',
    auth: 'user',
    procedure: logProcedures.listSources,
    summary: 'My log sources',
    tags,
    response: Type.Object({ sources: Type.Array(LogSource) }, { additionalProperties: false }),
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/logs/sources/:sourceId',
    auth: 'user',
    procedure: logProcedures.getSource,
    summary: 'One of my log sources, with its counters (received, refused, truncated…)',
    tags,
    params: logInputs.source,
    response: LogSource,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/logs/sources/:sourceId',
    auth: 'user',
    procedure: logProcedures.deleteSource,
    summary: 'Delete a log source: its port closes; its lines go with it',
    tags,
    params: logInputs.source,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/logs/sources/:sourceId/events',
    auth: 'user',
    procedure: logProcedures.events,
    summary:
      'Lines of a source: newest first (`before` pages back), or oldest first after `after`; filters and search',
    tags,
    params: Type.Object({ sourceId: SourceId }, { additionalProperties: false }),
    querystring: Type.Omit(logInputs.events, ['sourceId'], { additionalProperties: false }),
    response: LogEventsPage,
  },
]);
