/**
 * The presence-router on real servers for the tests: a local WAMP router, an isolated PostgreSQL
 * schema, a RabbitMQ exchange and queue of its own, and one or more replicas of the app in-process
 * (or as processes), each serving `/pubsub` on its own port. Users' tokens are signed actor
 * assertions; a service session standing in for the gateway answers the token check
 * (`veche.gateway.sessions.authenticate`) for them, so the replicas authenticate exactly as in
 * production. The fleet test uses the real gateway.
 */
import type { AccountEventData, AccountEventType } from '@veche/contracts';
import { randomUUID } from 'node:crypto';
import { createBusConnection, createPublisher, deleteTopology, type Publisher } from '@veche/bus';
import { AuthenticateTokenRequest, gatewayServiceProcedures, signActor, verifyActor } from '@veche/contracts';
import { unauthorized } from '@veche/errors';
import { createLogger, type Logger } from '@veche/log';
import {
  createTestDatabase,
  testAmqpUrl,
  testDatabaseUrl,
  uniqueName,
  type TestDatabase,
} from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import {
  composeAuthenticators,
  serviceAuthenticator,
  startRouter,
  type Authenticator,
  type WampRouter,
} from '@veche/wamp-router';
import { createPresenceApp, presenceBusNames, type PresenceApp } from '../../src/app.ts';
import { loadPresenceConfig, type PresenceConfig } from '../../src/env.ts';
import { connectPubsub, type PubsubClient } from './pubsub-client.ts';

export const secret = 'presence-test-secret-0123456789';

/** A user's token in these tests: a signed actor assertion (an hour long). */
export const tokenOf = (userId: string): string => signActor({ userId, role: 'user' }, secret, 3600);

/** WAMP users present the same token as their ticket. */
const userTickets: Authenticator = async (request) => {
  if (request.authid.startsWith('service:')) return null;
  const actor = verifyActor(request.ticket, secret);
  if (!actor || actor.userId !== request.authid) throw new Error('bad ticket');
  return { authrole: 'user' };
};

export interface Replica {
  app: PresenceApp;
  /** `ws://127.0.0.1:<port>/pubsub` */
  url: string;
  /** `http://127.0.0.1:<port>` (/health, /ready) */
  httpUrl: string;
  close(): Promise<void>;
}

export interface Harness {
  log: Logger;
  router: WampRouter;
  database: TestDatabase;
  config: PresenceConfig;
  replicas: Replica[];
  /** The first replica. */
  app: PresenceApp;
  url: string;
  /** A service session standing in for the gateway: calls `veche.presence.*` with `{actor, input}`. */
  caller: WampService;
  call<T = Record<string, unknown>>(
    userId: string,
    procedure: string,
    input?: Record<string, unknown>,
    role?: 'user' | 'admin',
  ): Promise<T>;
  /** Opens `/pubsub` on replica `index` as `userId`. */
  connect(userId: string, options?: { replica?: number; via?: 'header' | 'query' }): Promise<PubsubClient>;
  /** Publishes an account event on the test exchange, as the gateway's outbox relay would. */
  /** Publishes a gateway event as the gateway would (typed from its contract). */
  accountEvent<K extends AccountEventType>(type: K, data: AccountEventData[K]): Promise<void>;
  /** Starts one more replica on the same schema, queue and router. */
  addReplica(overrides?: Partial<PresenceConfig>): Promise<Replica>;
  close(): Promise<void>;
}

export function testConfig(routerUrl: string, overrides: Record<string, string> = {}): PresenceConfig {
  const names = uniqueName('presence');
  return loadPresenceConfig({
    NODE_ENV: 'test',
    DATABASE_URL: testDatabaseUrl(),
    AMQP_URL: testAmqpUrl(),
    WAMP_URL: routerUrl,
    VECHE_SERVICE_SECRET: secret,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
    PORT: '0',
    PRESENCE_EXCHANGE: `${names}.events`,
    PRESENCE_ACCOUNTS_QUEUE: `${names}.accounts`,
    PRESENCE_OFFLINE_GRACE_MS: '0',
    PRESENCE_SWEEP_MS: '100',
    PRESENCE_REPLICA_LEASE_MS: '3000',
    ...overrides,
  });
}

