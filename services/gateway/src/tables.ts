/**
 * The gateway's tables (schema `gateway`), for kysely: the columns as migrations/ makes them, so a
 * renamed column breaks the build wherever it is read or written through the query builder.
 */
import type { Kysely } from '@veche/db';
import type { ColumnType, Selectable } from 'kysely';
import type { Role } from './domain/account.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A column with a default: optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export type AccountStatus = 'active' | 'disabled';
export type MailTokenPurpose = 'verify' | 'reset' | 'email_change';

export interface AccountsTable {
  user_id: string;
  email: string;
  email_verified: Defaulted<boolean>;
  password_hash: string | null;
  display_name: string;
  /** As the events say it (any locale); the account's commands only ever set 'en' or 'ru'. */
  locale: string;
  time_zone: string;
  extension: string | null;
  role: Defaulted<Role>;
  status: Defaulted<AccountStatus>;
  version: number;
  sessions_valid_after: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AccountTokensTable {
  token_hash: string;
  purpose: MailTokenPurpose;
  user_id: string;
  new_email: string | null;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface SessionsTable {
  session_id: string;
  user_id: string;
  version: number;
  generation: number;
  device: string;
  ip: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  revoked_reason: string | null;
}

export interface RefreshTokensTable {
  token_hash: string;
  session_id: string;
  generation: number;
}

export interface RateLimitsTable {
  key: string;
  window_start: Timestamp;
  hits: number;
}

export interface LoginThrottleTable {
  key: string;
  failures: number;
  last_failure_at: Timestamp;
  blocked_until: Timestamp | null;
}

export interface KerberosPrincipalsTable {
  principal: string;
  user_id: string;
  linked_at: Timestamp;
}

export interface NegotiateTokensSeenTable {
  token_hash: string;
  seen_at: Defaulted<Date>;
}

export interface WampSessionsTable {
  wamp_session_id: number;
  session_id: string;
  user_id: string;
  expires_at: Timestamp;
  created_at: Defaulted<Date>;
  kill_attempts: Defaulted<number>;
  next_kill_at: Timestamp | null;
}

/** A type alias, not an interface: kysely's `$extendTables` wants an indexable record. */
export type GatewayTables = {
  accounts: AccountsTable;
  account_tokens: AccountTokensTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  rate_limits: RateLimitsTable;
  login_throttle: LoginThrottleTable;
  kerberos_principals: KerberosPrincipalsTable;
  negotiate_tokens_seen: NegotiateTokensSeenTable;
  wamp_sessions: WampSessionsTable;
};

/** An account as the read model stores it. */
export type AccountRow = Selectable<AccountsTable>;

/** The gateway's tables on an executor that may be a transaction (the caller's choice). */
export const tablesOf = (db: Kysely<unknown>): Kysely<GatewayTables> => db.$extendTables<GatewayTables>();
