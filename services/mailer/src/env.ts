/**
 * The mailer's configuration, read and validated once at start: a bad variable stops the process with
 * its name. Durations are milliseconds so tests can shrink minutes and days to fractions of a second.
 */
import { ConfigError, commonEnv, env, envSchema, loadConfig } from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const mailerEnvSchema = envSchema({
  ...commonEnv,
  HOST: env.string({ default: '127.0.0.1' }),
  PORT: env.port({ default: 3005, description: 'GET /health and /ready' }),
  /** Lets tests (and a second mailer in one database) use another schema; production keeps `mailer`. */
  MAILER_DB_SCHEMA: env.string({ default: 'mailer' }),
  MAILER_DB_POOL_SIZE: env.int({ default: 6, minimum: 2, maximum: 50 }),
  VECHE_PUBLIC_URL: env.url({ default: 'http://127.0.0.1:3000', protocols: ['http', 'https'] }),
  /** The relay. Unset in development: the mailer starts the development SMTP sink and sends there. */
  SMTP_URL: env.optional(env.url({ protocols: ['smtp', 'smtps'] })),
  /** false accepts a self-signed certificate when the relay offers STARTTLS (a relay inside the stack). */
  SMTP_TLS_REJECT_UNAUTHORIZED: env.bool({ default: true }),
  MAIL_FROM: env.string({ default: 'Veche <no-reply@veche.localhost>' }),
  PRODUCT_NAME: env.string({ default: 'Veche' }),
  /** DKIM signing: all three or none. The key is PEM text (a Docker secret in production). */
  DKIM_DOMAIN: env.optional(env.string()),
  DKIM_SELECTOR: env.optional(env.string()),
  DKIM_PRIVATE_KEY: env.optional(env.secret()),
  /** Signs unsubscribe links; defaults to VECHE_SERVICE_SECRET. Required in production. */
  MAIL_UNSUBSCRIBE_SECRET: env.optional(env.secret({ minLength: 16 })),
  /** The WAMP router: the admin and preference procedures are registered there as `service:mailer`. */
  WAMP_URL: env.optional(env.url({ protocols: ['ws', 'wss'] })),
  WAMP_REALM: env.string({ default: 'veche' }),
  VECHE_SERVICE_SECRET: env.optional(env.secret({ minLength: 16 })),
  /** Global send rate (mails per second across the pool), and the pool's SMTP connections. */
  MAIL_RATE_PER_SECOND: env.number({ default: 100, minimum: 0.1 }),
  MAIL_POOL_CONNECTIONS: env.int({ default: 10, minimum: 1, maximum: 100 }),
  /** Most mails handed to SMTP at once by one replica. */
  MAIL_MAX_IN_FLIGHT: env.int({ default: 100, minimum: 1, maximum: 10_000 }),
  /** Retry after a temporary failure: base × 2^(attempt−1), capped; then the dead-letter queue. */
  MAIL_RETRY_BASE_MS: env.int({ default: 60_000, minimum: 1 }),
  MAIL_RETRY_MAX_MS: env.int({ default: 86_400_000, minimum: 1 }),
  MAIL_MAX_ATTEMPTS: env.int({ default: 13, minimum: 1, maximum: 100 }),
  /** A mail left in `sending` this long was cut off by a crash: it is tried again (same Message-ID). */
  MAIL_SENDING_LEASE_MS: env.int({ default: 600_000, minimum: 100 }),
  MAIL_POLL_INTERVAL_MS: env.int({ default: 500, minimum: 5 }),
  /** Offline notifications: how long unread messages wait before their digest goes out. */
  MAIL_DIGEST_DELAY_MS: env.int({ default: 900_000, minimum: 0 }),
  MAIL_DEFAULT_NOTIFY: env.oneOf(['immediately', 'digest', 'never'] as const, { default: 'digest' }),
  /** How long finished mails stay queryable, and how long the inbox remembers handled events. */
  MAIL_RETENTION_DAYS: env.int({ default: 30, minimum: 1 }),
  MAILER_INBOX_RETENTION_DAYS: env.int({ default: 7, minimum: 1 }),
  /** The intake queue on `veche.events`, and the exchange (tests use their own). */
  MAILER_QUEUE: env.string({ default: 'mailer.events' }),
  MAILER_EXCHANGE: env.string({ default: 'veche.events' }),
  /** Delays of the bus's retry queues for events whose handling failed (comma-separated ms). */
  MAILER_EVENT_RETRY_DELAYS_MS: env.string({ default: '1000,5000,30000,120000,600000' }),
  /** The development sink, started when SMTP_URL is unset outside production. */
  MAIL_SINK_SMTP_PORT: env.port({ default: 1025 }),
  MAIL_SINK_WEB_PORT: env.port({ default: 1080 }),
});

export type MailerConfig = Static<typeof mailerEnvSchema>;

/** Loads and cross-checks the variables that only make sense together. */
export function loadMailerConfig(source: NodeJS.ProcessEnv = process.env): MailerConfig {
  const config = loadConfig(mailerEnvSchema, source);
  const problems: { variable: string; message: string }[] = [];
  const dkim = [config.DKIM_DOMAIN, config.DKIM_SELECTOR, config.DKIM_PRIVATE_KEY];
  if (dkim.some((v) => v !== undefined) && dkim.some((v) => v === undefined)) {
    problems.push({
      variable: 'DKIM_PRIVATE_KEY',
      message: 'DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY must be set together',
    });
  }
  if (config.MAIL_RETRY_MAX_MS < config.MAIL_RETRY_BASE_MS) {
    problems.push({ variable: 'MAIL_RETRY_MAX_MS', message: 'must not be less than MAIL_RETRY_BASE_MS' });
  }
  if (config.MAIL_RETENTION_DAYS <= config.MAILER_INBOX_RETENTION_DAYS) {
    problems.push({
      variable: 'MAIL_RETENTION_DAYS',
      message: 'must exceed MAILER_INBOX_RETENTION_DAYS (the idempotency keys outlive the inbox)',
    });
  }
  if (parseDelays(config.MAILER_EVENT_RETRY_DELAYS_MS) === undefined) {
    problems.push({
      variable: 'MAILER_EVENT_RETRY_DELAYS_MS',
      message: `must be positive integers separated by commas (got ${JSON.stringify(config.MAILER_EVENT_RETRY_DELAYS_MS)})`,
    });
  }
  if (config.NODE_ENV === 'production') {
    if (!config.SMTP_URL) problems.push({ variable: 'SMTP_URL', message: 'is required in production' });
    if (!config.WAMP_URL) problems.push({ variable: 'WAMP_URL', message: 'is required in production' });
    if (!config.VECHE_SERVICE_SECRET) {
      problems.push({ variable: 'VECHE_SERVICE_SECRET', message: 'is required in production' });
    }
    if (!config.MAIL_UNSUBSCRIBE_SECRET) {
      problems.push({ variable: 'MAIL_UNSUBSCRIBE_SECRET', message: 'is required in production' });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export function parseDelays(text: string): number[] | undefined {
  const parts = text.split(',').map((p) => Number(p.trim()));
  return parts.length > 0 && parts.every((n) => Number.isInteger(n) && n > 0) ? parts : undefined;
}

/** The secret for unsubscribe links: the dedicated one, else the service secret, else a fixed dev one. */
export function unsubscribeSecret(config: MailerConfig): string {
  return (
    config.MAIL_UNSUBSCRIBE_SECRET ?? config.VECHE_SERVICE_SECRET ?? 'veche-development-unsubscribe-secret'
  );
}
