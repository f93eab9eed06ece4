/**
 * Wires the log-listener: migrations, the event store with the sources' inline projection, the batch
 * writer of received lines (which publishes each committed batch to its owner's live tail), every
 * source's syslog listener, the retention upkeep, and the `veche.logs.*` procedures. `server.ts` only
 * starts it; tests build it in-process with their own schema, router and port range.
 */
import { hostname } from 'node:os';
import { createBusConnection } from '@veche/bus';
import { createDatabase, ensureDatabaseExists, migrate, type Database } from '@veche/db';
import { createEventStore, type EventStore } from '@veche/event-store';
import type { LogEvent, LogRealtimeEvent } from '@veche/contracts';
import type { Logger } from '@veche/log';
import { createServiceHttp, postgresCheck, type ServiceApp } from '@veche/service';
import { connectService, type WampService } from '@veche/wamp';
import { userTopic } from '@veche/wamp-policy';
import { logsMigrations } from '../migrations/index.ts';
import { createAlertsApi, type AlertsApi } from './api/alerts-api.ts';
import { createLogsApi, type LogsApi } from './api/logs-api.ts';
import { registerLogsProcedures } from './api/procedures.ts';
import { tlsMaterialOf, type LogsConfig } from './env.ts';
import { createListeners, type Listeners } from './ingest/listeners.ts';
import { createWriter, type Writer } from './ingest/writer.ts';
import { createEvaluator, type Evaluator } from './alerts/evaluator.ts';
import { createIntegrationRelay } from './integration.ts';
import { createMaintenance, type Maintenance } from './maintenance.ts';
import { alertsProjection } from './projections/alerts.ts';
import { sourcesProjection } from './projections/sources.ts';
import type { LogsTables } from './tables.ts';

export interface LogsAppOptions {
  config: LogsConfig;
  log: Logger;
  /** A database the caller made (tests: an isolated schema); the app makes its own otherwise. */
  database?: Database<unknown>;
  /** Serve HTTP (`/health`, `/ready`, `/metrics`) on HOST:PORT (default true). */
  http?: boolean;
}

