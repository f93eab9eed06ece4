/**
 * Sends the events a publisher kept in `<exchange>.unrouted` (published while no queue was bound for
 * their type) to the exchange again, for example after deploying the consumer that wants them. Each is
 * taken off the unrouted queue only once the broker has confirmed its new publish; one still without a
 * queue goes back to the unrouted queue. Consumers are idempotent (inbox), so a replay interrupted
 * half-way and run again at worst delivers some events twice, which the inbox absorbs.
 */
import amqplib from 'amqplib';
import type { Logger } from '@veche/log';
import { unroutedQueueName, unroutedQueueOptions, unroutedRoutingKeyHeader } from './publisher.ts';
import { defaultExchange } from './topology.ts';

export interface ReplayUnroutedOptions {
  url: string;
  log: Logger;
  exchange?: string;
  /** Stop after this many (default: as many as the queue held when the replay began). */
  limit?: number;
}

export interface ReplayResult {
  /** Published to a bound queue this time. */
  delivered: number;
  /** Still no queue bound: kept in the unrouted queue again. */
  stillUnrouted: number;
}

export async function replayUnrouted(options: ReplayUnroutedOptions): Promise<ReplayResult> {
  const exchange = options.exchange ?? defaultExchange;
  const queue = unroutedQueueName(exchange);
  const connection = await amqplib.connect(options.url, {
    clientProperties: { connection_name: 'veche.replay-unrouted' },
  });
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(queue, unroutedQueueOptions);
    const returned = new Set<string>();
    channel.on('return', (message: amqplib.Message) => {
      const id = message.properties.messageId as string | undefined;
      if (id) returned.add(id);
      // Back where it came from, confirmed with the rest before the original is acknowledged.
      channel.sendToQueue(queue, message.content, {
        ...(message.properties as amqplib.Options.Publish),
        headers: {
          ...(message.properties.headers as Record<string, unknown> | undefined),
          [unroutedRoutingKeyHeader]: message.fields.routingKey,
        },
      });
    });
    const { messageCount } = await channel.checkQueue(queue);
    const total = Math.min(messageCount, options.limit ?? messageCount);
    const result: ReplayResult = { delivered: 0, stillUnrouted: 0 };
    options.log.info({ queue, total }, 'replaying unrouted events');
    for (let i = 0; i < total; i += 1) {
      const message = await channel.get(queue, { noAck: false });
      if (!message) break;
      const headers = { ...(message.properties.headers as Record<string, unknown> | undefined) };
      const routingKey = headers[unroutedRoutingKeyHeader];
      if (typeof routingKey !== 'string') {
        options.log.error(
          { messageId: message.properties.messageId },
          'unrouted message without routing key; left in place',
        );
        channel.nack(message, false, true);
        break;
      }
      delete headers[unroutedRoutingKeyHeader];
      channel.publish(exchange, routingKey, message.content, {
        ...(message.properties as amqplib.Options.Publish),
        headers,
        mandatory: true,
      });
      await channel.waitForConfirms();
      channel.ack(message);
      const id = message.properties.messageId as string | undefined;
      if (id && returned.delete(id)) result.stillUnrouted += 1;
      else result.delivered += 1;
      if ((i + 1) % 1000 === 0) options.log.info({ done: i + 1, total }, 'replay progress');
    }
    await channel.waitForConfirms();
    await channel.close();
    options.log.info(result, 'replay finished');
    return result;
  } finally {
    await connection.close().catch(() => {});
  }
}
