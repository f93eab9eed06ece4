/**
 * The log-listener's integration events on `veche.events` (ADR 0015): its log's `logs.alert_fired`
 * as appended, and `logs.source_registered` / `logs.source_deleted` with the source's id added (the
 * log keeps it in the stream's name). An at-least-once subscription on the log publishes each batch
 * and moves its checkpoint only once the broker confirmed it, so a crash republishes, never loses;
 * consumers' inboxes absorb the repeats. One replica at a time (the subscription's lock).
 */
import type { Database } from '@veche/db';
import { createPublisher, toIntegrationEvent, type BusConnection, type IntegrationEvent } from '@veche/bus';
import {
  createSubscription,
  type EventStore,
  type RecordedEvent,
  type Subscription,
} from '@veche/event-store';
import {
  integrationEvent,
  logAlertEventTypes as A,
  logEventTypes as T,
  type IntegrationEventData,
} from '@veche/contracts';
import type { Logger } from '@veche/log';
import { readLogsEvent, sourceIdOf } from './domain/events.ts';

export const publishedEventTypes = [T.sourceRegistered, T.sourceDeleted, A.alertFired] as const;

/** The integration event for one of the log's events (undefined: not published). */
export function integrationOf(recorded: RecordedEvent): IntegrationEvent | undefined {
  const event = readLogsEvent(recorded);
  if (!event) return undefined;
  const { metadata } = recorded;
  switch (event.type) {
    case T.sourceRegistered: {
      const d = event.data;
      const data: IntegrationEventData<'logs.source_registered'> = {
        sourceId: sourceIdOf(recorded.streamId),
        ownerId: d.ownerId,
        name: d.name,
        port: d.port,
        tls: d.tls,
        retentionDays: d.retentionDays,
      };
      return { ...integrationEvent(T.sourceRegistered, data), metadata };
    }
    case T.sourceDeleted: {
      const d = event.data;
      const data: IntegrationEventData<'logs.source_deleted'> = {
        sourceId: sourceIdOf(recorded.streamId),
        by: d.by,
        ...(d.ownerId === undefined ? {} : { ownerId: d.ownerId }),
      };
      return { ...integrationEvent(T.sourceDeleted, data), metadata };
    }
    case A.alertFired:
      return toIntegrationEvent(recorded);
    case A.alertCreated:
    case A.alertUpdated:
    case A.alertDeleted:
      // The alerts' settings are the log-listener's own.
      return undefined;
  }
}

export function createIntegrationRelay(options: {
  database: Database<unknown>;
  store: EventStore;
  connection: BusConnection;
  exchange: string;
  log: Logger;
  pollIntervalMs?: number;
}): { relay: Subscription; start(): Promise<void>; stop(): Promise<void> } {
  const log = options.log.child({ component: 'outbox-relay' });
  const publisher = createPublisher({ connection: options.connection, log, exchange: options.exchange });
  const relay = createSubscription({
    name: 'logs.outbox-relay',
    database: options.database,
    store: options.store,
    log,
    mode: 'at-least-once',
    eventTypes: publishedEventTypes,
    batchSize: 500,
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    async handle(events) {
      const integration = events.flatMap((event) => integrationOf(event) ?? []);
      if (integration.length > 0) await publisher.publish(integration);
    },
  });
  return {
    relay,
    async start() {
      await publisher.start();
      await relay.start();
    },
    async stop() {
      await relay.stop();
      await publisher.stop();
    },
  };
}