export interface LogsApp extends ServiceApp {
  readonly database: Database<unknown>;
  readonly store: EventStore;
  readonly api: LogsApi;
  readonly alerts: AlertsApi;
  readonly evaluator: Evaluator;
  readonly writer: Writer;
  readonly listeners: Listeners;
  readonly maintenance: Maintenance;
  readonly readiness: Record<string, () => boolean | Promise<boolean>>;
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

/** Lines per live-tail publication (a WAMP message stays well under the router's frame limit). */
const tailChunk = 200;

export function createLogsApp(options: LogsAppOptions): LogsApp {
  const { config, log } = options;
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    createDatabase<unknown>({
      url: config.DATABASE_URL,
      schema: config.LOGS_DB_SCHEMA,
      poolSize: config.LOGS_DB_POOL_SIZE,
      applicationName: 'log-listener',
    });
  const tls = tlsMaterialOf(config);
  const store = createEventStore({
    database,
    log,
    inlineProjections: [sourcesProjection(), alertsProjection()],
  });
  let wamp: WampService | undefined;

  function publishTail(ownerId: string, sourceId: string, events: LogEvent[]): void {
    const session = wamp;
    if (!session?.isConnected) return;
    for (let i = 0; i < events.length; i += tailChunk) {
      const payload: LogRealtimeEvent = { type: 'lines', sourceId, events: events.slice(i, i + tailChunk) };
      session.publish(userTopic(ownerId, 'logs'), payload).catch((error: unknown) => {
        log.warn({ err: error, sourceId }, 'live tail publication failed (readers catch up with after=)');
      });
    }
  }

  const writer = createWriter({
    database,
    log,
    batchLines: config.LOGS_BATCH_LINES,
    flushMs: config.LOGS_FLUSH_MS,
    maxPending: config.LOGS_MAX_PENDING_LINES,
    maxWaitMs: config.LOGS_MAX_QUEUE_WAIT_MS,
    concurrency: config.LOGS_WRITE_CONCURRENCY,
    onCommitted: publishTail,
  });
  const db = database.db.$extendTables<LogsTables>();
  const listeners = createListeners({
    log,
    writer,
    bindHost: config.LOGS_BIND_HOST,
    publicHost: config.LOGS_PUBLIC_HOST,
    tls,
    maxLineBytes: config.LOGS_MAX_LINE_BYTES,
    idleMs: config.LOGS_IDLE_MS,
    maxConnectionsPerSource: config.LOGS_MAX_CONNECTIONS_PER_SOURCE,
    syncMs: config.LOGS_SYNC_MS,
    async load() {
      const rows = await db
        .selectFrom('sources')
        .select(['source_id', 'owner_id', 'port', 'tls', 'time_zone', 'allowed_ips'])
        .execute();
      return rows.map((r) => ({
        sourceId: r.source_id,
        ownerId: r.owner_id,
        port: r.port,
        tls: r.tls,
        timeZone: r.time_zone,
        allowedIps: r.allowed_ips,
      }));
    },
  });
  const api = createLogsApi({
    database,
    store,
    publicHost: config.LOGS_PUBLIC_HOST,
    portMin: config.LOGS_PORT_MIN,
    portMax: config.LOGS_PORT_MAX,
    tlsAvailable: tls !== undefined,
    defaultRetentionDays: config.LOGS_RETENTION_DAYS,
    changed: () => listeners.sync(),
  });
  const alerts = createAlertsApi({ database, store });
  const evaluator = createEvaluator({ database, store, log, intervalMs: config.LOGS_ALERT_EVAL_MS });
  const relayConnection = createBusConnection({
    url: config.AMQP_URL,
    name: `log-listener:relay:${hostname()}:${process.pid}`,
    log,
  });
  const integration = createIntegrationRelay({
    database,
    store,
    connection: relayConnection,
    exchange: config.LOGS_EXCHANGE,
    log,
  });
  const maintenance = createMaintenance({
    database,
    writer,
    log,
    intervalMs: config.LOGS_MAINTENANCE_MS,
    defaultRetentionDays: config.LOGS_RETENTION_DAYS,
  });
  let http: Awaited<ReturnType<typeof createServiceHttp>> | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;
  const readiness = {
    postgres: postgresCheck(database),
    wamp: () => wamp?.isConnected ?? false,
    rabbitmq: () => relayConnection.isConnected(),
    started: () => started,
  };

  async function stopAll(): Promise<void> {
    started = false;
    await http?.close();
    http = undefined;
    // Senders first (what they sent is read and written), then the writer drains.
    await listeners.stop();
    await maintenance.stop();
    await evaluator.stop();
    await writer.stop();
    await integration.stop();
    await relayConnection.stop();
    await wamp?.close();
    wamp = undefined;
    await store.close();
    if (ownsDatabase) await database.close();
    log.info('log-listener stopped');
  }

  return {
    database,
    store,
    api,
    alerts,
    evaluator,
    writer,
    listeners,
    maintenance,
    readiness,
    async start() {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      const { applied } = await migrate(database, logsMigrations);
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      const today = Math.floor(Date.now() / 86_400_000);
      await writer.ensurePartitions([today, today + 1]);
      wamp = await connectService({
        url: config.WAMP_URL,
        realm: config.WAMP_REALM,
        authid: 'service:log-listener',
        secret: config.VECHE_SERVICE_SECRET,
        log,
      });
      await registerLogsProcedures(wamp, api, alerts);
      await relayConnection.start();
      await integration.start();
      await listeners.start();
      maintenance.start();
      evaluator.start();
      let port = 0;
      if (options.http !== false) {
        http = await createServiceHttp({ log, readiness });
        await http.listen({ host: config.HOST, port: config.PORT });
        const address = http.server.address();
        port = typeof address === 'object' && address ? address.port : 0;
      }
      started = true;
      log.info({ port, schema: database.schema, sources: listeners.ports.size }, 'log-listener started');
      return { port };
    },
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}
