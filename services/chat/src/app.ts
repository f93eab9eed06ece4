/**
 * Wires the chat: migrations, the event store with its inline read model, the room writer, the WAMP
 * procedures, the realtime relay, the RabbitMQ outbox relay (integration events), the bot command relay
 * and the consumers of bot replies and account events, typing, and the internal HTTP server.
 * `server.ts` only starts it; tests build it in-process with their own schema, exchanges and queues.
 */
import { Value } from '@sinclair/typebox/value';
import { createBusConnection, topologyNames, type Consumer } from '@veche/bus';
import { createDatabase, ensureDatabaseExists, migrate, type Database } from '@veche/db';
import { internalError, unavailable } from '@veche/errors';
import { createEventStore, type EventStore, type Subscription } from '@veche/event-store';
import { KnownAccounts, gatewayServiceProcedures, presenceServiceProcedures } from '@veche/contracts';
import type { Logger } from '@veche/log';
import { checkReadiness, postgresCheck } from '@veche/service';
import { connectService, type WampService } from '@veche/wamp';
import { chatMigrations } from '../migrations/index.ts';
import { registerProcedures } from './api/procedures.ts';
import {
  botReplyRetryDelaysMs,
  createAccountConsumer,
  createBotReplyConsumer,
  createIntegrationRelay,
} from './bots.ts';
import { createChat, type Chat } from './chat.ts';
import { chatEventTypes as T } from './domain/events.ts';
import { parseTypes, type ChatConfig } from './env.ts';
import { createChatHttp } from './http.ts';
import { readModelProjection } from './projections/read-model.ts';
import { createChatRealtimeRelay } from './realtime.ts';
import { createRoomWriter } from './room-writer.ts';
import { createTyping, type Typing } from './typing.ts';

/** The integration events chat publishes on `veche.events` (the mailer binds to some of them). */
export const publishedEventTypes = [
  T.roomCreated,
  T.memberJoined,
  T.memberLeft,
  T.receiptsUpdated,
  T.messageNotified,
  T.botCommandIssued,
] as const;

/** Every queue and exchange the chat declares (tests and benchmarks delete them afterwards). */
export function chatBusNames(config: ChatConfig): { queues: string[]; exchanges: string[] } {
  const queues = [
    topologyNames(config.CHAT_ACCOUNTS_QUEUE, [1_000, 5_000, 30_000, 120_000, 600_000]),
    topologyNames(config.CHAT_BOT_QUEUE, botReplyRetryDelaysMs),
  ].flatMap((names) => [names.queue, ...names.retryQueues.map((q) => q.name), names.deadLetterQueue]);
  // deleteTopology removes each exchange's unrouted queue with the exchange.
  return {
    queues,
    exchanges: [config.CHAT_EXCHANGE, config.CHAT_BOT_EXCHANGE],
  };
}

export interface ChatAppOptions {
  config: ChatConfig;
  log: Logger;
  /** A database the caller made (tests: an isolated schema); chat makes its own otherwise. */
  database?: Database<unknown>;
  /** Serve the internal HTTP server (default true). */
  http?: boolean;
  /** Fault tests: runs after the outbox relay's batch is confirmed, before its checkpoint moves. */
  onOutboxBatchConfirmed?: () => void | Promise<void>;
}

export interface ChatApp {
  readonly database: Database<unknown>;
  readonly store: EventStore;
  readonly chat: Chat;
  /** The internal HTTP server, once started (unless `http: false`). */
  readonly http: Awaited<ReturnType<typeof createChatHttp>> | undefined;
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
  ready(): Promise<Record<string, boolean>>;
}

