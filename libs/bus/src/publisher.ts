/**
 * Publishes integration events to the topic exchange and resolves only once the broker has confirmed
 * every one of them (persisted, for durable queues): the outbox relay's checkpoint depends on it.
 *
 * Publishes are `mandatory`: an event no queue is bound for (its consumer has not declared its queue
 * yet, or was never deployed) comes back as basic.return before its confirm, and is kept in the durable
 * queue `<exchange>.unrouted` (confirmed too) instead of being dropped; `replayUnrouted` sends those
 * again once their consumers exist.
 */
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import { unavailable } from '@veche/errors';
import type { Logger } from '@veche/log';
import type { BusConnection } from './connection.ts';
import { encodeEvent, type IntegrationEvent } from './message.ts';
import { declareExchange, defaultExchange, unroutedQueueName } from './topology.ts';

export interface PublisherOptions {
  connection: BusConnection;
  log: Logger;
  /** Default `veche.events`. */
  exchange?: string;
  /** A publish not confirmed within this time fails, and with it the batch (default 30 s). */
  confirmTimeoutMs?: number;
}

export interface Publisher {
  start(): Promise<void>;
  /** Waits for the confirms of publishes already under way, then closes the channel. */
  stop(): Promise<void>;
  /**
   * Resolves when the broker has confirmed every event; rejects (VecheError `unavailable`) if any is
   * refused or times out. Publishes cut off by a lost connection are sent again once it is back.
   */
  publish(events: readonly IntegrationEvent[]): Promise<void>;
}

export function createPublisher(options: PublisherOptions): Publisher {
  const exchange = options.exchange ?? defaultExchange;
  const log = options.log.child({ component: 'bus-publisher', exchange });
  const unroutedQueue = unroutedQueueName(exchange);
  let channel: ChannelWrapper | undefined;
  const inFlight = new Set<Promise<unknown>>();
  /** Keeps of returned (unroutable) messages, by message id, until their batch has awaited them. */
  const kept = new Map<string, Promise<unknown>>();

  const keepReturned = (message: ConsumeMessage) => {
    const current = channel;
    const messageId = message.properties.messageId as string | undefined;
    if (!current || !messageId) return;
    log.warn(
      { eventId: messageId, type: message.fields.routingKey, queue: unroutedQueue },
      'no queue is bound for this event type; kept in the unrouted queue',
    );
    // Declared again first: the queue expires after a month unused, and a publisher may run longer.
    kept.set(
      messageId,
      current.assertQueue(unroutedQueue, unroutedQueueOptions).then(() =>
        current.sendToQueue(unroutedQueue, message.content, {
          ...message.properties,
          headers: { ...message.properties.headers, [unroutedRoutingKeyHeader]: message.fields.routingKey },
        }),
      ),
    );
  };

  return {
    async start() {
      if (channel) return;
      channel = await options.connection.openChannel({
        name: 'publisher',
        publishTimeoutMs: options.confirmTimeoutMs ?? 30_000,
        setup: async (raw: Channel) => {
          await declareExchange(raw, exchange);
          await raw.assertQueue(unroutedQueue, unroutedQueueOptions);
          // basic.return arrives before the confirm of the same message, on this channel.
          raw.on('return', keepReturned);
        },
      });
    },

    async stop() {
      const current = channel;
      channel = undefined;
      await Promise.allSettled(inFlight);
      await current?.close();
    },

    async publish(events) {
      const current = channel;
      if (!current) throw new Error('Publisher is not started');
      if (events.length === 0) return;
      const confirms = events.map((event) => {
        const message = encodeEvent(event);
        return current.publish(exchange, message.routingKey, message.content, {
          ...message.options,
          mandatory: true,
        });
      });
      // After the confirms, every return of this batch has arrived: wait for those keeps as well.
      const all = Promise.all(confirms).then(() =>
        Promise.all(
          events.flatMap((event) => {
            const keep = kept.get(event.metadata.eventId);
            kept.delete(event.metadata.eventId);
            return keep ? [keep] : [];
          }),
        ),
      );
      inFlight.add(all);
      try {
        await all;
      } catch (error) {
        // The others may still confirm; the caller publishes the whole batch again anyway.
        await Promise.allSettled(confirms);
        for (const event of events) kept.delete(event.metadata.eventId);
        log.warn({ err: error, events: events.length }, 'publish not confirmed');
        throw unavailable('RabbitMQ did not confirm the publish', { cause: error });
      } finally {
        inFlight.delete(all);
      }
    },
  };
}

export { unroutedQueueName } from './topology.ts';

/** The routing key an unrouted message was published with. */
export const unroutedRoutingKeyHeader = 'x-veche-routing-key';

/**
 * Bounded, so event types nobody consumes (yet) cannot fill the broker: a week, at most 100,000
 * messages (the oldest go first), kept on disk rather than in memory; the queue itself goes after a
 * month without use (by then whatever it held has expired anyway).
 */
export const unroutedQueueOptions = {
  durable: true,
  arguments: {
    'x-expires': 30 * 24 * 3600 * 1000,
    'x-message-ttl': 7 * 24 * 3600 * 1000,
    'x-max-length': 100_000,
    'x-overflow': 'drop-head',
    'x-queue-mode': 'lazy',
  },
};
