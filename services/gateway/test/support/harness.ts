/**
 * A real gateway for tests: its own PostgreSQL schema, its own RabbitMQ exchange, the local WAMP router
 * (with the gateway as its user authenticator, as in the fleet), started in-process so tests can use
 * both `app.inject()` and a real listener.
 */
import { openMailToken, type ApiRoute, type MailTokenPurpose } from '@veche/contracts';
import { createLogger, type Logger } from '@veche/log';
import { sql } from '@veche/db';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  startRouter,
  type Authorizer,
} from '@veche/wamp-router';
import { createTestDatabase, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
import { createGateway, type Gateway } from '../../src/app.ts';
import { removeExchange } from './bus-cleanup.ts';
import { loadGatewayConfig, mailTokenSecret, type GatewayConfig } from '../../src/env.ts';

const mailTokenPurposes = {
  'account.registered': 'verify_email',
  'account.password_reset_requested': 'reset_password',
  'account.email_change_requested': 'confirm_email_change',
} as const satisfies Record<string, MailTokenPurpose>;

export const serviceSecret = 'test-service-secret-0123456789abcdef';

export interface Harness {
  gateway: Gateway;
  config: GatewayConfig;
  database: TestDatabase;
  routerUrl: string;
  /** The base URL of the real listener, e.g. http://127.0.0.1:40123 */
  baseUrl: string;
  /** Stops the router and starts a new one on the same port (a router restart). */
  restartRouter(downMs?: number): Promise<void>;
  /** The latest event of `type` in the gateway's log for `userId`. */
  lastEvent<T = Record<string, unknown>>(type: string, userId?: string): Promise<T>;
  /**
   * The token of the link in the latest mail of `type` to `userId`, opened from the event as the
   * mailer opens it (the log holds it sealed).
   */
  mailToken(type: keyof typeof mailTokenPurposes, userId: string): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  internalUrls?: Record<string, string>;
  /** The gateway's logger (default: silent unless LOG_LEVEL says otherwise). */
  log?: Logger;
  extraRoutes?: readonly ApiRoute[];
  /** The router's authorizer (default: the shared policy), as Crossbar's dynamic authorizer would answer. */
  authorize?: Authorizer;
}

export async function startHarness(
  name: string,
  overrides: Record<string, string> = {},
  options: HarnessOptions = {},
): Promise<Harness> {
  const log =
    options.log ??
    createLogger({
      service: 'gateway-test',
      level: (process.env['LOG_LEVEL'] as 'silent' | undefined) ?? 'silent',
    });
  const database = await createTestDatabase({ name, poolSize: 8 });
  const startOn = (port: number) =>
    startRouter({
      log,
      port,
      authenticate: composeAuthenticators(
        serviceAuthenticator(serviceSecret),
        procedureAuthenticator('veche.gateway.authenticate'),
      ),
      guardUnhandledRejections: false,
      ...(options.authorize ? { authorize: options.authorize } : {}),
    });
  let router = await startOn(0);
  const config = loadGatewayConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
    AMQP_URL: testAmqpUrl(),
    WAMP_URL: router.url,
    VECHE_SERVICE_SECRET: serviceSecret,
    PORT: '0',
    GATEWAY_EXCHANGE: uniqueName('events'),
    // Cheap hashes keep the suite fast; the bench uses the production parameters.
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_PASSES: '1',
    ...overrides,
  });
  const gateway = await createGateway({
    config,
    log,
    database,
    internalUrls: options.internalUrls ?? {},
    ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}),
  });
  const { port } = await gateway.start();
  const harness: Harness = {
    gateway,
    config,
    database,
    routerUrl: router.url,
    baseUrl: `http://127.0.0.1:${port}`,
    async restartRouter(downMs = 300) {
      const { port } = router;
      await router.close();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      router = await startOn(port);
    },
    async lastEvent<T>(type: string, userId?: string) {
      const { rows } = await sql<{ data: T }>`
        select data from events where type = ${type}
          and (${userId ?? null}::text is null or stream_id = ${`account-${userId ?? ''}`})
        order by global_position desc limit 1`.execute(database.db);
      if (!rows[0]) throw new Error(`no ${type} event`);
      return rows[0].data;
    },
    async mailToken(type, userId) {
      const { sealedToken } = await harness.lastEvent<{ sealedToken: string }>(type, userId);
      const token = openMailToken(mailTokenSecret(config), mailTokenPurposes[type], userId, sealedToken);
      if (token === undefined) throw new Error(`the ${type} event of ${userId} holds no token we can open`);
      return token;
    },
    async close() {
      await gateway.stop().catch(() => {});
      await router.close().catch(() => {});
      await database.drop().catch(() => {});
      await removeExchange(config.GATEWAY_EXCHANGE).catch(() => {});
    },
  };
  return harness;
}
