/** The gateway's migrations, after the event store's (its names sort first). */
import type { Migrations } from '@veche/db';
import { eventStoreMigrations } from '@veche/event-store';
import { accounts } from './0001-accounts.ts';

export const gatewayMigrations: Migrations = {
  ...eventStoreMigrations,
  '0001-accounts': accounts,
};
