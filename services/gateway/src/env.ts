/**
 * The gateway's configuration, read and validated once at start: a bad variable stops the process with
 * its name. Durations are seconds unless the name says otherwise.
 */
import { existsSync } from 'node:fs';
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

const perWindow = 'per RATE_WINDOW_SECONDS';

export const gatewayEnvSchema = envSchema({
  ...runtimeEnv,
  ...httpEnv(3001),
  ...databaseEnv,
  ...amqpEnv,
  ...wampEnv,
  GATEWAY_DB_SCHEMA: env.string({
    default: 'gateway',
    description: 'the gateway’s PostgreSQL schema (tests use their own)',
  }),
  GATEWAY_DB_POOL_SIZE: env.int({
    default: 10,
    minimum: 2,
    maximum: 100,
    description: 'PostgreSQL connections',
  }),
  VECHE_PUBLIC_URL: env.url({
    default: 'http://127.0.0.1:3000',
    protocols: ['http', 'https'],
    description: 'the public origin (OpenAPI server, links)',
  }),
  GATEWAY_TOKEN_SECRET: env.optional(
    env.secret({
      minLength: 32,
      description:
        'HS256 key of access tokens; required in production, derived from VECHE_SERVICE_SECRET elsewhere',
    }),
  ),
  MAIL_TOKEN_SECRET: env.optional(
    env.secret({
      minLength: 16,
      description:
        'seals the tokens of mailed links for the mailer (the mailer needs the same); defaults to VECHE_SERVICE_SECRET',
    }),
  ),
  GATEWAY_KERBEROS_KEYTAB: env.optional(
    env.string({
      description:
        'path of the keytab of the HTTP service principal (a Docker secret); when set, clients may log in and open /pubsub with Authorization: Negotiate (Kerberos/SPNEGO)',
    }),
  ),
  GATEWAY_KERBEROS_SERVICE: env.optional(
    env.string({
      description:
        'the GSS service name Negotiate tokens must be for, e.g. HTTP@veche.example.org (default: any principal of the keytab)',
    }),
  ),
  ACCESS_TOKEN_TTL_SECONDS: env.int({
    default: 900,
    minimum: 10,
    maximum: 3600,
    description: 'access token lifetime',
  }),
  REFRESH_TOKEN_TTL_DAYS: env.int({
    default: 30,
    minimum: 1,
    maximum: 365,
    description: 'refresh token lifetime',
  }),
  REFRESH_TOKEN_REUSE_LEEWAY_SECONDS: env.int({
    default: 30,
    minimum: 0,
    maximum: 300,
    description:
      'how long after a refresh the token it replaced may still be spent once more (a reply lost to a reload, a crash or a dropped connection) before a reuse ends the session; 0 ends it on any reuse',
  }),
  VERIFICATION_TOKEN_TTL_HOURS: env.int({
    default: 48,
    minimum: 1,
    maximum: 720,
    description: 'how long an e-mail verification link works',
  }),
  RESET_TOKEN_TTL_MINUTES: env.int({
    default: 60,
    minimum: 5,
    maximum: 1440,
    description: 'how long a password-reset link works',
  }),
  ARGON2_MEMORY_KIB: env.int({
    default: 19_456,
    minimum: 8_192,
    maximum: 1_048_576,
    description: 'argon2id memory in KiB (stored with each hash, so raising it is safe)',
  }),
  ARGON2_PASSES: env.int({ default: 2, minimum: 1, maximum: 10, description: 'argon2id passes' }),
  ARGON2_PARALLELISM: env.int({ default: 1, minimum: 1, maximum: 16, description: 'argon2id lanes' }),
  REQUIRE_VERIFIED_EMAIL: env.bool({
    default: true,
    description: 'refuse log-in before the address is verified',
  }),
  VECHE_ADMIN_EMAIL: env.optional(
    env.string({
      description: 'this address becomes admin when it registers; otherwise the first account does',
    }),
  ),
  TRUST_PROXY: env.string({
    default: 'loopback',
    description: 'whose X-Forwarded-For to believe: true, a hop count, or comma-separated addresses/CIDRs',
  }),
  BODY_LIMIT_BYTES: env.int({
    default: 65_536,
    minimum: 1024,
    maximum: 10_485_760,
    description: 'largest JSON body',
  }),
  FORWARD_TIMEOUT_MS: env.int({
    default: 10_000,
    minimum: 100,
    maximum: 120_000,
    description: 'timeout of calls forwarded to other services',
  }),
  FORWARD_CALLEE_WAIT_MS: env.int({
    default: 2_000,
    minimum: 0,
    maximum: 120_000,
    description:
      'how long a forwarded call waits for a service with no procedure registered (down, restarting)',
  }),
  LOGIN_LIMIT_PER_IP: env.int({
    default: 30,
    minimum: 1,
    description: `log-in attempts per address ${perWindow}`,
  }),
  // Growing log-in delays (ADR 0007, 5): past a key's free failures each failure doubles the wait.
  LOGIN_FAILURES_PER_ACCOUNT: env.int({
    default: 5,
    minimum: 1,
    description: 'failed log-ins in a row per account before the waits begin',
  }),
  LOGIN_FAILURES_PER_IP: env.int({
    default: 10,
    minimum: 1,
    description:
      'failed log-ins in a row per client address before the waits begin (1000 outside production)',
  }),
  LOGIN_FAILURES_PER_DEVICE: env.int({
    default: 10,
    minimum: 1,
    description: 'failed log-ins in a row per known device before it is judged like any other client',
  }),
  LOGIN_FIRST_DELAY_SECONDS: env.int({
    default: 1,
    minimum: 1,
    maximum: 3_600,
    description: 'the first wait after the free failures; each further failure doubles it',
  }),
  LOGIN_MAX_DELAY_SECONDS: env.int({
    default: 900,
    minimum: 1,
    maximum: 86_400,
    description: 'the longest wait between two log-in tries, however many failures',
  }),
  LOGIN_FAILURE_MEMORY_SECONDS: env.int({
    default: 86_400,
    minimum: 1,
    description: 'failures are forgotten after this long without one',
  }),
  REGISTER_LIMIT_PER_IP: env.int({
    default: 10,
    minimum: 1,
    description: `registrations per address ${perWindow}`,
  }),
  MAIL_LIMIT_PER_IP: env.int({
    default: 10,
    minimum: 1,
    description: `mail-sending requests per address ${perWindow}`,
  }),
  MAIL_LIMIT_PER_ACCOUNT: env.int({
    default: 3,
    minimum: 1,
    description: `mail-sending requests per account ${perWindow}`,
  }),
  RATE_WINDOW_SECONDS: env.int({ default: 900, minimum: 1, description: 'the window of the rate limits' }),
  GATEWAY_EXCHANGE: env.string({
    default: 'veche.events',
    description: 'the exchange account events go to (tests use their own)',
  }),
});

