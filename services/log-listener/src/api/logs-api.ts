/**
 * The log-listener's queries and commands: register a source (a port from the configured range, taken
 * under a transaction-scoped advisory lock so two replicas never hand out the same one), list, read
 * and delete sources, and page through a source's lines with filters and search. Only the owner (and
 * admins) may see a source: anyone else gets 404, as if it did not exist.
 */
import { randomUUID } from 'node:crypto';
import { inTransaction, sql, type Database } from '@veche/db';
import { conflict, notFound, unavailable, validationError } from '@veche/errors';
import type { EventStore } from '@veche/event-store';
import {
  logEventTypes as T,
  type Actor,
  type LogEvent,
  type LogEventsPage,
  type LogSource,
} from '@veche/contracts';
import { allowList } from '../domain/addresses.ts';
import { sourceStream } from '../domain/events.ts';
import { isKnownZone, normalizeZone } from '../domain/time-zone.ts';
import type { LogsTables } from '../tables.ts';

export interface LogsApiOptions {
  database: Database<unknown>;
  store: EventStore;
  publicHost: string;
  portMin: number;
  portMax: number;
  tlsAvailable: boolean;
  defaultRetentionDays: number;
  /** After a local create or delete: open or close the listener now. */
  changed?: () => Promise<void>;
}

export interface CreateSourceInput {
  name: string;
  timeZone: string;
  allowedIps?: string[];
  tls?: boolean;
  retentionDays?: number;
}

export interface EventsQuery {
  sourceId: string;
  before?: string;
  after?: string;
  limit?: number;
  q?: string;
  senderIp?: string;
  fileName?: string;
  hostname?: string;
  severity?: number;
  from?: string;
  to?: string;
}

export interface LogsApi {
  createSource(actor: Actor, input: CreateSourceInput): Promise<LogSource>;
  listSources(actor: Actor): Promise<{ sources: LogSource[] }>;
  getSource(actor: Actor, sourceId: string): Promise<LogSource>;
  deleteSource(actor: Actor, sourceId: string): Promise<{ ok: true }>;
  events(actor: Actor, query: EventsQuery): Promise<LogEventsPage>;
}

interface SourceRow {
  source_id: string;
  owner_id: string;
  name: string;
  time_zone: string;
  allowed_ips: string[];
  tls: boolean;
  retention_days: number;
  port: number;
  created_at: Date;
  received: number | null;
  rejected_connections: number | null;
  truncated: number | null;
  invalid_utf8: number | null;
  dropped: number | null;
  closed_connections: number | null;
  last_received_at: Date | null;
}

/** Ready-to-paste sender configuration for a source. */
export function setupSnippets(host: string, port: number, tls: boolean, name: string): LogSource['setup'] {
  const tag = name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32) || 'app';
  const remoteSyslog2 = [
    '# /etc/log_files.yml (remote_syslog2)',
    'files:',
    '  - /var/log/app.log',
    'destination:',
    `  host: ${host}`,
    `  port: ${port}`,
    `  protocol: ${tls ? 'tls' : 'tcp'}`,
    '',
  ].join('\n');
  const rsyslog = [
    '# /etc/rsyslog.d/50-veche.conf',
    ...(tls
      ? [
          'global(DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="/etc/ssl/certs/ca-certificates.crt")',
        ]
      : []),
    'module(load="imfile")',
    `input(type="imfile" File="/var/log/app.log" Tag="${tag}" ruleset="veche")`,
    'ruleset(name="veche") {',
    `  action(type="omfwd" target="${host}" port="${port}" protocol="tcp" TCP_Framing="octet-counted"`,
    '         template="RSYSLOG_SyslogProtocol23Format"' +
      (tls ? '\n         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"' : ''),
    '         queue.type="LinkedList" queue.filename="veche" action.resumeRetryCount="-1")',
    '}',
    '',
  ].join('\n');
  return { remoteSyslog2, rsyslog };
}

