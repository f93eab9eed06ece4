/**
 * Wires the gateway: migrations, the event store with its inline read models, the outbox relay that
 * publishes account.* events, the WAMP sessions (forwarding, and the router's authenticator and
 * authorizer), and the HTTP API. `server.ts` only starts it; tests build it in-process.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import {
  AuthenticateTokenRequest,
  KnownAccountsRequest,
  NegotiateRequest,
  TokenPair,
  gatewayServiceProcedures,
  type ApiRoute,
  type AuthenticatedPrincipal,
  type KnownAccounts,
  type NegotiatedPrincipal,
} from '@veche/contracts';
import { createBusConnection, createOutboxRelay, type BusConnection, type OutboxRelay } from '@veche/bus';
import { createDatabase, ensureDatabaseExists, migrate, type Database } from '@veche/db';
import { notFound, unauthorized } from '@veche/errors';
import { createEventStore, type EventStore } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { checkReadiness, postgresCheck } from '@veche/service';
import { connectService, type WampService } from '@veche/wamp';
import type { FastifyInstance } from 'fastify';
import { gatewayMigrations } from '../migrations/index.ts';
import { createAccounts, type Accounts } from './accounts/index.ts';
import { knownAccounts } from './accounts/read-model.ts';
import { integrationEventTypes } from './domain/account.ts';
import type { GatewayConfig } from './env.ts';
import { mailTokenSecret, parseTrustProxy } from './env.ts';
import { createNegotiateAcceptor, negotiateToken, type NegotiateAcceptor } from './kerberos.ts';
import { gatewayProcedures, localHandlersOf } from './api/procedures.ts';
import { declaredRoutes } from './api/route-schemas.ts';
import type { LocalHandler } from './api/rpc-routes.ts';
import { buildHttp } from './http.ts';
import { accountsProjection } from './projections/accounts.ts';
import { createLoginThrottle } from './login-throttle.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createWampSecurity, type WampSecurity } from './wamp-security.ts';
import { createWampSessionTracker } from './wamp-sessions.ts';

/** The typed configuration from an environment, for whoever embeds the gateway (tests of other services). */
export { loadGatewayConfig, type GatewayConfig } from './env.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  log: Logger;
  /** A database the caller made (tests: an isolated schema). */
  database?: Database<unknown>;
  /** `VECHE_INTERNAL_URL_<SERVICE>` values by lower-case service name (default: from process.env). */
  internalUrls?: Record<string, string>;
  /** Routes served besides every one @veche/contracts declares (tests and benches). */
  extraRoutes?: readonly ApiRoute[];
  /** How often expired users' WAMP sessions are looked for and ended (default 1 s). */
  wampSessionSweepMs?: number;
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
  const throttle = createLoginThrottle(database.db, config.LOGIN_FAILURE_MEMORY_SECONDS);
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
    recordWampSession: (wampSessionId, owner) => wampSessions.record(wampSessionId, owner),
  });
  const wampSessions = createWampSessionTracker({
    db: database.db,
    killer: { killSession: (id, reason, message) => security.killSession(id, reason, message) },
    log,
  });
  const accounts = createAccounts({
    db: database.db,
    store,
    limiter,
    throttle,
    config,
    log,
    tokenSecret: tokenSecretOf(config),
    endDoomedWampSessions: () => wampSessions.endDoomed(),
    killWampSessionsOf: async (userId, reason) => {
      if (!(await security.killSessions(userId, reason)))
        log.warn({ userId }, 'the router could not end the user’s live WAMP sessions by authid');
    },
  });

  const local: [string, LocalHandler][] = localHandlersOf(gatewayProcedures(accounts));
  const readiness = {
    postgres: postgresCheck(database),
    rabbitmq: () => relayConnection.isConnected(),
    wamp: () => (wamp?.isConnected ?? false) && security.isConnected,
  };
  const ready = async () => (await checkReadiness(readiness)).checks;

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
    readiness,
    publicUrl: config.VECHE_PUBLIC_URL,
  });

  // Kerberos (issue 20): on when a keytab is configured.
  const negotiate: NegotiateAcceptor | undefined = config.GATEWAY_KERBEROS_KEYTAB
    ? createNegotiateAcceptor({
        keytab: config.GATEWAY_KERBEROS_KEYTAB,
        service: config.GATEWAY_KERBEROS_SERVICE,
        db: database.db,
        log,
      })
    : undefined;
  /** A verified Negotiate token → the account it logs in as, and the mutual-authentication token. */
  const acceptNegotiate = async (token: string) => {
    if (!negotiate)
      throw unauthorized('Kerberos is not configured here', { details: { reason: 'negotiate_off' } });
    const { principal, responseToken } = await negotiate.accept(token);
    const account = await accounts.accountOfPrincipal(principal);
    return { account, principal, responseToken };
  };
  app.post(
    '/api/auth/negotiate',
    {
      schema: {
        summary:
          'Log in with Kerberos: send Authorization: Negotiate <SPNEGO token>; the answer carries the mutual-authentication token in WWW-Authenticate',
        tags: ['auth'],
        response: { 200: TokenPair },
      },
    },
    async (request, reply) => {
      if (!negotiate) throw notFound('Kerberos is not configured here');
      // Every refusal names the scheme again, as HTTP's Negotiate asks.
      reply.header('www-authenticate', 'Negotiate');
      await limiter.hit(`login:ip:${request.ip}`, config.LOGIN_LIMIT_PER_IP, config.RATE_WINDOW_SECONDS);
      const token = negotiateToken(request.headers.authorization);
      if (!token)
        throw unauthorized('Send Authorization: Negotiate <token>', { details: { reason: 'missing_token' } });
      const { principal, responseToken } = await negotiate.accept(token);
      const pair = await accounts.loginWithPrincipal(principal, {
        ip: request.ip,
        userAgent: String(request.headers['user-agent'] ?? 'kerberos').slice(0, 200),
        correlationId: request.id,
      });
      if (responseToken) reply.header('www-authenticate', `Negotiate ${responseToken}`);
      else reply.removeHeader('www-authenticate');
      return pair;
    },
  );

  let pruneTimer: NodeJS.Timeout | undefined;
  return {
    app,
    accounts,
    store,
    database,
    ready,
    async start({ listen = true } = {}) {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      const { applied } = await migrate(database, gatewayMigrations(mailTokenSecret(config)));
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
      // Other doors that take access tokens (the presence-router's /pubsub) ask here.
      await wamp.register(
        gatewayServiceProcedures.authenticateToken,
        AuthenticateTokenRequest,
        async ({ token }): Promise<AuthenticatedPrincipal> => {
          const { userId, role, sessionId } = await accounts.authenticate(token);
          return { userId, role, sessionId };
        },
      );
      // …and /pubsub's Negotiate tokens too (the presence-router forwards them).
      await wamp.register(
        gatewayServiceProcedures.authenticateNegotiate,
        NegotiateRequest,
        async ({ token }): Promise<NegotiatedPrincipal> => {
          const { account, principal, responseToken } = await acceptNegotiate(token);
          return {
            userId: account.userId,
            role: account.role,
            principal,
            ...(responseToken ? { responseToken } : {}),
          };
        },
      );
      // Chat asks which users exist when their account.registered has not reached it yet.
      await wamp.register(
        gatewayServiceProcedures.knownAccounts,
        KnownAccountsRequest,
        async ({ userIds }): Promise<KnownAccounts> => ({
          accounts: await knownAccounts(database.db, userIds),
        }),
      );
      await security.ready(30_000);
      wampSessions.start(options.wampSessionSweepMs);
      pruneTimer = setInterval(() => {
        throttle
          .prune()
          .catch((error: unknown) => log.warn({ err: error }, 'pruning the log-in failure counters failed'));
        negotiate
          ?.prune()
          .catch((error: unknown) => log.warn({ err: error }, 'pruning the used Negotiate tokens failed'));
      }, 600_000).unref();
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
      clearInterval(pruneTimer);
      await wampSessions.stop();
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
