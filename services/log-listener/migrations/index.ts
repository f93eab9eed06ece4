/** The log-listener's migrations, after the event store's (their names sort first). */
import type { Migrations } from '@veche/db';
import { eventStoreMigrations } from '@veche/event-store';
import { logsTables } from './0001-logs.ts';
import { logsAlerts } from './0002-alerts.ts';
import { logsLineRuns } from './0003-line-runs.ts';
import { logsLineRunsSnapshot } from './0004-line-runs-snapshot.ts';

export const logsMigrations: Migrations = {
  ...eventStoreMigrations,
  '0001-logs': logsTables,
  '0002-alerts': logsAlerts,
  '0003-line-runs': logsLineRuns,
  '0004-line-runs-snapshot': logsLineRunsSnapshot,
};
