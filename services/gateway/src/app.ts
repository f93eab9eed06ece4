/**
 * Wires the gateway: migrations, the event store with its inline read models, the outbox relay that
 * publishes account.* events, the WAMP sessions (forwarding, and the router's authenticator and
 * authorizer), and the HTTP API. `server.ts` only starts it; tests build it in-process.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { mailerProcedures, type ApiRoute } from '@veche/contracts';
import { createBusConnection, createOutboxRelay, type BusConnection, type OutboxRelay } from '@veche/bus';
import { createDatabase, ensureDatabaseExists, migrate, sql, type Database } from '@veche/db';
import { unavailable } from '@veche/errors';
import { createEventStore, type EventStore } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { connectService, type WampService } from '@veche/wamp';
import type { FastifyInstance } from 'fastify';
import { gatewayMigrations } from '../migrations/index.ts';
import { createAccounts, type Accounts, type Principal } from './accounts.ts';
import { integrationEventTypes } from './domain/account.ts';
import type { GatewayConfig } from './env.ts';
import { parseTrustProxy } from './env.ts';
import { buildHttp, declaredRoutes, type LocalCall, type LocalHandler } from './http.ts';
import { accountsProjection } from './projections/accounts.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createWampSecurity, type WampSecurity } from './wamp-security.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  log: Logger;
  /** A database the caller made (tests: an isolated schema). */
  database?: Database<unknown>;
  /** `VECHE_INTERNAL_URL_<SERVICE>` values by lower-case service name (default: from process.env). */
  internalUrls?: Record<string, string>;
  /** Routes served besides every one @veche/contracts declares (tests and benches). */
  extraRoutes?: readonly ApiRoute[];
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly accounts: Accounts;
  readonly store: EventStore;
  readonly database: Database<unknown>;
  /** Starts every part and listens (unless `listen: false`); resolves with the port. */
  start(options?: { listen?: boolean }): Promise<{ port: number }>;
  stop(): Promise<void>;
  ready(): Promise<Record<string, boolean>>;
}

export function internalUrlsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const match = /^VECHE_INTERNAL_URL_([A-Z0-9_]+)$/.exec(name);
    if (match?.[1] && value && URL.canParse(value)) urls[match[1].toLowerCase().replaceAll('_', '-')] = value;
  }
  return urls;
}

/** The access-token key: its own secret in production, derived from the service secret elsewhere. */
export function tokenSecretOf(config: GatewayConfig): string {
  return (
    config.GATEWAY_TOKEN_SECRET ??
    createHash('sha256').update(`veche-access-tokens:${config.VECHE_SERVICE_SECRET}`).digest('base64url')
  );
}

/** Fastify takes a hop count at run time but not in its types: a function says the same. */
function trustProxyOption(value: boolean | number | string[] | undefined) {
  if (typeof value === 'number') return (_address: string, hop: number) => hop < value;
  return value ?? 'loopback';
}

