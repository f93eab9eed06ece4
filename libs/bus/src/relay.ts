/**
 * The outbox relay: follows the committed event log through an event-store subscription and publishes
 * each batch to RabbitMQ, letting the subscription save its checkpoint only once every publish of the
 * batch is confirmed. A crash or a lost connection in between republishes the batch; consumers' inboxes
 * absorb the duplicates. The subscription's advisory lock keeps it to one replica at a time.
 */
import type { Database } from '@veche/db';
import { createSubscription, type Checkpoint, type EventStore, type RecordedEvent } from '@veche/event-store';
import type { Logger } from '@veche/log';
import { relayPublished, watchRelayLag } from '@veche/metrics';
import type { BusConnection } from './connection.ts';
import type { IntegrationEvent } from './message.ts';
import { createPublisher } from './publisher.ts';

export interface OutboxRelayOptions {
  database: Database<unknown>;
  store: EventStore;
  connection: BusConnection;
  log: Logger;
  /** The subscription's name: its checkpoint and its lock (default `bus.outbox-relay`). */
  name?: string;
  /** Default `veche.events`. */
  exchange?: string;
  /** Only these event types are published; all when omitted. */
  eventTypes?: readonly string[];
  /** Events read and published per checkpoint move (default 1000). */
  batchSize?: number;
  pollIntervalMs?: number;
  leaseRetryMs?: number;
  confirmTimeoutMs?: number;
  /** Most events of one type per AMQP message (default 100; see the publisher). */
  maxEventsPerMessage?: number;
  /**
   * Runs after every publish of a batch is confirmed and before the checkpoint is saved. Fault tests
   * kill the process here; it is not a place for work that matters.
   */
  onBatchConfirmed?: (events: readonly RecordedEvent[]) => void | Promise<void>;
}

export interface OutboxRelay {
  start(): Promise<void>;
  /** Finishes the batch under way (publish, confirms, checkpoint), then closes its channel. */
  stop(): Promise<void>;
  /** True while this process holds the relay's lock and publishes. */
  readonly isLeader: boolean;
  checkpoint(): Promise<Checkpoint>;
}

export function toIntegrationEvent(event: RecordedEvent): IntegrationEvent {
  return { type: event.type, data: event.data, metadata: event.metadata };
}

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const name = options.name ?? 'bus.outbox-relay';
  const log = options.log.child({ component: 'outbox-relay', relay: name });
  const publisher = createPublisher({
    connection: options.connection,
    log,
    ...(options.exchange === undefined ? {} : { exchange: options.exchange }),
    ...(options.confirmTimeoutMs === undefined ? {} : { confirmTimeoutMs: options.confirmTimeoutMs }),
    ...(options.maxEventsPerMessage === undefined
      ? {}
      : { maxEventsPerMessage: options.maxEventsPerMessage }),
  });
  const subscription = createSubscription({
    name,
    database: options.database,
    store: options.store,
    log,
    mode: 'at-least-once',
    batchSize: options.batchSize ?? 1_000,
    ...(options.eventTypes === undefined ? {} : { eventTypes: options.eventTypes }),
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    ...(options.leaseRetryMs === undefined ? {} : { leaseRetryMs: options.leaseRetryMs }),
    async handle(events) {
      // A rejection leaves the checkpoint where it was: the subscription retries the whole batch.
      await publisher.publish(events.map(toIntegrationEvent));
      relayPublished.inc({ relay: name }, events.length);
      await options.onBatchConfirmed?.(events);
      log.debug({ events: events.length }, 'batch published and confirmed');
    },
  });

  let unwatchLag: (() => void) | undefined;

  return {
    get isLeader() {
      return subscription.isLeader;
    },
    checkpoint: () => subscription.checkpoint(),

    async start() {
      await publisher.start();
      await subscription.start();
      unwatchLag = watchRelayLag(name, async () => (subscription.isLeader ? subscription.lag() : undefined));
    },

    async stop() {
      unwatchLag?.();
      await subscription.stop();
      await publisher.stop();
    },
  };
}
