/**
 * What every account command and query shares: the read models' executor, the event store, the
 * limits, the configuration and what is derived from it once (password-hash parameters, token
 * signers, log-in delay policies), and who is asking.
 */
import { randomUUID } from 'node:crypto';
import type { Executor } from '@veche/db';
import type { AppendContext, EventStore } from '@veche/event-store';
import type { Logger } from '@veche/log';
import type { Role } from '../domain/account.ts';
import type { DelayPolicy, LoginPolicies } from '../domain/login-throttle.ts';
import { hashPassword, type Argon2Parameters } from '../domain/passwords.ts';
import { createAccessTokens, createDeviceTokens } from '../domain/tokens.ts';
import type { GatewayConfig } from '../env.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import type { RateLimiter } from '../rate-limit.ts';

/** Who is asking, as the edge saw it. */
export interface RequestContext {
  ip: string;
  userAgent: string;
  correlationId: string;
  /** The device token the client sent (a cookie), if any. */
  deviceToken?: string | undefined;
  /** Hands the client a new device token (sets the cookie); absent outside HTTP. */
  issueDeviceToken?: ((token: string) => void) | undefined;
}

export interface Principal {
  userId: string;
  sessionId: string;
  role: Role;
  /** When the access token it came from expires (absent for principals not from a token). */
  expiresAtMs?: number;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  userId: string;
  sessionId: string;
}

export interface AccountsOptions {
  db: Executor<unknown>;
  store: EventStore;
  limiter: RateLimiter;
  throttle: LoginThrottle;
  config: GatewayConfig;
  log: Logger;
  tokenSecret: string;
  /**
   * Ends, now, the live WAMP sessions whose account session or account has just ended (wamp-sessions.ts).
   * The decision is already committed with the event (the read model says which sessions are doomed);
   * a kill the router does not confirm is retried in the background until it does.
   */
  endDoomedWampSessions?: () => Promise<unknown>;
  /** Ends every live WAMP session of a disabled user at once (`wamp.session.kill_by_authid`). */
  killWampSessionsOf?: (userId: string, reason: string) => Promise<unknown>;
}

export interface AccountsContext extends Omit<AccountsOptions, 'tokenSecret'> {
  argon: Argon2Parameters;
  access: ReturnType<typeof createAccessTokens>;
  devices: ReturnType<typeof createDeviceTokens>;
  loginPolicies: LoginPolicies;
  /** The window of every rate limit, in seconds. */
  window: number;
  /** Verified against when the address is unknown, so a miss costs as long as a wrong password. */
  dummyHash: Promise<string>;
}

export function createAccountsContext(options: AccountsOptions): AccountsContext {
  const { tokenSecret, ...shared } = options;
  const { config } = options;
  const argon: Argon2Parameters = {
    memory: config.ARGON2_MEMORY_KIB,
    passes: config.ARGON2_PASSES,
    parallelism: config.ARGON2_PARALLELISM,
  };
  const policy = (freeFailures: number): DelayPolicy => ({
    freeFailures,
    firstDelaySeconds: config.LOGIN_FIRST_DELAY_SECONDS,
    maxDelaySeconds: config.LOGIN_MAX_DELAY_SECONDS,
  });
  return {
    ...shared,
    argon,
    access: createAccessTokens(tokenSecret, config.ACCESS_TOKEN_TTL_SECONDS),
    devices: createDeviceTokens(tokenSecret),
    loginPolicies: {
      address: policy(config.LOGIN_FAILURES_PER_IP),
      account: policy(config.LOGIN_FAILURES_PER_ACCOUNT),
      device: policy(config.LOGIN_FAILURES_PER_DEVICE),
    },
    window: config.RATE_WINDOW_SECONDS,
    dummyHash: hashPassword(randomUUID(), argon),
  };
}

export const ok = { ok: true as const };

export const appendContext = (ctx: RequestContext, actor: string): AppendContext => ({
  actor,
  correlationId: ctx.correlationId,
  causationId: ctx.correlationId,
});
