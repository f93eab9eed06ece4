/**
 * The mailer's configuration, read and validated once at start: a bad variable stops the process with
 * its name. Durations are milliseconds so tests can shrink minutes and days to fractions of a second.
 */
import {
  ConfigError,
  amqpEnv,
  databaseEnv,
  env,
  envSchema,
  httpEnv,
  loadConfig,
  runtimeEnv,
  wampEnv,
} from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const mailerEnvSchema = envSchema({
  ...runtimeEnv,
  ...httpEnv(3005),
  ...databaseEnv,
  ...amqpEnv,
  ...wampEnv,
  VECHE_SERVICE_SECRET: env.optional(wampEnv.VECHE_SERVICE_SECRET),
  MAILER_DB_SCHEMA: env.string({
    default: 'mailer',
    description: "the mailer's PostgreSQL schema (tests and a second mailer in one database use another)",
  }),
  MAILER_DB_POOL_SIZE: env.int({
    default: 6,
    minimum: 2,
    maximum: 50,
    description: 'PostgreSQL connections',
  }),
  VECHE_PUBLIC_URL: env.url({
    default: 'http://127.0.0.1:3000',
    protocols: ['http', 'https'],
    description: 'the public origin the links in mails point to',
  }),
  SMTP_URL: env.optional(
    env.url({
      protocols: ['smtp', 'smtps'],
      description:
        'the SMTP relay; unset outside production, the mailer runs the development mail sink and sends there',
    }),
  ),
  SMTP_TLS_REJECT_UNAUTHORIZED: env.bool({
    default: true,
    description:
      'false accepts a self-signed certificate when the relay offers STARTTLS (a relay inside the stack)',
  }),
  MAIL_FROM: env.string({
    default: 'Veche <no-reply@veche.localhost>',
    description: 'the From of every mail',
  }),
  PRODUCT_NAME: env.string({ default: 'Veche', description: 'the product name in subjects and bodies' }),
  DKIM_DOMAIN: env.optional(env.string({ description: 'DKIM signing domain (DKIM: all three or none)' })),
  DKIM_SELECTOR: env.optional(env.string({ description: 'DKIM selector' })),
  DKIM_PRIVATE_KEY: env.optional(env.secret({ description: 'DKIM private key, PEM text (a Docker secret)' })),
  MAIL_UNSUBSCRIBE_SECRET: env.optional(
    env.secret({
      minLength: 16,
      description: 'signs unsubscribe links; defaults to VECHE_SERVICE_SECRET; required in production',
    }),
  ),
  MAIL_TOKEN_SECRET: env.optional(
    env.secret({
      minLength: 16,
      description:
        'opens the link tokens the gateway seals in account.* events; must equal the gateway’s; defaults to VECHE_SERVICE_SECRET',
    }),
  ),
  MAIL_RATE_PER_SECOND: env.number({
    default: 100,
    minimum: 0.1,
    description: 'global send rate, mails per second across the pool',
  }),
  MAIL_POOL_CONNECTIONS: env.int({
    default: 10,
    minimum: 1,
    maximum: 100,
    description: 'pooled SMTP connections',
  }),
  MAIL_MAX_IN_FLIGHT: env.int({
    default: 100,
    minimum: 1,
    maximum: 10_000,
    description: 'most mails handed to SMTP at once by one replica',
  }),
  MAIL_RETRY_BASE_MS: env.int({
    default: 60_000,
    minimum: 1,
    description: 'retry after a temporary failure: base × 2^(attempt−1), capped',
  }),
  MAIL_RETRY_MAX_MS: env.int({ default: 86_400_000, minimum: 1, description: 'the cap of the retry delay' }),
  MAIL_MAX_ATTEMPTS: env.int({
    default: 13,
    minimum: 1,
    maximum: 100,
    description: 'attempts before a mail goes to the undeliverable queue',
  }),
  MAIL_SENDING_LEASE_MS: env.int({
    default: 600_000,
    minimum: 100,
    description:
      'a mail left in `sending` this long was cut off by a crash and is tried again (same Message-ID)',
  }),
  MAIL_POLL_INTERVAL_MS: env.int({
    default: 500,
    minimum: 5,
    description: 'how often the sender looks for due mails',
  }),
  MAIL_DIGEST_DELAY_MS: env.int({
    default: 900_000,
    minimum: 0,
    description: 'how long unread messages wait before their offline digest goes out',
  }),
  MAIL_DEFAULT_NOTIFY: env.oneOf(['immediately', 'digest', 'never'] as const, {
    default: 'digest',
    description: 'notification preference of users who chose none',
  }),
  MAIL_RETENTION_DAYS: env.int({
    default: 30,
    minimum: 1,
    description: 'how long finished mails stay queryable',
  }),
  MAILER_INBOX_RETENTION_DAYS: env.int({
    default: 7,
    minimum: 1,
    description: 'how long the inbox remembers handled events',
  }),
  MAILER_QUEUE: env.string({
    default: 'mailer.events',
    description: 'the intake queue on the events exchange',
  }),
  MAILER_EXCHANGE: env.string({ default: 'veche.events', description: 'the integration events exchange' }),
  MAILER_EVENT_RETRY_DELAYS_MS: env.string({
    default: '1000,5000,30000,120000,600000',
    description: 'delays of the retry queues for events whose handling failed (comma-separated ms)',
  }),
  MAIL_SINK_SMTP_PORT: env.port({
    default: 1025,
    description: 'SMTP port of the development sink (no SMTP_URL)',
  }),
  MAIL_SINK_WEB_PORT: env.port({
    default: 1080,
    description: 'web page of the development sink (no SMTP_URL)',
  }),
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

/** The secret that opens sealed link tokens, as the gateway chooses it: the dedicated one, else the service secret. */
export function mailTokenSecret(config: MailerConfig): string | undefined {
  return config.MAIL_TOKEN_SECRET ?? config.VECHE_SERVICE_SECRET;
}

/** The secret for unsubscribe links: the dedicated one, else the service secret, else a fixed dev one. */
export function unsubscribeSecret(config: MailerConfig): string {
  return (
    config.MAIL_UNSUBSCRIBE_SECRET ?? config.VECHE_SERVICE_SECRET ?? 'veche-development-unsubscribe-secret'
  );
}
