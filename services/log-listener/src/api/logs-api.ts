/**
 * The log-listener's queries and commands: register a source (a port from the configured range, taken
 * under a transaction-scoped advisory lock so two replicas never hand out the same one), list, read
 * and delete sources, and page through a source's lines with filters and search. Only the owner (and
 * admins) may see a source: anyone else gets 404, as if it did not exist.
 */
import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
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
import type { LogLinesTable, LogsTables } from '../tables.ts';

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
  cursor?: string;
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
 * A page's query, newest first (without its limit; `after` and `cursor` read with catchUpPage). `q` is a case-insensitive substring (`ILIKE`): on closed days
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
  if (query.senderIp !== undefined) q = q.where('sender_ip', '=', query.senderIp);
  if (query.fileName !== undefined) q = q.where('file_name', '=', query.fileName);
  if (query.hostname !== undefined) q = q.where('hostname', '=', query.hostname);
  if (query.severity !== undefined) q = q.where('severity', '<=', query.severity);
  if (query.from !== undefined) q = q.where('created_at', '>=', new Date(query.from));
  if (query.to !== undefined) q = q.where('created_at', '<', new Date(query.to));
  if (query.q !== undefined) q = q.where('message', 'ilike', `%${escapeLike(query.q)}%`);
  return q.orderBy('id', 'desc');
}

/** A stored line as the queries read it. */
type LineRow = Selectable<LogLinesTable>;

/** A catch-up position: see CatchUpCursor in @veche/contracts. */
export interface CatchUp {
  /** pg_snapshot text; null: the reading's own (every committed line is before the position). */
  snapshot: string | null;
  /** xid8 of the last line's transaction, and that line's id. */
  transactionId: string;
  lineId: string;
  /** Only lines above this id (a catch-up from a line whose run is no longer kept). */
  floor: string;
}

/** Snapshots longer than this (many transactions in progress) are widened to their xmin. */
const maxSnapshotText = 3_000;

export function encodeCatchUp(c: CatchUp & { snapshot: string }): string {
  let snapshot = c.snapshot;
  if (snapshot.length > maxSnapshotText) {
    // Everything from xmin on counts as not yet seen: more lines may come twice, none is skipped.
    const xmin = snapshot.slice(0, snapshot.indexOf(':'));
    snapshot = `${xmin}:${xmin}:`;
  }
  return `${snapshot}.${c.transactionId}.${c.lineId}.${c.floor}`;
}

const int8Max = 2n ** 63n - 1n;

/** A cursor given back by a client: checked here, so a forged one is a 400, never PostgreSQL's 500. */
export function decodeCatchUp(cursor: string): CatchUp {
  const invalid = () => validationError('Not a catch-up cursor', { details: { cursor } });
  const parts = cursor.split('.');
  const [snapshot, transactionId, lineId, floor] = parts;
  if (parts.length !== 4 || !snapshot || !transactionId || !lineId || !floor) throw invalid();
  const [xminText, xmaxText, xipText] = snapshot.split(':');
  const numbers = [xminText, xmaxText, transactionId, lineId, floor, ...(xipText ? xipText.split(',') : [])];
  if (numbers.some((n) => n === undefined || !/^[0-9]{1,19}$/.test(n) || BigInt(n) > int8Max))
    throw invalid();
  const xmin = BigInt(xminText!);
  const xmax = BigInt(xmaxText!);
  const xip = xipText ? xipText.split(',').map(BigInt) : [];
  // pg_snapshot's own rules: 0 < xmin <= xmax, in-progress ids ascending within [xmin, xmax).
  if (xmin < 1n || xmax < xmin || xip.some((x, i) => x < xmin || x >= xmax || (i > 0 && x < xip[i - 1]!))) {
    throw invalid();
  }
  return { snapshot, transactionId, lineId, floor };
}

/**
 * Where a catch-up from line `after` (seen by the reader, live or read) starts: after that line in its
 * transaction, and every transaction its transaction's snapshot did not see committed (those committed
 * after it, whatever their ids). Without its run (kept two days; none before migration 0004), by id.
 */
export async function catchUpFrom(
  database: Database<unknown>,
  sourceId: string,
  after: string,
): Promise<CatchUp> {
  const run = await sql<{ tx: string; snapshot: string | null }>`
    select transaction_id::text as tx, snapshot::text as snapshot from line_runs
    where source_id = ${sourceId} and last_id >= ${after}::int8 and first_id <= ${after}::int8
    order by last_id limit 1`.execute(database.db);
  const found = run.rows[0];
  if (!found || found.snapshot === null)
    return { snapshot: null, transactionId: '0', lineId: after, floor: after };
  return { snapshot: found.snapshot, transactionId: found.tx, lineId: after, floor: '0' };
}