export type GatewayConfig = Static<typeof gatewayEnvSchema>;

/** Loads and cross-checks the variables that only make sense together. */
/**
 * Per-address limits outside production when unset: in the local fleet every browser, test and
 * bench reaches the gateway from 127.0.0.1, so production's per-address budgets would lock developers
 * out. Per-account limits (lockout, mails per address) keep their production values everywhere.
 */
export const developmentLimits = {
  LOGIN_LIMIT_PER_IP: '1000',
  LOGIN_FAILURES_PER_IP: '1000',
  REGISTER_LIMIT_PER_IP: '1000',
  MAIL_LIMIT_PER_IP: '1000',
} as const;

export function loadGatewayConfig(source: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const withDefaults = { ...source };
  if (source['NODE_ENV'] !== 'production') {
    for (const [name, value] of Object.entries(developmentLimits)) {
      if (!withDefaults[name]) withDefaults[name] = value;
    }
  }
  const config = loadConfig(gatewayEnvSchema, withDefaults);
  const problems: { variable: string; message: string }[] = [];
  if (config.NODE_ENV === 'production' && !config.GATEWAY_TOKEN_SECRET) {
    problems.push({ variable: 'GATEWAY_TOKEN_SECRET', message: 'is required in production' });
  }
  if (config.GATEWAY_KERBEROS_KEYTAB !== undefined && !existsSync(config.GATEWAY_KERBEROS_KEYTAB)) {
    problems.push({ variable: 'GATEWAY_KERBEROS_KEYTAB', message: 'names no readable file' });
  }
  if (
    config.GATEWAY_KERBEROS_SERVICE !== undefined &&
    !/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+$/.test(config.GATEWAY_KERBEROS_SERVICE)
  ) {
    problems.push({ variable: 'GATEWAY_KERBEROS_SERVICE', message: 'must look like HTTP@host.example.org' });
  }
  if (parseTrustProxy(config.TRUST_PROXY) === undefined) {
    problems.push({
      variable: 'TRUST_PROXY',
      message: 'must be true, false, a hop count or addresses/CIDRs',
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The key mailed-link tokens are sealed with for the mailer (the mailer chooses it the same way). */
export function mailTokenSecret(config: GatewayConfig): string {
  return config.MAIL_TOKEN_SECRET ?? config.VECHE_SERVICE_SECRET;
}

export function parseTrustProxy(text: string): boolean | number | string[] | undefined {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^\d+$/.test(text)) return Number(text);
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return parts.length > 0 && parts.every((p) => /^[0-9a-fA-F.:/]+$/.test(p) || /^[a-z]+$/.test(p))
    ? parts
    : undefined;
}
