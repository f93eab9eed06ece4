/**
 * The directory consumer: the gateway's account events (queue `presence.accounts`) become the
 * presence-router's directory events, appended in the inbox's transaction so a redelivery changes
 * nothing. The inline projection keeps the `directory` table and tells every replica (a number that
 * moves, an account disabled: its `/pubsub` connections close).
 */
import { createConsumer, type BusConnection, type Consumer } from '@veche/bus';
import type { Database } from '@veche/db';
import { accountEventTypes as account, parseIntegrationEvent } from '@veche/contracts';
import { validationError } from '@veche/errors';
import type { EventStore } from '@veche/event-store';
import type { Logger } from '@veche/log';
import {
  decideDirectory,
  directoryStream,
  initialDirectory,
  type DirectoryChange,
} from './domain/directory.ts';
import type { PresenceTables } from './tables.ts';

/** The account events the directory follows, and the part of each it reads. */
export const accountEventTypes = [
  account.registered,
  account.directoryUpdated,
  account.disabled,
  account.enabled,
] as const;

export function createDirectoryConsumer(options: {
  database: Database<unknown>;
  store: EventStore;
  connection: BusConnection;
  exchange: string;
  queue: string;
  log: Logger;
}): Consumer {
  return createConsumer({
    connection: options.connection,
    database: options.database,
    log: options.log,
    queue: options.queue,
    exchange: options.exchange,
    bindings: accountEventTypes,
    handle: async (event, trx) => {
      const parsed = parseIntegrationEvent(accountEventTypes, event.type, event.data);
      if (!parsed.ok)
        throw validationError(`Malformed ${event.type}`, { details: { problems: parsed.problems } });
      const { type, data } = parsed.event;
      const { userId } = data;
      const change: DirectoryChange =
        type === 'account.disabled'
          ? { disabled: true }
          : type === 'account.enabled'
            ? { disabled: false }
            : type === 'account.directory_updated' && data.extension !== undefined
              ? { extension: data.extension }
              : {};
      const row = await trx
        .$extendTables<PresenceTables>()
        .selectFrom('directory')
        .select(['version', 'extension', 'disabled'])
        .where('user_id', '=', userId)
        .executeTakeFirst();
      const state = row ?? initialDirectory;
      const events = decideDirectory(state, change);
      if (events.length === 0) return;
      await options.store.append(directoryStream(userId), events, {
        expectedVersion: state.version,
        trx,
        actor: event.metadata.actor,
        causationId: event.metadata.eventId,
        correlationId: event.metadata.correlationId,
      });
    },
  });
}
