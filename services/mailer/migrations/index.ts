/** The mailer's migrations, after the bus's inbox (its names sort first). */
import { busMigrations } from '@veche/bus';
import type { Migrations } from '@veche/db';
import { mailOutbox } from './0001-mail-outbox.ts';
import { linkTokens } from './0002-link-tokens.ts';
import { logAlertMails } from './0003-log-alert-mails.ts';
import { earlyPreferences } from './0004-early-preferences.ts';
import { notificationsAwaitingRecipient } from './0005-notifications-awaiting-recipient.ts';

export const mailerMigrations: Migrations = {
  ...busMigrations,
  '0001-mail-outbox': mailOutbox,
  '0002-link-tokens': linkTokens,
  '0003-log-alert-mails': logAlertMails,
  '0004-early-preferences': earlyPreferences,
  '0005-notifications-awaiting-recipient': notificationsAwaitingRecipient,
};
