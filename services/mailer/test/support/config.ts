/** A mailer configuration for tests: its own queue and exchange, minutes shrunk to milliseconds. */
import { topologyNames } from '@veche/bus';
import { testAmqpUrl, testDatabaseUrl, uniqueName } from '@veche/testing';
import { sealMailToken, type MailTokenPurpose } from '@veche/contracts';
import { loadMailerConfig, parseDelays, type MailerConfig } from '../../src/env.ts';

/** Seals link tokens as the gateway does, for the events tests publish. */
export const testMailTokenSecret = 'test-mail-token-secret-0123456789';
export const sealedForTest = (purpose: MailTokenPurpose, userId: string, token: string): string =>
  sealMailToken(testMailTokenSecret, purpose, userId, token);

export function testConfig(overrides: Record<string, string> = {}): MailerConfig {
  return loadMailerConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
    DATABASE_URL: testDatabaseUrl(),
    AMQP_URL: testAmqpUrl(),
    PORT: '0',
    VECHE_PUBLIC_URL: 'https://veche.test',
    MAIL_FROM: 'Veche <no-reply@veche.test>',
    MAILER_QUEUE: `mailer.${uniqueName('t')}`,
    MAILER_EXCHANGE: uniqueName('events'),
    MAILER_EVENT_RETRY_DELAYS_MS: '200',
    MAIL_POLL_INTERVAL_MS: '20',
    MAIL_RATE_PER_SECOND: '1000',
    MAIL_RETRY_BASE_MS: '150',
    MAIL_RETRY_MAX_MS: '2000',
    MAIL_MAX_ATTEMPTS: '4',
    MAIL_SENDING_LEASE_MS: '60000',
    MAIL_DIGEST_DELAY_MS: '600',
    MAIL_UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret-0123456789',
    MAIL_TOKEN_SECRET: testMailTokenSecret,
    ...overrides,
  });
}

/** Every queue a test's mailer declares, so the test can delete them. */
export function queuesOf(config: MailerConfig): string[] {
  const names = topologyNames(config.MAILER_QUEUE, parseDelays(config.MAILER_EVENT_RETRY_DELAYS_MS) ?? []);
  return [
    names.queue,
    names.deadLetterQueue,
    ...names.retryQueues.map((r) => r.name),
    `${config.MAILER_QUEUE}.undeliverable`,
  ];
}
