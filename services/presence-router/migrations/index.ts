/** The presence-router's migrations, after the event store's and the bus inbox's (their names sort first). */
import { busMigrations } from '@veche/bus';
import type { Migrations } from '@veche/db';
import { eventStoreMigrations } from '@veche/event-store';
import { presenceTables } from './0001-presence.ts';
import { federationTables } from './0002-federation.ts';
import { federationOverWamp } from './0003-federation-wamp.ts';

export const presenceMigrations: Migrations = {
  ...eventStoreMigrations,
  ...busMigrations,
  '0001-presence': presenceTables,
  '0002-federation': federationTables,
  '0003-federation-wamp': federationOverWamp,
};
