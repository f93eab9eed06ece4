/**
 * Wires the presence-router: migrations, the event store with its inline read model, statuses, the
 * presence clock, the `/pubsub` fan-out and endpoint, the directory consumer (account events), the
 * WAMP procedures, the realtime relay and the `/ws` session tracker. `server.ts` only starts it; tests
 * build it in-process with their own schema, queue and authenticators.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { createBusConnection, topologyNames } from '@veche/bus';
import {
  gatewayServiceProcedures,
  type AuthenticatedPrincipal,
  type NegotiatedPrincipal,
} from '@veche/contracts';
import { createDatabase, ensureDatabaseExists, migrate, type Database } from '@veche/db';
import { isVecheError, unauthorized, unavailable } from '@veche/errors';
import { createEventStore, type EventStore, type Subscription } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { createServiceHttp, postgresCheck, type ServiceApp } from '@veche/service';
import { connectService, type WampService } from '@veche/wamp';
import { userTopic } from '@veche/wamp-policy';
import { presenceMigrations } from '../migrations/index.ts';
import { createPresenceApi, type PresenceApi } from './api/presence-api.ts';
import { registerPresenceProcedures } from './api/procedures.ts';
import { createPresenceClock } from './clock.ts';
import { createDirectoryConsumer } from './directory.ts';
import type { PresenceConfig } from './env.ts';
import { readModelProjection } from './projections/read-model.ts';
import {
  bearerAuthenticator,
  negotiateAuthenticator,
  type PubsubAuthenticator,
} from './pubsub/authenticate.ts';
import { createFederation, federationPath, type Federation } from './federation/federation.ts';
import { createSecretBox } from './federation/secrets.ts';
import { createFanout, type Fanout } from './pubsub/fanout.ts';
import { createPubsubServer, pubsubCloseCodes, type PubsubServer } from './pubsub/server.ts';
import { createPresenceRelay } from './realtime.ts';
import { createStatuses, type Statuses } from './statuses.ts';
import type { PresenceTables } from './tables.ts';
import { createWsSessionTracker, type WsSessionTracker } from './wamp-sessions.ts';

/** Every queue and exchange the presence-router declares (tests delete them afterwards). */
export function presenceBusNames(config: PresenceConfig): { queues: string[]; exchanges: string[] } {
  const names = topologyNames(config.PRESENCE_ACCOUNTS_QUEUE, [1_000, 5_000, 30_000, 120_000, 600_000]);
  return {
    queues: [names.queue, ...names.retryQueues.map((q) => q.name), names.deadLetterQueue],
    exchanges: [config.PRESENCE_EXCHANGE],
  };
}

export interface PresenceAppOptions {
  config: PresenceConfig;
  log: Logger;
  /** A database the caller made (tests: an isolated schema); the app makes its own otherwise. */
  database?: Database<unknown>;
  /**
   * Who may open `/pubsub` (default: bearer tokens checked by the gateway). Kerberos (`Negotiate`)
   * joins this list.
   */
  authenticators?: (wamp: () => WampService | undefined) => PubsubAuthenticator[];
  /** Serve HTTP (`/pubsub`, `/health`, `/ready`) on HOST:PORT (default true). */
  http?: boolean;
}

