/**
 * The log-listener on real servers for the tests: a local WAMP router, an isolated PostgreSQL schema,
 * a port range of its own, and the app in-process. Users' WAMP tickets are signed actor assertions; a
 * service session standing in for the gateway calls `veche.logs.*` with `{actor, input}` as it does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import amqp from 'amqplib';
import { unroutedQueueName } from '@veche/bus';
import { signActor, verifyActor, type LogSource } from '@veche/contracts';
import { createLogger, type Logger } from '@veche/log';
import {
  createTestDatabase,
  testAmqpUrl,
  testDatabaseUrl,
  freePortRange,
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
import { createLogsApp, type LogsApp } from '../../src/app.ts';
import { createWriter, type LineRecord, type Writer } from '../../src/ingest/writer.ts';
import { loadLogsConfig, type LogsConfig } from '../../src/env.ts';

export const secret = 'logs-test-secret-0123456789';
export const tokenOf = (userId: string): string => signActor({ userId, role: 'user' }, secret, 3600);

const userTickets: Authenticator = async (request) => {
  if (request.authid.startsWith('service:')) return null;
  const actor = verifyActor(request.ticket, secret);
  if (!actor || actor.userId !== request.authid) throw new Error('bad ticket');
  return { authrole: 'user' };
};

/** A self-signed certificate for 127.0.0.1 (openssl), made once per test file. */
export function testCertificate(): { certFile: string; keyFile: string; cert: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 'logs-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile) };
}

/** 40 source ports of the test's own, free when chosen, where no other test draws ports by itself. */
export const portRange = (): Promise<{ min: number; max: number }> => freePortRange(40);

