/**
 * The log-listener's tables (schema `logs`), for kysely. `sources` is the projection of the event log
 * (streams `logsource-<sourceId>`); `log_lines` holds the received lines themselves (see
 * docs/adr/0015-log-listener.md), `source_counters` what was counted on each source.
 */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface SourcesTable {
  source_id: string;
  version: number;
  owner_id: string;
  name: string;
  time_zone: string;
  allowed_ips: string[];
  tls: boolean;
  retention_days: number;
  port: number;
  created_at: Timestamp;
}

export interface DeletedSourcesTable {
  source_id: string;
  deleted_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface SourceCountersTable {
  source_id: string;
  received: ColumnType<number, number | undefined, number>;
  rejected_connections: ColumnType<number, number | undefined, number>;
  truncated: ColumnType<number, number | undefined, number>;
  invalid_utf8: ColumnType<number, number | undefined, number>;
  dropped: ColumnType<number, number | undefined, number>;
  closed_connections: ColumnType<number, number | undefined, number>;
  last_received_at: Timestamp | null;
}

export interface LogLinesTable {
  /** int8: the pool's parser gives numbers; the API turns them into strings. */
  id: Generated<number>;
  source_id: string;
  received_at: Timestamp;
  created_at: Timestamp;
  sender_ip: string;
  file_name: string;
  message: string;
  severity: number | null;
  facility: number | null;
  hostname: string | null;
  app_name: string | null;
  truncated: boolean;
  invalid_utf8: boolean;
}

export interface AlertsTable {
  alert_id: string;
  version: number;
  source_id: string;
  owner_id: string;
  name: string;
  /** A LogAlertFilter. */
  filter: ColumnType<Record<string, unknown>, string, string>;
  threshold: number;
  window_seconds: number;
  cool_down_seconds: number;
  enabled: boolean;
  created_at: Timestamp;
  firings: ColumnType<number, number | undefined, number>;
  last_fired_at: Timestamp | null;
  /** int8: the pool's parser gives numbers; written as decimal text. */
  fired_up_to_id: ColumnType<number, string, string>;
}

/**
 * Runs of consecutive line ids one transaction stored for one source: the alert evaluator reads
 * lines by runs, in commit-safe order (migrations/0003-line-runs.ts).
 */
export interface LineRunsTable {
  /** xid8 as decimal text. */
  transaction_id: ColumnType<string, never, never>;
  position: ColumnType<string, never, never>;
  source_id: string;
  first_id: ColumnType<number, string, never>;
  last_id: ColumnType<number, string, never>;
  received_from: Timestamp;
  received_to: Timestamp;
  /** pg_snapshot as text: its transaction's snapshot just before it committed (null before 0004). */
  snapshot: ColumnType<string | null, never, never>;
}

/** Per alert, the last run its previous firing counted (xid8 and position as decimal text). */
export interface AlertCursorsTable {
  alert_id: string;
  transaction_id: string;
  position: string;
}

/** A type alias, not an interface: kysely's `$extendTables` wants an indexable record. */
export type LogsTables = {
  sources: SourcesTable;
  deleted_sources: DeletedSourcesTable;
  source_counters: SourceCountersTable;
  log_lines: LogLinesTable;
  alerts: AlertsTable;
  line_runs: LineRunsTable;
  alert_cursors: AlertCursorsTable;
};
