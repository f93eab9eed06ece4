/**
 * The presence-router's tables (schema `presence`), for kysely. Projections of the event log:
 * `statuses`, `status_history`, `privacy`, `groups`, `group_rules`. Live state that is not history:
 * `connections`, `replicas`, `activity`. Fed by account events: `directory`. Kept per subscriber:
 * `watches` (WAMP subscriptions through /api).
 */
import type { ColumnType } from 'kysely';
import type { PresenceStatusCode, PrivacyMode } from '@veche/contracts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills by default. */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface StatusesTable {
  user_id: string;
  /** The stream `presence-<userId>`'s version this row reflects. */
  version: number;
  /** What others are told (before privacy). */
  status: PresenceStatusCode;
  /** The user's choice; null: automatic. */
  chosen: PresenceStatusCode | null;
  chosen_timestamp: string | null;
  /** Raw JSON text of the `timestamp` of the publication that set `status` (null when none). */
  status_timestamp: string | null;
  changed_at: Timestamp;
}

export interface StatusHistoryTable {
  user_id: string;
  version: number;
  status: PresenceStatusCode;
  cause: string;
  at: Timestamp;
}

export interface PrivacyTable {
  user_id: string;
  version: number;
  mode: PrivacyMode;
  users: string[];
}

export interface GroupsTable {
  name: string;
  members: string[];
}

export interface GroupRulesTable {
  viewer_group: string;
  target_group: string;
}

export interface DirectoryTable {
  user_id: string;
  /** The stream `presence-directory-<userId>`'s version. */
  version: number;
  extension: string | null;
  disabled: boolean;
  updated_at: Timestamp;
}

export interface ConnectionsTable {
  connection_id: string;
  user_id: string;
  kind: 'pubsub' | 'ws';
  /** The replica holding a `/pubsub` connection (null for `/ws` sessions, which the router holds). */
  replica_id: string | null;
  opened_at: DefaultTimestamp;
}

/** `/ws` sessions that ended, so a late `on_join` from another replica cannot bring one back. */
export interface EndedSessionsTable {
  connection_id: string;
  ended_at: DefaultTimestamp;
}

export interface ReplicasTable {
  replica_id: string;
  heartbeat_at: Timestamp;
  started_at: Timestamp;
}

export interface ActivityTable {
  user_id: string;
  last_active_at: Timestamp;
  /** When the user's last connection closed (the offline grace runs from here); null while connected. */
  offline_since: Timestamp | null;
}

export interface WatchesTable {
  watcher_id: string;
  /** A user id, an extension number, an extension pattern, or `<userId>@<domain>` (remote). */
  target: string;
  kind: 'user' | 'extension' | 'pattern' | 'remote';
  created_at: DefaultTimestamp;
}

/** A type alias, not an interface: kysely's `$extendTables` wants an indexable record. */
export type PresenceTables = {
  statuses: StatusesTable;
  status_history: StatusHistoryTable;
  privacy: PrivacyTable;
  groups: GroupsTable;
  group_rules: GroupRulesTable;
  directory: DirectoryTable;
  connections: ConnectionsTable;
  replicas: ReplicasTable;
  ended_sessions: EndedSessionsTable;
  activity: ActivityTable;
  watches: WatchesTable;
};
