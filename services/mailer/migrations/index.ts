/** The mailer's migrations, after the bus's inbox (its names sort first). */
import { busMigrations } from '@veche/bus';
import type { Migrations } from '@veche/db';
import { mailOutbox } from './0001-mail-outbox.ts';

export const mailerMigrations: Migrations = {
  ...busMigrations,
  '0001-mail-outbox': mailOutbox,
};