export function createChatApp(options: ChatAppOptions): ChatApp {
  const { config, log } = options;
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    createDatabase<unknown>({
      url: config.DATABASE_URL,
      schema: config.CHAT_DB_SCHEMA,
      poolSize: config.CHAT_DB_POOL_SIZE,
      applicationName: 'chat',
    });
  const store = createEventStore({
    database,
    log,
    inlineProjections: [readModelProjection],
    maxBatchSize: 512,
    maxBatchEvents: 10_000,
  });
  const writer = createRoomWriter({ store, db: database.db, log });
  const chat = createChat({
    database,
    store,
    writer,
    log,
    // Who is online is the presence-router's answer, as this member may see it (privacy and groups).
    presenceOf: async (viewer, users) => {
      const session = wamp;
      if (!session?.isConnected) return undefined;
      const statuses = new Map<string, number>();
      for (let from = 0; from < users.length; from += 5_000) {
        const answer = await session.call<{ statuses: { userId: string; status: number }[] }>(
          presenceServiceProcedures.statusesFor,
          { viewer, users: users.slice(from, from + 5_000) },
          // No presence-router registered: answer at once (members offline) rather than wait for one.
          { timeoutMs: config.CHAT_PRESENCE_TIMEOUT_MS, calleeWaitMs: 0 },
        );
        for (const entry of answer.statuses) statuses.set(entry.userId, entry.status);
      }
      return statuses;
    },
    // A user chat has not heard of yet: the gateway, which owns accounts, says whether they exist.
    accountsOf: async (userIds) => {
      const session = wamp;
      if (!session?.isConnected) throw unavailable('Not connected to the router');
      const answer = await session.call<unknown>(
        gatewayServiceProcedures.knownAccounts,
        { userIds },
        { timeoutMs: config.CHAT_ACCOUNT_LOOKUP_TIMEOUT_MS, calleeWaitMs: 0 },
      );
      if (!Value.Check(KnownAccounts, answer))
        throw internalError('The gateway answered known accounts malformed');
      return answer.accounts;
    },
    maxBotReplies: config.CHAT_BOT_MAX_REPLIES,
  });
  let wamp: WampService | undefined;
  const typing: Typing = createTyping({ session: () => wamp, ttlMs: config.TYPING_TTL_MS, log });
  const relayConnection = createBusConnection({
    url: config.AMQP_URL,
    name: `chat:relay:${process.pid}`,
    log,
  });
  const consumerConnection = createBusConnection({
    url: config.AMQP_URL,
    name: `chat:consumer:${process.pid}`,
    log,
  });
  const outbox = createIntegrationRelay({
    database,
    store,
    connection: relayConnection,
    exchange: config.CHAT_EXCHANGE,
    botExchange: config.CHAT_BOT_EXCHANGE,
    eventTypes: publishedEventTypes,
    log,
    onBatchConfirmed: options.onOutboxBatchConfirmed,
  });
  const consumers: Consumer[] = [
    createBotReplyConsumer({
      database,
      connection: consumerConnection,
      exchange: config.CHAT_BOT_EXCHANGE,
      queue: config.CHAT_BOT_QUEUE,
      chat,
      maxReplies: config.CHAT_BOT_MAX_REPLIES,
      log,
    }),
    createAccountConsumer({
      database,
      connection: consumerConnection,
      exchange: config.CHAT_EXCHANGE,
      queue: config.CHAT_ACCOUNTS_QUEUE,
      log,
    }),
  ];
  let realtime: Subscription | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  const readiness = {
    postgres: postgresCheck(database),
    rabbitmq: () => relayConnection.isConnected() && consumerConnection.isConnected(),
    wamp: () => wamp?.isConnected ?? false,
    started: () => started,
  };
  const ready = async () => (await checkReadiness(readiness)).checks;
  let http: Awaited<ReturnType<typeof createChatHttp>> | undefined;

  return {
    database,
    store,
    chat,
    get http() {
      return http;
    },
    ready,
    async start() {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      const { applied } = await migrate(database, chatMigrations);
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      let port = 0;
      if (options.http !== false) {
        http = await createChatHttp({
          database,
          log,
          secret: config.VECHE_SERVICE_SECRET,
          uploadsDir: config.UPLOADS_DIR,
          maxBytes: config.ATTACHMENT_MAX_BYTES,
          allowedTypes: parseTypes(config.ATTACHMENT_TYPES),
          readiness,
        });
        await http.listen({ host: config.HOST, port: config.PORT });
        const address = http.server.address();
        port = typeof address === 'object' && address ? address.port : 0;
      }
      await relayConnection.start();
      await consumerConnection.start();
      for (const publisher of outbox.publishers) await publisher.start();
      await outbox.relay.start();
      for (const consumer of consumers) await consumer.start();
      wamp = await connectService({
        url: config.WAMP_URL,
        realm: config.WAMP_REALM,
        authid: 'service:chat',
        secret: config.VECHE_SERVICE_SECRET,
        log,
      });
      realtime = createChatRealtimeRelay({
        database,
        store,
        log,
        session: wamp,
        batchSize: config.CHAT_REALTIME_BATCH,
      });
      await realtime.start();
      await registerProcedures(wamp, chat, typing);
      started = true;
      log.info({ port, schema: database.schema }, 'chat started');
      return { port };
    },
    stop() {
      // Idempotent: a second call waits for the first.
      stopping ??= stopAll();
      return stopping;
    },
  };

  async function stopAll(): Promise<void> {
    started = false;
    typing.stop();
    // Stop taking calls first, let posts under way finish, then the relays publish what is committed.
    await wamp?.close();
    await chat.idle();
    await realtime?.stop();
    for (const consumer of consumers) await consumer.stop();
    await outbox.relay.stop();
    for (const publisher of outbox.publishers) await publisher.stop();
    await consumerConnection.stop();
    await relayConnection.stop();
    await http?.close();
    await store.close();
    if (ownsDatabase) await database.close();
    wamp = undefined;
    log.info('chat stopped');
  }
}
