/**
 * Chat on real servers for the tests and the benchmark: a local WAMP router (users authenticate with a
 * signed actor assertion as their ticket, the way the gateway's authenticator will vouch for them),
 * an isolated PostgreSQL schema, exchanges and queues of its own, and the chat app in-process. Calls
 * go through the router exactly as the gateway forwards them: `{actor, input}`.
 */
import type { AccountRegistered } from '@veche/contracts';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signActor, verifyActor } from '@veche/contracts';
import { createLogger, type Logger } from '@veche/log';
import { sql } from '@veche/db';
import {
  createTestDatabase,
  eventually,
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
} from '@veche/wamp-router';
import { createBusConnection, createPublisher, deleteTopology } from '@veche/bus';
import { chatBusNames, createChatApp, type ChatApp } from '../../src/app.ts';
import { loadChatConfig, type ChatConfig } from '../../src/env.ts';
import { connectUser, type UserClient } from './clients.ts';

export const secret = 'chat-test-secret-0123456789';

/** Users present `signActor({userId, role: 'user'})` as their ticket. */
export const signedTicketAuthenticator =
  (serviceSecret: string): Authenticator =>
  async (request) => {
    if (request.authid.startsWith('service:')) return null;
    const actor = verifyActor(request.ticket, serviceSecret);
    if (!actor || actor.userId !== request.authid) throw new Error('bad ticket');
    return { authrole: 'user' };
  };

/** Deletes the queues and exchanges a test's chat declared. */
export async function deleteBusNames(config: ChatConfig, log: Logger): Promise<void> {
  const connection = createBusConnection({ url: config.AMQP_URL, name: 'chat-test-cleanup', log });
  await connection.start();
  try {
    await deleteTopology(connection, chatBusNames(config));
  } finally {
    await connection.stop();
  }
}

export type Router = Awaited<ReturnType<typeof startRouter>>;

export async function startTestRouter(log: Logger, port = 0): Promise<Router> {
  return startRouter({
    log,
    port,
    authenticate: composeAuthenticators(serviceAuthenticator(secret), signedTicketAuthenticator(secret)),
  });
}

export interface Harness {
  router: Router;
  database: TestDatabase;
  config: ChatConfig;
  app: ChatApp;
  /** A service session standing in for the gateway: calls `veche.chat.*` with `{actor, input}`. */
  caller: WampService;
  log: Logger;
  call<T = Record<string, unknown>>(
    userId: string,
    procedure: string,
    input?: Record<string, unknown>,
  ): Promise<T>;
  user(userId: string): Promise<UserClient>;
  /**
   * Registers users the way the gateway does (an `account.registered` on the chat's exchange) and
   * waits until chat knows them: invitations and direct messages accept known users only.
   */
  register(...userIds: string[]): Promise<void>;
  /** Builds another chat app on the same schema and names (a second replica, or a restart). */
  newApp(overrides?: Partial<ChatConfig>): ChatApp;
  /** Stops the router, waits `downMs`, and starts a new one on the same port (a router restart). */
  restartRouter(downMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function testConfig(
  routerUrl: string,
  overrides: Partial<ChatConfig> & Record<string, unknown> = {},
): ChatConfig {
  const names = uniqueName('chat');
  return {
    ...loadChatConfig({
      DATABASE_URL: testDatabaseUrl(),
      AMQP_URL: testAmqpUrl(),
      WAMP_URL: routerUrl,
      VECHE_SERVICE_SECRET: secret,
      PORT: '0',
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'error',
      CHAT_EXCHANGE: `${names}.events`,
      CHAT_BOT_EXCHANGE: `${names}.bots`,
      CHAT_ACCOUNTS_QUEUE: `${names}.accounts`,
      CHAT_BOT_QUEUE: `${names}.bot-replies`,
      TYPING_TTL_MS: '800',
      // Never the default `var/uploads` under whatever directory the test runs in.
      UPLOADS_DIR: join(tmpdir(), `${names}-uploads`),
    }),
    ...overrides,
  };
}

export async function startHarness(
  name: string,
  options: { overrides?: Partial<ChatConfig>; poolSize?: number; http?: boolean } = {},
): Promise<Harness> {
  const log = createLogger({
    service: 'chat-test',
    level: (process.env['LOG_LEVEL'] as 'warn' | undefined) ?? 'error',
  });
  let router = await startTestRouter(log);
  const database = await createTestDatabase({ name, poolSize: options.poolSize ?? 12 });
  const uploads = await mkdtemp(join(tmpdir(), 'chat-uploads-'));
  const config = testConfig(router.url, { UPLOADS_DIR: uploads, ...options.overrides });
  const newApp = (overrides: Partial<ChatConfig> = {}) =>
    createChatApp({ config: { ...config, ...overrides }, log, database, http: options.http ?? true });
  const app = newApp();
  await app.start();
  const caller = await connectService({
    url: router.url,
    authid: 'service:gateway',
    secret,
    log,
    defaultTimeoutMs: 30_000,
  });
  const users: UserClient[] = [];
  return {
    get router() {
      return router;
    },
    database,
    config,
    app,
    caller,
    log,
    newApp,
    call: (userId, procedure, input = {}) =>
      caller.call(`veche.chat.${procedure}`, { actor: { userId, role: 'user' }, input }),
    async user(userId) {
      const client = await connectUser(router.url, userId, signActor({ userId, role: 'user' }, secret, 3600));
      users.push(client);
      return client;
    },
    async register(...userIds) {
      const connection = createBusConnection({ url: config.AMQP_URL, name: 'chat-test-accounts', log });
      await connection.start();
      const publisher = createPublisher({ connection, log, exchange: config.CHAT_EXCHANGE });
      try {
        await publisher.start();
        await publisher.publish(
          userIds.map((userId) => ({
            type: 'account.registered',
            data: {
              userId,
              displayName: userId,
              email: `${userId}@example.test`,
              locale: 'en',
              sealedToken: 'not-used-by-chat',
            } satisfies AccountRegistered,
            metadata: {
              eventId: randomUUID(),
              occurredAt: new Date().toISOString(),
              actor: userId,
              correlationId: randomUUID(),
              causationId: randomUUID(),
            },
          })),
        );
      } finally {
        await publisher.stop();
        await connection.stop();
      }
      await eventually(
        async () => {
          const { rows } = await sql<{ n: string }>`
            select count(*) as n from users where id = any(${userIds}::text[])`.execute(database.db);
          return Number(rows[0]?.n) === userIds.length;
        },
        { message: `users ${userIds.join(', ')} known to chat` },
      );
    },
    async restartRouter(downMs = 500) {
      const port = router.port;
      await router.close();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      router = await startTestRouter(log, port);
    },
    async close() {
      for (const user of users) user.close();
      await caller.close();
      await app.stop().catch((error: unknown) => log.error({ err: error }, 'stopping chat'));
      await router.close();
      await database.drop();
      await deleteBusNames(config, log);
      await rm(uploads, { recursive: true, force: true });
    },
  };
}