/**
 * One page of a catch-up, in commit-safe order: the source's runs by (transaction id, position), the
 * lines of each by id, those the position has not covered (a transaction not visible in its snapshot,
 * or after its last line). Returns the lines and the position after them, with this reading's
 * snapshot: what commits from now on is not visible in it.
 */
export async function catchUpPage(
  database: Database<unknown>,
  query: EventsQuery,
  from: CatchUp,
  limit: number,
  retentionDays: number,
): Promise<{ rows: (LineRow & { tx: string })[]; reading: string }> {
  const conditions = [
    sql`l.received_at >= now() - make_interval(days => ${retentionDays})`,
    sql`l.id > ${from.floor}::int8`,
  ];
  if (query.senderIp !== undefined) conditions.push(sql`l.sender_ip = ${query.senderIp}`);
  if (query.fileName !== undefined) conditions.push(sql`l.file_name = ${query.fileName}`);
  if (query.hostname !== undefined) conditions.push(sql`l.hostname = ${query.hostname}`);
  if (query.severity !== undefined) conditions.push(sql`l.severity <= ${query.severity}`);
  if (query.from !== undefined) conditions.push(sql`l.created_at >= ${new Date(query.from)}`);
  if (query.to !== undefined) conditions.push(sql`l.created_at < ${new Date(query.to)}`);
  if (query.q !== undefined) conditions.push(sql`l.message ilike ${`%${escapeLike(query.q)}%`}`);
  const result = await sql<LineRow & { tx: string | null; reading: string }>`
    with reading as materialized (
      select coalesce(${from.snapshot}::pg_snapshot, pg_current_snapshot()) as seen,
             pg_current_snapshot() as now
    )
    select reading.now::text as reading, page.* from reading left join lateral (
      select l.*, r.transaction_id::text as tx
      from line_runs r
      join log_lines l on l.source_id = r.source_id and l.id between r.first_id and r.last_id
        and l.received_at between r.received_from and r.received_to
      where r.source_id = ${query.sourceId}
        and r.last_id > ${from.floor}::int8
        and r.transaction_id >= least(pg_snapshot_xmin(reading.seen), ${from.transactionId}::xid8)
        -- A transaction's own snapshot may not show it as committed (its xid at or above xmax): its
        -- own lines are covered up to the position's line, and the rest by the comparison.
        and ((not pg_visible_in_snapshot(r.transaction_id, reading.seen)
              and r.transaction_id <> ${from.transactionId}::xid8)
             or (r.transaction_id, l.id) > (${from.transactionId}::xid8, ${from.lineId}::int8))
        and ${sql.join(conditions, sql` and `)}
      order by r.transaction_id, r.position, l.id
      limit ${limit}
    ) page on true`.execute(database.db);
  const rows = result.rows.filter((r): r is LineRow & { tx: string; reading: string } => r.tx !== null);
  return { rows, reading: result.rows[0]!.reading };
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
      const given = [query.before, query.after, query.cursor].filter((v) => v !== undefined).length;
      if (given > 1) throw validationError('Give one of before, after and cursor');
      const limit = query.limit ?? 100;
      const ascending = query.after !== undefined || query.cursor !== undefined;
      let rows: LineRow[];
      let cursor: string | undefined;
      if (ascending) {
        // The catch-up: commit order, not ids (a batch may commit after lines with higher ids were read).
        const from =
          query.cursor !== undefined
            ? decodeCatchUp(query.cursor)
            : await catchUpFrom(database, query.sourceId, query.after!);
        const read = await catchUpPage(database, query, from, limit + 1, source.retention_days);
        rows = read.rows;
        // With this reading's snapshot: after everything it saw when the page holds the rest (the
        // snapshot's xmax: every transaction it saw is below), else after the last line returned.
        const last = read.rows.length > limit ? read.rows[limit - 1]! : undefined;
        cursor = encodeCatchUp({
          snapshot: read.reading,
          transactionId: last ? last.tx : read.reading.split(':')[1]!,
          lineId: last ? String(last.id) : '0',
          floor: from.floor,
        });
      } else {
        rows = await eventsQuery(database, query, source.retention_days)
          .limit(limit + 1)
          .execute();
      }
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
      return { events, isOldestEventReached, ...(cursor === undefined ? {} : { cursor }) };
    },
  };
}