export interface PresenceApp extends ServiceApp {
  readonly database: Database<unknown>;
  readonly store: EventStore;
  readonly statuses: Statuses;
  readonly api: PresenceApi;
  readonly fanout: Fanout;
  readonly pubsub: PubsubServer;
  readonly federation: Federation;
  readonly replicaId: string;
  /** Compares the known `/ws` sessions with the router's list now (tests; it also runs on a timer). */
  reconcileWsSessions(): Promise<void>;
  /** What `/ready` checks. */
  readonly readiness: Record<string, () => boolean | Promise<boolean>>;
  /** Resolves with the HTTP port (0 without HTTP). */
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

/** Access tokens are the gateway's: it checks each against its live session. */
export function gatewayBearer(wamp: () => WampService | undefined): PubsubAuthenticator {
  return bearerAuthenticator(async (token) => {
    const session = wamp();
    if (!session) throw unauthorized('Authentication is unavailable');
    try {
      const principal = await session.call<AuthenticatedPrincipal>(
        gatewayServiceProcedures.authenticateToken,
        { token },
        { timeoutMs: 5_000, calleeWaitMs: 2_000 },
      );
      return { userId: principal.userId };
    } catch (error) {
      if (isVecheError(error, 'unauthorized') || isVecheError(error, 'validation'))
        throw unauthorized('Invalid or expired token');
      throw error;
    }
  });
}

/** Kerberos tokens are the gateway's too: it holds the keytab and the principal → account mapping. */
export function gatewayNegotiate(wamp: () => WampService | undefined): PubsubAuthenticator {
  return negotiateAuthenticator(async (token) => {
    const session = wamp();
    if (!session) throw unauthorized('Authentication is unavailable');
    try {
      const principal = await session.call<NegotiatedPrincipal>(
        gatewayServiceProcedures.authenticateNegotiate,
        { token },
        { timeoutMs: 5_000, calleeWaitMs: 2_000 },
      );
      return {
        userId: principal.userId,
        ...(principal.responseToken ? { responseToken: principal.responseToken } : {}),
      };
    } catch (error) {
      if (isVecheError(error, 'unauthorized') || isVecheError(error, 'validation'))
        throw unauthorized('Kerberos token refused');
      throw error;
    }
  });
}

export function createPresenceApp(options: PresenceAppOptions): PresenceApp {
  const { config, log } = options;
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    createDatabase<unknown>({
      url: config.DATABASE_URL,
      schema: config.PRESENCE_DB_SCHEMA,
      poolSize: config.PRESENCE_DB_POOL_SIZE,
      applicationName: 'presence-router',
    });
  const db = database.db.$extendTables<PresenceTables>();
  const replicaId =
    config.PRESENCE_REPLICA_ID ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const timings = {
    idleMs: config.PRESENCE_IDLE_MS,
    offlineGraceMs: config.PRESENCE_OFFLINE_GRACE_MS,
    replicaLeaseMs: config.PRESENCE_REPLICA_LEASE_MS,
  };
  const store = createEventStore({
    database,
    log,
    inlineProjections: [readModelProjection(database.schema)],
  });
  // Status transactions leave room in the pool for reads, the relays and the listener.
  const statuses = createStatuses({
    database,
    store,
    log,
    timings,
    concurrency: Math.max(2, config.PRESENCE_DB_POOL_SIZE - 4),
  });
  let wamp: WampService | undefined;
  const federation = createFederation({
    database,
    db,
    store,
    log,
    domain: config.PRESENCE_DOMAIN,
    secrets: createSecretBox({ keys: config.FEDERATION_KEYS, serviceSecret: config.VECHE_SERVICE_SECRET }),
    batchMax: config.FEDERATION_BATCH_MAX,
    pauseMs: config.FEDERATION_BATCH_PAUSE_MS,
    publish: async (viewer, event) => {
      if (!wamp) throw unavailable('Not connected to the router yet');
      await wamp.publish(userTopic(viewer, 'presence'), event, { acknowledge: true, timeoutMs: 5_000 });
    },
    historyFor: (viewer, query) => api.history(viewer, query),
  });
  const api = createPresenceApi({
    db,
    store,
    statuses,
    maxWatches: config.PRESENCE_MAX_WATCHES,
    federation: () => federation,
    domain: config.PRESENCE_DOMAIN,
  });
  const clock = createPresenceClock({
    database,
    statuses,
    replicaId,
    timings,
    intervalMs: config.PRESENCE_SWEEP_MS,
    log,
  });
  const fanout = createFanout({
    database,
    db,
    log,
    disabledCloseCode: pubsubCloseCodes.accountDisabled,
    domain: config.PRESENCE_DOMAIN,
    replicaId,
  });
  const pubsub = createPubsubServer({
    log,
    authenticators: (options.authenticators ?? ((w) => [gatewayBearer(w), gatewayNegotiate(w)]))(() => wamp),
    fanout,
    statuses,
    replicaId,
    limits: {
      maxFrameBytes: config.PUBSUB_MAX_FRAME_BYTES,
      maxEvents: config.PUBSUB_MAX_UIDS,
      maxSubscriptions: config.PUBSUB_MAX_SUBSCRIPTIONS,
      framesPerSecond: config.PUBSUB_FRAMES_PER_SECOND,
      frameBurst: config.PUBSUB_FRAME_BURST,
      maxBufferedBytes: config.PUBSUB_MAX_BUFFERED_BYTES,
    },
    heartbeatMs: config.PUBSUB_HEARTBEAT_MS,
  });
  const busConnection = createBusConnection({
    url: config.AMQP_URL,
    name: `presence-router:${replicaId}`,
    log,
  });
  const directory = createDirectoryConsumer({
    database,
    store,
    connection: busConnection,
    exchange: config.PRESENCE_EXCHANGE,
    queue: config.PRESENCE_ACCOUNTS_QUEUE,
    log,
  });
  let relay: Subscription | undefined;
  let sessions: WsSessionTracker | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  let http: Awaited<ReturnType<typeof createServiceHttp>> | undefined;
  const readiness = {
    postgres: postgresCheck(database),
    listening: () => fanout.isListening,
    rabbitmq: () => busConnection.isConnected(),
    wamp: () => wamp?.isConnected ?? false,
    started: () => started,
  };

  async function stopAll(): Promise<void> {
    started = false;
    // Clients first (they reconnect to another replica), while their presence can still be recorded.
    await pubsub.close();
    await federation.stop();
    await http?.close();
    http = undefined;
    await sessions?.stop();
    await relay?.stop();
    await wamp?.close();
    await directory.stop();
    await busConnection.stop();
    await clock.stop({ forget: true });
    await fanout.stop();
    await store.close();
    if (ownsDatabase) await database.close();
    wamp = undefined;
    log.info({ replicaId }, 'presence-router stopped');
  }

  return {
    database,
    store,
    statuses,
    api,
    fanout,
    pubsub,
    federation,
    replicaId,
    readiness,
    async reconcileWsSessions() {
      await sessions?.reconcile();
    },
    async start() {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      const { applied } = await migrate(database, presenceMigrations);
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      await fanout.start();
      await clock.start();
      await busConnection.start();
      await directory.start();
      wamp = await connectService({
        url: config.WAMP_URL,
        realm: config.WAMP_REALM,
        authid: 'service:presence-router',
        secret: config.VECHE_SERVICE_SECRET,
        log,
      });
      await registerPresenceProcedures(wamp, api);
      relay = createPresenceRelay({ database, store, log, session: wamp });
      await relay.start();
      sessions = createWsSessionTracker({
        wamp,
        statuses,
        log,
        reconcileMs: config.PRESENCE_WS_RECONCILE_MS,
      });
      await sessions.start();
      await federation.start();
      let port = 0;
      if (options.http !== false) {
        http = await createServiceHttp({ log, readiness });
        // /pubsub is a WebSocket upgrade, outside Fastify's routing (nothing of the URL is logged).
        http.server.on('upgrade', (request, socket, head) => {
          if (new URL(request.url ?? '/', 'http://x.invalid').pathname === federationPath)
            federation.handleUpgrade(request, socket, head);
          else pubsub.handleUpgrade(request, socket, head);
        });
        await http.listen({ host: config.HOST, port: config.PORT });
        const address = http.server.address();
        port = typeof address === 'object' && address ? address.port : 0;
      }
      started = true;
      log.info({ replicaId, port, schema: database.schema }, 'presence-router started');
      return { port };
    },
    stop() {
      // Idempotent: a second call waits for the first.
      stopping ??= stopAll();
      return stopping;
    },
  };
}
