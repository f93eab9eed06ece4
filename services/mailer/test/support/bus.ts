/**
 * RabbitMQ for the mailer's tests: publishing events as the gateway and chat will, reading the
 * dead-letter queue, and removing each test's queues and exchange afterwards.
 */
import amqp from 'amqplib';
import { v7 as uuidv7 } from 'uuid';
import { unroutedQueueName } from '@veche/bus';
import { testAmqpUrl } from '@veche/testing';

export interface TestBus {
  publish(type: string, data: unknown, eventId?: string): Promise<string>;
  /** Takes every message now in `queue`. */
  drain(queue: string): Promise<amqp.GetMessage[]>;
  close(): Promise<void>;
}

export async function openTestBus(exchange: string, queues: () => readonly string[]): Promise<TestBus> {
  const connection = await amqp.connect(testAmqpUrl());
  const channel = await connection.createConfirmChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  return {
    async publish(type, data, eventId = uuidv7()) {
      const metadata = {
        eventId,
        occurredAt: new Date().toISOString(),
        actor: 'test',
        correlationId: `corr-${eventId}`,
        causationId: eventId,
      };
      channel.publish(exchange, type, Buffer.from(JSON.stringify({ type, data, metadata })), {
        persistent: true,
        messageId: eventId,
        type,
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
      return eventId;
    },
    async drain(queue) {
      const taken: amqp.GetMessage[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: false });
        if (message === false) return taken;
        channel.ack(message);
        taken.push(message);
      }
    },
    async close() {
      for (const queue of queues()) await channel.deleteQueue(queue).catch(() => undefined);
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.deleteQueue(unroutedQueueName(exchange)).catch(() => undefined);
      await channel.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