const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** [start, end) of each case-insensitive occurrence of `q` in `message` (at most 50). */
export function highlightsOf(message: string, q: string): [number, number][] {
  const out: [number, number][] = [];
  const haystack = message.toLowerCase();
  const needle = q.toLowerCase();
  if (needle.length === 0 || haystack.length !== message.length) {
    // Lower-casing changed lengths (rare scripts): search the original text exactly instead.
    let at = message.indexOf(q);
    while (at >= 0 && out.length < 50) {
      out.push([at, at + q.length]);
      at = message.indexOf(q, at + Math.max(q.length, 1));
    }
    return out;
  }
  let at = haystack.indexOf(needle);
  while (at >= 0 && out.length < 50) {
    out.push([at, at + needle.length]);
    at = haystack.indexOf(needle, at + needle.length);
  }
  return out;
}

/**
 * A page's query (without its limit). `q` is a case-insensitive substring (`ILIKE`): on closed days
 * the trigram index the maintenance builds answers it, the open day is read by `(source_id, id)`.
 */
export function eventsQuery(database: Database<unknown>, query: EventsQuery, retentionDays: number) {
  const db = database.db.$extendTables<LogsTables>();
  let q = db
    .selectFrom('log_lines')
    .selectAll()
    .where('source_id', '=', query.sourceId)
    // Lines older than the source's retention may wait for the next clean-up: never show them.
    .where('received_at', '>=', sql<Date>`now() - make_interval(days => ${retentionDays})`);
  if (query.before !== undefined) q = q.where('id', '<', sql<number>`${query.before}::int8`);
  if (query.after !== undefined) q = q.where('id', '>', sql<number>`${query.after}::int8`);
  if (query.senderIp !== undefined) q = q.where('sender_ip', '=', query.senderIp);
  if (query.fileName !== undefined) q = q.where('file_name', '=', query.fileName);
  if (query.hostname !== undefined) q = q.where('hostname', '=', query.hostname);
  if (query.severity !== undefined) q = q.where('severity', '<=', query.severity);
  if (query.from !== undefined) q = q.where('created_at', '>=', new Date(query.from));
  if (query.to !== undefined) q = q.where('created_at', '<', new Date(query.to));
  if (query.q !== undefined) q = q.where('message', 'ilike', `%${escapeLike(query.q)}%`);
  return q.orderBy('id', query.after !== undefined ? 'asc' : 'desc');
}

