/**
 * A real gateway for tests: its own PostgreSQL schema, its own RabbitMQ exchange, the local WAMP router
 * (with the gateway as its user authenticator, as in the fleet), started in-process so tests can use
 * both `app.inject()` and a real listener.
 */
import type { ApiRoute } from '@veche/contracts';
import { createLogger } from '@veche/log';
import { sql } from '@veche/db';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  startRouter,
} from '@veche/wamp-router';
import { createTestDatabase, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
import { createGateway, type Gateway } from '../../src/app.ts';
import { removeExchange } from './bus-cleanup.ts';
import { loadGatewayConfig, type GatewayConfig } from '../../src/env.ts';

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
  close(): Promise<void>;
}

export interface HarnessOptions {
  internalUrls?: Record<string, string>;
  extraRoutes?: readonly ApiRoute[];
}

export async function startHarness(
  name: string,
  overrides: Record<string, string> = {},
  options: HarnessOptions = {},
): Promise<Harness> {
  const log = createLogger({
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
  return {
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
    async close() {
      await gateway.stop().catch(() => {});
      await router.close().catch(() => {});
      await database.drop().catch(() => {});
      await removeExchange(config.GATEWAY_EXCHANGE).catch(() => {});
    },
  };
}
