/** The chat's migrations, after the event store's and the bus inbox's (their names sort first). */
import { busMigrations } from '@veche/bus';
import type { Migrations } from '@veche/db';
import { eventStoreMigrations } from '@veche/event-store';
import { chatTables } from './0001-chat.ts';

export const chatMigrations: Migrations = {
  ...eventStoreMigrations,
  ...busMigrations,
  '0001-chat': chatTables,
};