const need = (principal: Principal | null): Principal => {
  if (!principal) throw new Error('route declared public but needs a principal');
  return principal;
};

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config, log } = options;
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    createDatabase<unknown>({
      url: config.DATABASE_URL,
      schema: config.GATEWAY_DB_SCHEMA,
      poolSize: config.GATEWAY_DB_POOL_SIZE,
      applicationName: 'gateway',
    });
  const store = createEventStore({ database, log, inlineProjections: [accountsProjection] });
  const limiter = createRateLimiter(database.db);
  const relayConnection: BusConnection = createBusConnection({
    url: config.AMQP_URL,
    name: `gateway:relay:${hostname()}:${process.pid}`,
    log,
  });
  const relay: OutboxRelay = createOutboxRelay({
    database,
    store,
    connection: relayConnection,
    log,
    name: 'gateway.outbox-relay',
    exchange: config.GATEWAY_EXCHANGE,
    eventTypes: integrationEventTypes,
  });
  let wamp: WampService | undefined;
  const security: WampSecurity = createWampSecurity({
    url: config.WAMP_URL,
    realm: config.WAMP_REALM,
    log,
    serviceSecret: config.VECHE_SERVICE_SECRET,
    authenticateToken: (token) => accounts.authenticate(token),
  });
  const accounts = createAccounts({
    db: database.db,
    store,
    limiter,
    config,
    log,
    tokenSecret: tokenSecretOf(config),
    killWampSessions: async (userId, reason) => {
      if (!(await security.killSessions(userId, reason)))
        log.warn({ userId }, 'the router could not end the user’s live WAMP sessions');
    },
  });

  const s = (value: unknown) => value as string;
  const local: [string, LocalHandler][] = [
    ['veche.gateway.auth.register', ({ input, context }) => accounts.register(input as never, context)],
    ['veche.gateway.auth.verify', ({ input, context }) => accounts.verifyEmail(s(input['token']), context)],
    [
      'veche.gateway.auth.resend_verification',
      ({ input, context }) => accounts.resendVerification(s(input['email']), context),
    ],
    ['veche.gateway.auth.login', ({ input, context }) => accounts.login(input as never, context)],
    [
      'veche.gateway.auth.refresh',
      ({ input, context }) => accounts.refresh(s(input['refreshToken']), context),
    ],
    ['veche.gateway.auth.logout', ({ principal, context }) => accounts.logout(need(principal), context)],
    [
      'veche.gateway.auth.logout_all',
      ({ principal, context }) => accounts.logoutEverywhere(need(principal), context),
    ],
    [
      'veche.gateway.auth.request_password_reset',
      ({ input, context }) => accounts.requestPasswordReset(s(input['email']), context),
    ],
    [
      'veche.gateway.auth.confirm_password_reset',
      ({ input, context }) => accounts.confirmPasswordReset(input as never, context),
    ],
    ['veche.gateway.account.me', ({ principal }) => accounts.me(need(principal).userId)],
    [
      'veche.gateway.account.update_profile',
      ({ principal, input, context }) => accounts.updateProfile(need(principal), input, context),
    ],
    [
      'veche.gateway.account.change_password',
      ({ principal, input, context }) => accounts.changePassword(need(principal), input as never, context),
    ],
    [
      'veche.gateway.account.request_email_change',
      ({ principal, input, context }) =>
        accounts.requestEmailChange(need(principal), input as never, context),
    ],
    [
      'veche.gateway.account.confirm_email_change',
      ({ input, context }) => accounts.confirmEmailChange(s(input['token']), context),
    ],
    ['veche.gateway.account.list_sessions', ({ principal }) => accounts.listSessions(need(principal))],
    [
      'veche.gateway.account.revoke_session',
      ({ principal, input, context }) =>
        accounts.revokeOwnSession(need(principal), s(input['sessionId']), context),
    ],
    [
      'veche.gateway.account.search_users',
      ({ input }) => accounts.searchUsers(s(input['q']), input['limit'] as number | undefined),
    ],
    ['veche.gateway.admin.list_users', ({ input }) => accounts.listUsers(input)],
    [
      'veche.gateway.admin.disable_user',
      ({ principal, input, context }) =>
        accounts.setDisabled(need(principal), s(input['userId']), true, context),
    ],
    [
      'veche.gateway.admin.enable_user',
      ({ principal, input, context }) =>
        accounts.setDisabled(need(principal), s(input['userId']), false, context),
    ],
  ];
  // The mailer's procedures take flat arguments: the acting user as `userId`, then the input.
  const flatCall =
    (procedure: string, withUser: boolean, shape?: (result: unknown) => unknown): LocalHandler =>
    async ({ principal, input, context }: LocalCall) => {
      const session = wamp;
      if (!session?.isConnected) throw unavailable('The service is unavailable', { details: { procedure } });
      const result = await session.call(
        procedure,
        { ...(withUser && principal ? { userId: principal.userId } : {}), ...input },
        {
          timeoutMs: config.FORWARD_TIMEOUT_MS,
          calleeWaitMs: config.FORWARD_CALLEE_WAIT_MS,
          correlationId: context.correlationId,
        },
      );
      return shape ? shape(result) : result;
    };
  for (const procedure of [
    mailerProcedures.listMails,
    mailerProcedures.getMail,
    mailerProcedures.listSuppressions,
    mailerProcedures.removeSuppression,
  ]) {
    local.push([procedure, flatCall(procedure, true)]);
  }
  local.push([
    mailerProcedures.setNotificationPreference,
    flatCall(mailerProcedures.setNotificationPreference, true),
  ]);
  local.push([
    mailerProcedures.unsubscribe,
    flatCall(mailerProcedures.unsubscribe, false, () => ({ ok: true })),
  ]);

  async function ready(): Promise<Record<string, boolean>> {
    const postgres = await sql`select 1`
      .execute(database.db)
      .then(() => true)
      .catch(() => false);
    return {
      postgres,
      rabbitmq: relayConnection.isConnected(),
      wamp: (wamp?.isConnected ?? false) && security.isConnected,
    };
  }

  const app = await buildHttp({
    log,
    trustProxy: trustProxyOption(parseTrustProxy(config.TRUST_PROXY)),
    bodyLimit: config.BODY_LIMIT_BYTES,
    routes: [...declaredRoutes(), ...(options.extraRoutes ?? [])],
    localHandlers: new Map(local),
    authenticate: (token) => accounts.authenticate(token),
    limiter,
    wamp: () => wamp,
    forwardTimeoutMs: config.FORWARD_TIMEOUT_MS,
    calleeWaitMs: config.FORWARD_CALLEE_WAIT_MS,
    serviceSecret: config.VECHE_SERVICE_SECRET,
    internalUrls: options.internalUrls ?? internalUrlsFromEnv(),
    ready,
    publicUrl: config.VECHE_PUBLIC_URL,
  });

  return {
    app,
    accounts,
    store,
    database,
    ready,
    async start({ listen = true } = {}) {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      const { applied } = await migrate(database, gatewayMigrations);
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      await relayConnection.start();
      await relay.start();
      security.start();
      wamp = await connectService({
        url: config.WAMP_URL,
        realm: config.WAMP_REALM,
        authid: 'service:gateway',
        secret: config.VECHE_SERVICE_SECRET,
        log,
        defaultTimeoutMs: config.FORWARD_TIMEOUT_MS,
      });
      await security.ready(30_000);
      await app.ready();
      let port = 0;
      if (listen) {
        await app.listen({ host: config.HOST, port: config.PORT });
        const address = app.server.address();
        port = typeof address === 'object' && address ? address.port : 0;
      }
      log.info({ port }, 'gateway started');
      return { port };
    },
    async stop() {
      await app.close();
      await security.stop();
      await wamp?.close();
      await relay.stop();
      await relayConnection.stop();
      await store.close();
      if (ownsDatabase) await database.close();
    },
  };
}
