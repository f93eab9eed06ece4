/**
 * The gateway's configuration, read and validated once at start: a bad variable stops the process with
 * its name. Durations are seconds unless the name says otherwise.
 */
import { ConfigError, commonEnv, env, envSchema, loadConfig } from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const gatewayEnvSchema = envSchema({
  ...commonEnv,
  HOST: env.string({ default: '127.0.0.1' }),
  PORT: env.port({ default: 3001 }),
  /** Lets tests use their own schema; production keeps `gateway`. */
  GATEWAY_DB_SCHEMA: env.string({ default: 'gateway' }),
  GATEWAY_DB_POOL_SIZE: env.int({ default: 10, minimum: 2, maximum: 100 }),
  VECHE_PUBLIC_URL: env.url({ default: 'http://127.0.0.1:3000', protocols: ['http', 'https'] }),
  WAMP_URL: env.url({ default: 'ws://127.0.0.1:8081/', protocols: ['ws', 'wss'] }),
  WAMP_REALM: env.string({ default: 'veche' }),
  /** The WAMP credential of every service (authid `service:<name>`), and the x-veche-actor key. */
  VECHE_SERVICE_SECRET: env.secret({ minLength: 16 }),
  /** HS256 key of access tokens (at least 32 characters). Derived from VECHE_SERVICE_SECRET outside production. */
  GATEWAY_TOKEN_SECRET: env.optional(env.secret({ minLength: 32 })),
  ACCESS_TOKEN_TTL_SECONDS: env.int({ default: 900, minimum: 10, maximum: 3600 }),
  REFRESH_TOKEN_TTL_DAYS: env.int({ default: 30, minimum: 1, maximum: 365 }),
  VERIFICATION_TOKEN_TTL_HOURS: env.int({ default: 48, minimum: 1, maximum: 720 }),
  RESET_TOKEN_TTL_MINUTES: env.int({ default: 60, minimum: 5, maximum: 1440 }),
  /** argon2id cost: memory in KiB, passes, lanes. Stored with each hash, so raising them is safe. */
  ARGON2_MEMORY_KIB: env.int({ default: 19_456, minimum: 8_192, maximum: 1_048_576 }),
  ARGON2_PASSES: env.int({ default: 2, minimum: 1, maximum: 10 }),
  ARGON2_PARALLELISM: env.int({ default: 1, minimum: 1, maximum: 16 }),
  /** Logging in before the address is verified. */
  REQUIRE_VERIFIED_EMAIL: env.bool({ default: true }),
  /** This address becomes admin when it registers; otherwise the first account does. */
  VECHE_ADMIN_EMAIL: env.optional(env.string()),
  /**
   * Which proxies' X-Forwarded-For to believe (fastify `trustProxy`): `true`, a hop count, or
   * comma-separated addresses/CIDRs. Default: loopback (the local fleet's proxy).
   */
  TRUST_PROXY: env.string({ default: 'loopback' }),
  /** Largest JSON body in bytes. */
  BODY_LIMIT_BYTES: env.int({ default: 65_536, minimum: 1024, maximum: 10_485_760 }),
  /** Timeout of forwarded calls to other services. */
  FORWARD_TIMEOUT_MS: env.int({ default: 10_000, minimum: 100, maximum: 120_000 }),
  /** How long a forwarded call waits for a service that has no procedure registered (down, restarting). */
  FORWARD_CALLEE_WAIT_MS: env.int({ default: 2_000, minimum: 0, maximum: 120_000 }),
  /** Rate limits: attempts per window (seconds). */
  LOGIN_LIMIT_PER_IP: env.int({ default: 30, minimum: 1 }),
  LOGIN_FAILURES_PER_ACCOUNT: env.int({ default: 5, minimum: 1 }),
  LOCKOUT_SECONDS: env.int({ default: 900, minimum: 1 }),
  REGISTER_LIMIT_PER_IP: env.int({ default: 10, minimum: 1 }),
  MAIL_LIMIT_PER_IP: env.int({ default: 10, minimum: 1 }),
  MAIL_LIMIT_PER_ACCOUNT: env.int({ default: 3, minimum: 1 }),
  RATE_WINDOW_SECONDS: env.int({ default: 900, minimum: 1 }),
  /** The exchange account events go to (tests use their own). */
  GATEWAY_EXCHANGE: env.string({ default: 'veche.events' }),
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
  if (parseTrustProxy(config.TRUST_PROXY) === undefined) {
    problems.push({
      variable: 'TRUST_PROXY',
      message: 'must be true, false, a hop count or addresses/CIDRs',
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
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