export interface Harness {
  log: Logger;
  router: WampRouter;
  database: TestDatabase;
  config: LogsConfig;
  app: LogsApp;
  caller: WampService;
  call<T = Record<string, unknown>>(
    userId: string,
    procedure: string,
    input?: Record<string, unknown>,
    role?: 'user' | 'admin',
  ): Promise<T>;
  createSource(userId: string, input?: Record<string, unknown>): Promise<LogSource>;
  /** Stops the app and starts a new one on the same schema (a restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(
  name: string,
  options: { overrides?: Record<string, string>; tls?: boolean } = {},
): Promise<Harness> {
  const log = createLogger({
    service: 'logs-test',
    level: (process.env['LOG_LEVEL'] as 'silent' | undefined) ?? 'silent',
  });
  const router = await startRouter({
    log,
    authenticate: composeAuthenticators(serviceAuthenticator(secret), userTickets),
    guardUnhandledRejections: false,
  });
  // A start that fails half-way (PostgreSQL out of connections on a busy machine) must not leave the
  // router listening: the test process would never exit.
  const database = await createTestDatabase({ name, poolSize: 12 }).catch(async (error: unknown) => {
    await router.close();
    throw error;
  });
  const range = await portRange();
  const certificate = options.tls ? testCertificate() : undefined;
  const config = loadLogsConfig({
    NODE_ENV: 'test',
    DATABASE_URL: testDatabaseUrl(),
    WAMP_URL: router.url,
    VECHE_SERVICE_SECRET: secret,
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
    PORT: '0',
    LOGS_BIND_HOST: '127.0.0.1',
    LOGS_PORT_MIN: String(range.min),
    LOGS_PORT_MAX: String(range.max),
    LOGS_FLUSH_MS: '20',
    LOGS_SYNC_MS: '200',
    AMQP_URL: testAmqpUrl(),
    // Its own exchange: the tests' `logs.*` events never reach anyone else's consumers.
    LOGS_EXCHANGE: uniqueName('logs-test-events'),
    LOGS_ALERT_EVAL_MS: '100',
    ...(certificate
      ? { LOGS_TLS_CERT_FILE: certificate.certFile, LOGS_TLS_KEY_FILE: certificate.keyFile }
      : {}),
    ...options.overrides,
  });
  const caller = await connectService({
    url: router.url,
    authid: 'service:gateway',
    secret,
    log,
    defaultTimeoutMs: 20_000,
  });
  let app = createLogsApp({ config, log, database });
  await app.start().catch(async (error: unknown) => {
    await app.stop().catch(() => undefined);
    await caller.close();
    await router.close();
    await database.drop();
    await removeExchange(config.LOGS_EXCHANGE).catch(() => undefined);
    throw error;
  });
  const h: Harness = {
    log,
    router,
    database,
    config,
    get app() {
      return app;
    },
    caller,
    call: (userId, procedure, input = {}, role = 'user') =>
      caller.call(procedure, { actor: { userId, role }, input }),
    createSource: (userId, input = {}) =>
      caller.call<LogSource>('veche.logs.create_source', {
        actor: { userId, role: 'user' },
        input: { name: 'web', timeZone: '+00:00', ...input },
      }),
    async restart() {
      await app.stop();
      app = createLogsApp({ config, log, database });
      await app.start();
    },
    async close() {
      // A held batch left by a failed test keeps a transaction (with an id) open on the shared
      // server, holding back every reader of committed rows there (subscriptions, alert rounds) and
      // this schema's drop: let it commit first.
      for (const release of heldBatches.get(h) ?? []) await release().catch(() => undefined);
      await app.stop().catch((error: unknown) => log.error({ err: error }, 'stopping the app'));
      await caller.close();
      await router.close();
      await database.drop();
      await removeExchange(config.LOGS_EXCHANGE);
    },
  };
  return h;
}

/** Removes a test's exchange and the queue of its unrouted events. */
export async function removeExchange(exchange: string): Promise<void> {
  const connection = await amqp.connect(testAmqpUrl());
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(unroutedQueueName(exchange)).catch(() => undefined);
    await channel.deleteExchange(exchange).catch(() => undefined);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** A TCP (or TLS) sender to a source's port. */
export async function sender(port: number, options: { tls?: Buffer } = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = options.tls
      ? tls.connect({ host: '127.0.0.1', port, ca: options.tls, servername: 'localhost' }, () =>
          resolve(socket),
        )
      : net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

export function write(socket: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (error) => (error ? reject(error) : resolve())));
}

/** A parsed line of `source`, as a listener hands it to the writer (fields overridable). */
export function testLine(
  source: Pick<LogSource, 'sourceId' | 'ownerId' | 'userId'>,
  message: string,
  fields: Partial<LineRecord> = {},
): LineRecord {
  const now = Date.now();
  return {
    sourceId: source.sourceId,
    ownerId: source.ownerId,
    userId: source.userId,
    receivedAt: now,
    createdAt: now,
    senderIp: '127.0.0.1',
    fileName: 'app.log',
    message,
    severity: 6,
    facility: 1,
    hostname: 'web-1',
    appName: 'app.log',
    truncated: false,
    invalidUtf8: false,
    ...fields,
  };
}

/** Held batches not yet released, by harness (its close() releases them). */
const heldBatches = new WeakMap<Harness, Set<() => Promise<void>>>();

/**
 * Another writer (as another replica's) whose batch of `line` takes its id and is held by a latch
 * inside its transaction, before the commit; `release` lets it commit and stops the writer.
 */
export async function heldBatch(
  h: Harness,
  line: LineRecord,
): Promise<{ release(): Promise<void>; writer: Writer }> {
  let reached!: () => void;
  const inTransaction = new Promise<void>((resolve) => (reached = resolve));
  let open!: () => void;
  const latch = new Promise<void>((resolve) => (open = resolve));
  let held = true;
  const writer = createWriter({
    database: h.database,
    log: h.log,
    batchLines: 100,
    flushMs: 1,
    maxPending: 1_000,
    async afterLines() {
      if (!held) return;
      held = false;
      reached();
      await latch;
    },
  });
  writer.add(line);
  const flushed = writer.flush();
  await inTransaction;
  const pending = heldBatches.get(h) ?? heldBatches.set(h, new Set()).get(h)!;
  const release = async (): Promise<void> => {
    pending.delete(release);
    open();
    await flushed;
    await writer.stop();
  };
  pending.add(release);
  return { writer, release };
}