export function createLogsApi(options: LogsApiOptions): LogsApi {
  const { database, store } = options;
  const db = database.db.$extendTables<LogsTables>();

  function toSource(row: SourceRow): LogSource {
    return {
      sourceId: row.source_id,
      ownerId: row.owner_id,
      name: row.name,
      timeZone: row.time_zone,
      allowedIps: row.allowed_ips,
      tls: row.tls,
      retentionDays: row.retention_days,
      host: options.publicHost,
      port: row.port,
      userId: `${options.publicHost}:${row.port}`,
      createdAt: row.created_at.toISOString(),
      setup: setupSnippets(options.publicHost, row.port, row.tls, row.name),
      counters: {
        received: Number(row.received ?? 0),
        rejectedConnections: Number(row.rejected_connections ?? 0),
        truncated: Number(row.truncated ?? 0),
        invalidUtf8: Number(row.invalid_utf8 ?? 0),
        dropped: Number(row.dropped ?? 0),
        closedConnections: Number(row.closed_connections ?? 0),
        lastReceivedAt: row.last_received_at ? row.last_received_at.toISOString() : null,
      },
    };
  }

  const sourceQuery = () =>
    db
      .selectFrom('sources as s')
      .leftJoin('source_counters as c', 'c.source_id', 's.source_id')
      .select([
        's.source_id',
        's.owner_id',
        's.name',
        's.time_zone',
        's.allowed_ips',
        's.tls',
        's.retention_days',
        's.port',
        's.created_at',
        'c.received',
        'c.rejected_connections',
        'c.truncated',
        'c.invalid_utf8',
        'c.dropped',
        'c.closed_connections',
        'c.last_received_at',
      ]);

  /** The source if `actor` may read it; 404 otherwise (whether it exists or not). */
  async function readable(actor: Actor, sourceId: string): Promise<SourceRow> {
    const row = (await sourceQuery().where('s.source_id', '=', sourceId).executeTakeFirst()) as
      SourceRow | undefined;
    if (!row || (row.owner_id !== actor.userId && actor.role !== 'admin')) {
      throw notFound('No such log source', { details: { sourceId } });
    }
    return row;
  }

  return {
    async createSource(actor, input) {
      if (!isKnownZone(input.timeZone)) {
        throw validationError('Unknown time zone', { details: { timeZone: input.timeZone } });
      }
      const allowedIps = input.allowedIps ?? [];
      try {
        allowList(allowedIps);
      } catch (error) {
        throw validationError((error as Error).message, { details: { allowedIps } });
      }
      const tls = input.tls ?? false;
      if (tls && !options.tlsAvailable) {
        throw unavailable('TLS listeners are not configured on this server (LOGS_TLS_CERT_FILE)');
      }
      const sourceId = randomUUID();
      await inTransaction(database.db, async (trx) => {
        // One port chooser at a time across replicas; the lock ends with the transaction.
        await sql`select pg_advisory_xact_lock(hashtext(${`${database.schema}.ports`}))`.execute(trx);
        const used = await trx
          .$extendTables<LogsTables>()
          .selectFrom('sources')
          .select('port')
          .where('port', '>=', options.portMin)
          .where('port', '<=', options.portMax)
          .orderBy('port')
          .execute();
        let port = options.portMin;
        for (const row of used) {
          if (row.port === port) port++;
          else if (row.port > port) break;
        }
        if (port > options.portMax) {
          throw conflict('Every port of the range is taken', {
            details: { portMin: options.portMin, portMax: options.portMax },
          });
        }
        await store.append(
          sourceStream(sourceId),
          [
            {
              type: T.sourceRegistered,
              data: {
                ownerId: actor.userId,
                name: input.name.trim(),
                timeZone: normalizeZone(input.timeZone),
                allowedIps,
                tls,
                retentionDays: input.retentionDays ?? options.defaultRetentionDays,
                port,
              },
            },
          ],
          { expectedVersion: 'no_stream', actor: actor.userId, trx },
        );
      });
      await options.changed?.();
      return toSource(await readable(actor, sourceId));
    },

    async listSources(actor) {
      const rows = (await sourceQuery()
        .where('s.owner_id', '=', actor.userId)
        .orderBy('s.created_at')
        .execute()) as SourceRow[];
      return { sources: rows.map(toSource) };
    },

    async getSource(actor, sourceId) {
      return toSource(await readable(actor, sourceId));
    },

    async deleteSource(actor, sourceId) {
      const source = await readable(actor, sourceId);
      const data = { by: actor.userId, ownerId: source.owner_id };
      await store.append(sourceStream(sourceId), [{ type: T.sourceDeleted, data }], {
        expectedVersion: 'exists',
        actor: actor.userId,
      });
      await options.changed?.();
      return { ok: true };
    },

    async events(actor, query) {
      const source = await readable(actor, query.sourceId);
      if (query.before !== undefined && query.after !== undefined) {
        throw validationError('Give before or after, not both');
      }
      const limit = query.limit ?? 100;
      const ascending = query.after !== undefined;
      const rows = await eventsQuery(database, query, source.retention_days)
        .limit(limit + 1)
        .execute();
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      const userId = `${options.publicHost}:${source.port}`;
      const events: LogEvent[] = page.map((r) => ({
        id: String(r.id),
        sourceId: r.source_id,
        createdAt: r.created_at.toISOString(),
        receivedAt: r.received_at.toISOString(),
        userId,
        senderIp: r.sender_ip,
        fileName: r.file_name,
        message: r.message,
        severity: r.severity,
        facility: r.facility,
        hostname: r.hostname,
        appName: r.app_name,
        truncated: r.truncated,
        invalidUtf8: r.invalid_utf8,
        ...(query.q === undefined ? {} : { highlights: highlightsOf(r.message, query.q) }),
      }));
      // Newest first: the oldest is reached when nothing older matched. After `after` (ascending, the
      // catch-up direction) there is nothing older in the page by construction: false, unless empty.
      const isOldestEventReached = ascending ? page.length === 0 && !more && query.after === '0' : !more;
      return { events, isOldestEventReached };
    },
  };
}