export async function startHarness(
  name: string,
  options: { overrides?: Record<string, string>; replicas?: number; log?: Logger } = {},
): Promise<Harness> {
  const log =
    options.log ??
    createLogger({
      service: 'presence-test',
      level: (process.env['LOG_LEVEL'] as 'silent' | undefined) ?? 'silent',
    });
  const router = await startRouter({
    log,
    authenticate: composeAuthenticators(serviceAuthenticator(secret), userTickets),
    guardUnhandledRejections: false,
  });
  const database = await createTestDatabase({ name, poolSize: 12 });
  const config = testConfig(router.url, options.overrides);
  const caller = await connectService({
    url: router.url,
    authid: 'service:gateway',
    secret,
    log,
    defaultTimeoutMs: 20_000,
  });
  await caller.register(gatewayServiceProcedures.authenticateToken, AuthenticateTokenRequest, ({ token }) => {
    const actor = verifyActor(token, secret);
    if (!actor) throw unauthorized('Invalid or expired token');
    return { userId: actor.userId, role: actor.role, sessionId: 'test-session' };
  });
  const replicas: Replica[] = [];
  const addReplica = async (overrides: Partial<PresenceConfig> = {}) => {
    const app = createPresenceApp({
      config: {
        ...config,
        PRESENCE_REPLICA_ID: `replica-${replicas.length + 1}-${randomUUID().slice(0, 6)}`,
        ...overrides,
      },
      log,
      database,
    });
    const { port } = await app.start();
    const replica: Replica = {
      app,
      url: `ws://127.0.0.1:${port}/pubsub`,
      httpUrl: `http://127.0.0.1:${port}`,
      close: () => app.stop(),
    };
    replicas.push(replica);
    return replica;
  };
  for (let i = 0; i < (options.replicas ?? 1); i++) await addReplica();
  const busConnection = createBusConnection({ url: config.AMQP_URL, name: 'presence-test-publisher', log });
  await busConnection.start();
  const publisher: Publisher = createPublisher({
    connection: busConnection,
    log,
    exchange: config.PRESENCE_EXCHANGE,
  });
  await publisher.start();
  const clients: PubsubClient[] = [];

  return {
    log,
    router,
    database,
    config,
    replicas,
    get app() {
      return replicas[0]!.app;
    },
    get url() {
      return replicas[0]!.url;
    },
    caller,
    call: (userId, procedure, input = {}, role = 'user') =>
      caller.call(procedure, { actor: { userId, role }, input }),
    async connect(userId, { replica = 0, via = 'header' } = {}) {
      const base = replicas[replica]!.url;
      const client =
        via === 'header'
          ? await connectPubsub(base, { headers: { authorization: `Bearer ${tokenOf(userId)}` } })
          : await connectPubsub(`${base}?access_token=${encodeURIComponent(tokenOf(userId))}`);
      clients.push(client);
      return client;
    },
    async accountEvent(type, data) {
      const eventId = randomUUID();
      await publisher.publish([
        {
          type,
          data,
          metadata: {
            eventId,
            occurredAt: new Date().toISOString(),
            actor: 'service:gateway',
            correlationId: eventId,
            causationId: eventId,
          },
        },
      ]);
    },
    addReplica,
    async close() {
      for (const client of clients) client.socket.terminate();
      for (const replica of replicas)
        await replica.close().catch((error: unknown) => log.error({ err: error }, 'stopping a replica'));
      await caller.close();
      await publisher.stop();
      await deleteTopology(busConnection, presenceBusNames(config)).catch(() => undefined);
      await busConnection.stop();
      await router.close();
      await database.drop();
    },
  };
}
