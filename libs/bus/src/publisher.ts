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
import { failSpan, SpanKind, startSpan, traceparentOf, type Logger } from '@veche/log';
import type { BusConnection } from './connection.ts';
import { encodeEvents, groupForPublish, type IntegrationEvent } from './message.ts';
import { declareExchange, defaultExchange, unroutedQueueName } from './topology.ts';

export interface PublisherOptions {
  connection: BusConnection;
  log: Logger;
  /** Default `veche.events`. */
  exchange?: string;
  /** A publish not confirmed within this time fails, and with it the batch (default 30 s). */
  confirmTimeoutMs?: number;
  /**
   * Most events of one type packed into one message (default 100; 1 sends a message per event).
   * Consumers of this version read both; see ADR 0003 on upgrading.
   */
  maxEventsPerMessage?: number;
  /** Rough cap on a packed message's JSON (default 512 KiB). */
  maxMessageBytes?: number;
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
  const limits = {
    maxEvents: Math.max(1, options.maxEventsPerMessage ?? 100),
    maxBytes: options.maxMessageBytes ?? 512 * 1024,
  };
  let channel: ChannelWrapper | undefined;
  const inFlight = new Set<Promise<unknown>>();
  /** Keeps of returned (unroutable) messages, by message id, until their batch has awaited them. */
  const kept = new Map<string, Promise<unknown>>();

  const keepReturned = (message: ConsumeMessage) => {
    const current = channel;
    const messageId = message.properties.messageId as string | undefined;
    if (!current || !messageId) return;
    log.warn(
      { messageId, type: message.fields.routingKey, queue: unroutedQueue },
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
      const groups = groupForPublish(events, limits);
      const messages = groups.map(encodeEvents);
      const ids = messages.map((message) => message.options.messageId as string);
      const confirms = messages.map((message, i) => {
        // A span per message, from the publish to its confirm, continuing the trace of its first
        // event's append (and linked to the others'); its context replaces the append's traceparent in
        // the headers, so the consumer's span is the publish's child.
        const group = groups[i]!;
        const first = group[0]!;
        const { span, context } = startSpan(`publish ${message.routingKey}`, {
          kind: SpanKind.PRODUCER,
          carrier: first.metadata,
          correlationId: first.metadata.correlationId,
          links: group.slice(1).map((event) => event.metadata),
          attributes: {
            'messaging.system': 'rabbitmq',
            'messaging.operation.type': 'send',
            'messaging.destination.name': exchange,
            'messaging.rabbitmq.destination.routing_key': message.routingKey,
            'messaging.message.id': message.options.messageId,
            'messaging.batch.message_count': group.length,
          },
        });
        const traceparent = traceparentOf(context);
        const confirm = current.publish(exchange, message.routingKey, message.content, {
          ...message.options,
          ...(traceparent
            ? { headers: { ...(message.options.headers as Record<string, unknown>), traceparent } }
            : {}),
          mandatory: true,
        });
        confirm.then(
          () => span.end(),
          (error: unknown) => {
            failSpan(span, error);
            span.end();
          },
        );
        return confirm;
      });
      // After the confirms, every return of this batch has arrived: wait for those keeps as well.
      const all = Promise.all(confirms).then(() =>
        Promise.all(
          ids.flatMap((id) => {
            const keep = kept.get(id);
            kept.delete(id);
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
        for (const id of ids) kept.delete(id);
        log.warn({ err: error, events: events.length, messages: messages.length }, 'publish not confirmed');
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
