/**
 * Wires the mailer: migrations, the RabbitMQ intake (bus consumer with inbox), the mail outbox sender
 * on a pooled SMTP transport, the digest scheduler, the dead-mail queue, the admin procedures and the
 * kit's HTTP server (/health, /ready). `server.ts` only starts it; tests build it in-process with their
 * own schema and names.
 */
import { createBusConnection, createConsumer, type Consumer } from '@veche/bus';
import { createDatabase, ensureDatabaseExists, migrate, type Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { checkReadiness, createServiceHttp, postgresCheck, type ServiceApp } from '@veche/service';
import { connectService, type WampService } from '@veche/wamp';
import { mailerMigrations } from '../migrations/index.ts';
import { inProcessProcedures, registerProcedures, type InProcessProcedures } from './api/procedures.ts';
import { createDeadMailQueue } from './dead-letters.ts';
import { createMailSink, type MailSink } from './dev-sink/sink.ts';
import { createDigestScheduler, type DigestScheduler } from './digests.ts';
import type { Brand } from './domain/templates.ts';
import { mailTokenSecret, parseDelays, unsubscribeSecret, type MailerConfig } from './env.ts';
import { consumedEventTypes } from './events.ts';
import { createIntakeHandler } from './intake.ts';
import { createRetention } from './retention.ts';
import { createSender, type Sender } from './sender.ts';
import { createMailTransport } from './transport.ts';

export interface MailerOptions {
  config: MailerConfig;
  log: Logger;
  /** The relay to send to: SMTP_URL, or the development sink's address. */
  smtpUrl: string;
  /** A database the caller made (tests: an isolated schema); the mailer makes its own otherwise. */
  database?: Database<unknown>;
  /** Serve /health and /ready on HOST:PORT (default true). */
  http?: boolean;
}

export interface Mailer {
  readonly database: Database<unknown>;
  readonly consumer: Consumer;
  readonly sender: Sender;
  readonly digests: DigestScheduler;
  /** The queue exhausted mails go to. */
  readonly deadMailQueue: string;
  /** Starts every part; resolves with the HTTP server's port (0 without one). */
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
  ready(): Promise<Record<string, boolean>>;
  /**
   * The procedures, callable in-process with the `{actor, input}` kwargs they take over WAMP, and
   * checked the same way (the route's schema, admin routes for administrators only).
   */
  readonly procedures: InProcessProcedures;
}

export function brandOf(config: MailerConfig): Brand {
  return { productName: config.PRODUCT_NAME, publicUrl: config.VECHE_PUBLIC_URL.replace(/\/+$/, '') };
}

export function createMailer(options: MailerOptions): Mailer {
  const { config, log } = options;
  const ownsDatabase = options.database === undefined;
  const database =
    options.database ??
    createDatabase<unknown>({
      url: config.DATABASE_URL,
      schema: config.MAILER_DB_SCHEMA,
      poolSize: config.MAILER_DB_POOL_SIZE,
      applicationName: 'mailer',
    });
  const brand = brandOf(config);
  const secret = unsubscribeSecret(config);
  const deadMailQueue = `${config.MAILER_QUEUE}.undeliverable`;
  const connection = createBusConnection({
    url: config.AMQP_URL,
    name: `mailer:${process.pid}`,
    log,
  });
  const transport = createMailTransport({
    url: options.smtpUrl,
    maxConnections: config.MAIL_POOL_CONNECTIONS,
    log,
    // A stalled SMTP conversation must end well within the lease, or a second claim would overlap it.
    socketTimeoutMs: Math.min(120_000, Math.floor(config.MAIL_SENDING_LEASE_MS / 3)),
    rejectUnauthorized: config.SMTP_TLS_REJECT_UNAUTHORIZED,
    dkim:
      config.DKIM_DOMAIN && config.DKIM_SELECTOR && config.DKIM_PRIVATE_KEY
        ? {
            domainName: config.DKIM_DOMAIN,
            keySelector: config.DKIM_SELECTOR,
            privateKey: config.DKIM_PRIVATE_KEY,
          }
        : undefined,
  });
  const deadMails = createDeadMailQueue(connection, deadMailQueue);
  const sender = createSender({
    database,
    transport,
    log,
    from: config.MAIL_FROM,
    policy: {
      baseMs: config.MAIL_RETRY_BASE_MS,
      maxMs: config.MAIL_RETRY_MAX_MS,
      maxAttempts: config.MAIL_MAX_ATTEMPTS,
    },
    ratePerSecond: config.MAIL_RATE_PER_SECOND,
    maxInFlight: config.MAIL_MAX_IN_FLIGHT,
    pollIntervalMs: config.MAIL_POLL_INTERVAL_MS,
    sendingLeaseMs: config.MAIL_SENDING_LEASE_MS,
    deadLetter: (mails) => deadMails.publish(mails),
    linkTokenSecret: mailTokenSecret(config),
  });
  const wake = () => sender.wake();
  const consumer = createConsumer({
    connection,
    database,
    log,
    queue: config.MAILER_QUEUE,
    exchange: config.MAILER_EXCHANGE,
    bindings: consumedEventTypes,
    retryDelaysMs: parseDelays(config.MAILER_EVENT_RETRY_DELAYS_MS) ?? [1_000],
    handle: createIntakeHandler({
      brand,
      from: config.MAIL_FROM,
      defaultNotify: config.MAIL_DEFAULT_NOTIFY,
      digestDelayMs: config.MAIL_DIGEST_DELAY_MS,
      unsubscribeSecret: secret,
      onMailsQueued: wake,
    }),
  });
  const digests = createDigestScheduler({
    database,
    log,
    brand,
    from: config.MAIL_FROM,
    unsubscribeSecret: secret,
    pollIntervalMs: Math.max(config.MAIL_POLL_INTERVAL_MS, Math.min(config.MAIL_DIGEST_DELAY_MS / 10, 5_000)),
    onMailsQueued: wake,
  });
  const retention = createRetention({
    database,
    log,
    mailDays: config.MAIL_RETENTION_DAYS,
    inboxDays: config.MAILER_INBOX_RETENTION_DAYS,
  });
  let started = false;
  let wamp: WampService | undefined;
  const readiness = {
    postgres: postgresCheck(database),
    rabbitmq: () => connection.isConnected(),
    ...(config.VECHE_SERVICE_SECRET ? { wamp: () => wamp?.isConnected ?? false } : {}),
    started: () => started,
  };
  const ready = async () => (await checkReadiness(readiness)).checks;
  let http: Awaited<ReturnType<typeof createServiceHttp>> | undefined;

  return {
    database,
    consumer,
    sender,
    digests,
    deadMailQueue,
    ready,
    async start() {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      let port = 0;
      if (options.http !== false) {
        http = await createServiceHttp({ log, readiness });
        await http.listen({ host: config.HOST, port: config.PORT });
        const address = http.server.address();
        port = typeof address === 'object' && address ? address.port : 0;
      }
      const { applied } = await migrate(database, mailerMigrations);
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      await connection.start();
      await deadMails.start();
      sender.start();
      digests.start();
      retention.start();
      await consumer.start();
      if (config.VECHE_SERVICE_SECRET) {
        wamp = await connectService({
          url: config.WAMP_URL,
          realm: config.WAMP_REALM,
          authid: 'service:mailer',
          secret: config.VECHE_SERVICE_SECRET,
          log,
        });
        await registerProcedures(wamp, database.db, secret);
      } else {
        log.warn('VECHE_SERVICE_SECRET unset: the admin procedures are not registered');
      }
      started = true;
      log.info({ port, queue: config.MAILER_QUEUE, relay: redactUrl(options.smtpUrl) }, 'mailer started');
      return { port };
    },
    async stop() {
      started = false;
      await wamp?.close();
      wamp = undefined;
      await consumer.stop();
      retention.stop();
      await digests.stop();
      await sender.stop();
      transport.close();
      await deadMails.stop();
      await connection.stop();
      await http?.close();
      http = undefined;
      if (ownsDatabase) await database.close();
      log.info('mailer stopped');
    },
    // The handlers' own result types, which the route declarations leave open for the admin routes.
    procedures: inProcessProcedures(database.db, secret, log),
  };
}

/**
 * The mailer as `server.ts` runs it: sending to SMTP_URL, or, when it is unset (never in production),
 * to the development mail sink started in-process, whose web page shows every mail.
 */
export async function createMailerService(context: {
  config: MailerConfig;
  log: Logger;
}): Promise<ServiceApp> {
  const { config, log } = context;
  let smtpUrl = config.SMTP_URL;
  let sink: MailSink | undefined;
  if (smtpUrl === undefined) ({ sink, smtpUrl } = await startDevelopmentSink(config, log));
  const mailer = createMailer({ config, log, smtpUrl });
  return {
    start: () => mailer.start(),
    async stop() {
      await mailer.stop();
      await sink?.stop();
    },
  };
}

async function startDevelopmentSink(
  config: MailerConfig,
  log: Logger,
): Promise<{ sink: MailSink; smtpUrl: string }> {
  const make = (smtpPort: number, webPort: number) =>
    createMailSink({ smtpPort, webPort, log, rules: false, host: '127.0.0.1' });
  let sink = make(config.MAIL_SINK_SMTP_PORT, config.MAIL_SINK_WEB_PORT);
  let ports;
  try {
    ports = await sink.start();
  } catch (error) {
    // Another checkout's fleet holds the usual ports: any free ones will do, the log says which.
    log.warn({ err: error }, 'the usual mail sink ports are taken; using free ones');
    sink = make(0, 0);
    ports = await sink.start();
  }
  log.info(`development mail sink: read the mails at http://127.0.0.1:${ports.webPort}/`);
  return { sink, smtpUrl: `smtp://127.0.0.1:${ports.smtpPort}` };
}

/** The relay's address without its credentials, for the log. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
