/** Removes a test's own exchange from the shared broker, with the queue its publisher keeps unrouted events in. */
import amqp from 'amqplib';
import { unroutedQueueName } from '@veche/bus';
import { testAmqpUrl } from '@veche/testing';

export async function removeExchange(exchange: string): Promise<void> {
  const connection = await amqp.connect(testAmqpUrl());
  try {
    const channel = await connection.createChannel();
    await channel.deleteExchange(exchange);
    await channel.deleteQueue(unroutedQueueName(exchange));
  } finally {
    await connection.close();
  }
}
