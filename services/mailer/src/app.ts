/**
 * Wires the mailer: migrations, the RabbitMQ intake (bus consumer with inbox), the mail outbox sender
 * on a pooled SMTP transport, the digest scheduler, the dead-mail queue, the admin procedures and the
 * health server. `server.ts` only starts it; tests build it in-process with their own schema and names.
 */
import { createBusConnection, createConsumer, type Consumer } from '@veche/bus';
import { createDatabase, ensureDatabaseExists, migrate, sql, type Database } from '@veche/db';
import type { Logger } from '@veche/log';
import { connectService, type WampService } from '@veche/wamp';
import { mailerMigrations } from '../migrations/index.ts';
import * as admin from './api/admin.ts';
import * as preferences from './api/preferences.ts';
import { registerProcedures } from './api/procedures.ts';
import { createDeadMailQueue } from './dead-letters.ts';
import { createDigestScheduler, type DigestScheduler } from './digests.ts';
import type { Brand } from './domain/templates.ts';
import { parseDelays, unsubscribeSecret, type MailerConfig } from './env.ts';
import { consumedEvents } from './events.ts';
import { createHealthServer } from './http.ts';
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
  /** Serve /health and /ready (default true). */
  http?: boolean;
}

export interface Mailer {
  readonly database: Database<unknown>;
  readonly consumer: Consumer;
  readonly sender: Sender;
  readonly digests: DigestScheduler;
  /** The queue exhausted mails go to. */
  readonly deadMailQueue: string;
  /** Starts every part; resolves with the health server's port (0 without one). */
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
  ready(): Promise<Record<string, boolean>>;
  /** The procedures, callable in-process until they are registered over WAMP (see README). */
  readonly procedures: {
    listMails(input: unknown): ReturnType<typeof admin.listMails>;
    getMail(input: unknown): ReturnType<typeof admin.getMail>;
    listSuppressions(): ReturnType<typeof admin.listSuppressions>;
    removeSuppression(input: unknown): ReturnType<typeof admin.removeSuppression>;
    setNotificationPreference(input: unknown): ReturnType<typeof preferences.setNotificationPreference>;
    unsubscribe(input: unknown): ReturnType<typeof preferences.unsubscribe>;
  };
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
  });
  const wake = () => sender.wake();
  const consumer = createConsumer({
    connection,
    database,
    log,
    queue: config.MAILER_QUEUE,
    exchange: config.MAILER_EXCHANGE,
    bindings: Object.keys(consumedEvents),
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
  const health = options.http === false ? undefined : createHealthServer(() => ready());
  let started = false;
  let wamp: WampService | undefined;

  async function ready(): Promise<Record<string, boolean>> {
    const postgres = await sql`select 1`
      .execute(database.db)
      .then(() => true)
      .catch(() => false);
    return {
      postgres,
      rabbitmq: connection.isConnected(),
      ...(config.WAMP_URL ? { wamp: wamp?.isConnected ?? false } : {}),
      started,
    };
  }

  return {
    database,
    consumer,
    sender,
    digests,
    deadMailQueue,
    ready,
    async start() {
      if (ownsDatabase) await ensureDatabaseExists(config.DATABASE_URL);
      const port = health ? await health.listen(config.HOST, config.PORT) : 0;
      const { applied } = await migrate(database, mailerMigrations);
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      await connection.start();
      await deadMails.start();
      sender.start();
      digests.start();
      retention.start();
      await consumer.start();
      if (config.WAMP_URL && config.VECHE_SERVICE_SECRET) {
        wamp = await connectService({
          url: config.WAMP_URL,
          realm: config.WAMP_REALM,
          authid: 'service:mailer',
          secret: config.VECHE_SERVICE_SECRET,
          log,
        });
        await registerProcedures(wamp, database.db, secret);
      } else {
        log.warn('WAMP_URL or VECHE_SERVICE_SECRET unset: the admin procedures are not registered');
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
      await health?.close();
      if (ownsDatabase) await database.close();
      log.info('mailer stopped');
    },
    procedures: {
      listMails: (input) => admin.listMails(database.db, input),
      getMail: (input) => admin.getMail(database.db, input),
      listSuppressions: () => admin.listSuppressions(database.db),
      removeSuppression: (input) => admin.removeSuppression(database.db, input),
      setNotificationPreference: (input) => preferences.setNotificationPreference(database.db, input),
      unsubscribe: (input) => preferences.unsubscribe(database.db, secret, input),
    },
  };
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
