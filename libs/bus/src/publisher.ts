/**
 * Publishes integration events to the topic exchange and resolves only once the broker has confirmed
 * every one of them (persisted, for durable queues): the outbox relay's checkpoint depends on it.
 */
import type { ChannelWrapper } from 'amqp-connection-manager';
import { unavailable } from '@veche/errors';
import type { Logger } from '@veche/log';
import type { BusConnection } from './connection.ts';
import { encodeEvent, type IntegrationEvent } from './message.ts';
import { declareExchange, defaultExchange } from './topology.ts';

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
  let channel: ChannelWrapper | undefined;
  const inFlight = new Set<Promise<unknown>>();

  return {
    async start() {
      if (channel) return;
      channel = await options.connection.openChannel({
        name: 'publisher',
        publishTimeoutMs: options.confirmTimeoutMs ?? 30_000,
        setup: (raw) => declareExchange(raw, exchange),
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
        return current.publish(exchange, message.routingKey, message.content, message.options);
      });
      const all = Promise.all(confirms);
      inFlight.add(all);
      try {
        await all;
      } catch (error) {
        // The others may still confirm; the caller publishes the whole batch again anyway.
        await Promise.allSettled(confirms);
        log.warn({ err: error, events: events.length }, 'publish not confirmed');
        throw unavailable('RabbitMQ did not confirm the publish', { cause: error });
      } finally {
        inFlight.delete(all);
      }
    },
  };
}
