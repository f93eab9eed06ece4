/**
 * What the bus's tests share: a quiet logger, a plain amqplib connection to inspect and clean up the
 * broker, sample events, and closing a component's named connections the way an operator (or a
 * network failure) would.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { createLogger, type Logger } from '@veche/log';
import { scaledMs, testAmqpUrl } from '@veche/testing';
import { unroutedQueueName, type IntegrationEvent } from '../src/index.ts';

const run = promisify(execFile);

export function testLog(): Logger {
  return createLogger({ service: 'bus-test', level: process.env['LOG_LEVEL'] ?? 'silent' });
}

export function sampleEvent(
  type: string,
  data: unknown = {},
  eventId: string = randomUUID(),
): IntegrationEvent {
  return {
    type,
    data,
    metadata: {
      eventId,
      occurredAt: new Date().toISOString(),
      actor: 'system',
      correlationId: randomUUID(),
      causationId: randomUUID(),
    },
  };
}

export interface Admin {
  connection: amqplib.ChannelModel;
  channel: amqplib.Channel;
  /** Deletes the queues and exchanges, then closes the connection. */
  cleanUp(queues: readonly string[], exchanges: readonly string[]): Promise<void>;
  /** Waits until `queue` holds `count` ready messages and takes them (`timeoutMs` × TEST_TIME_SCALE). */
  take(queue: string, count: number, timeoutMs?: number): Promise<amqplib.GetMessage[]>;
}

export async function connectAdmin(): Promise<Admin> {
  const connection = await amqplib.connect(testAmqpUrl());
  const channel = await connection.createChannel();
  return {
    connection,
    channel,
    async cleanUp(queues, exchanges) {
      for (const queue of queues) await channel.deleteQueue(queue);
      for (const exchange of exchanges) {
        await channel.deleteExchange(exchange);
        await channel.deleteQueue(unroutedQueueName(exchange)); // declared by every publisher
      }
      await connection.close();
    },
    async take(queue, count, timeoutMs = 10_000) {
      const taken: amqplib.GetMessage[] = [];
      // × TEST_TIME_SCALE, as every wait: a relay's messages wait for the cluster-wide horizon.
      const deadline = Date.now() + scaledMs(timeoutMs);
      while (taken.length < count) {
        const message = await channel.get(queue, { noAck: true });
        if (message) {
          taken.push(message);
          continue;
        }
        if (Date.now() > deadline) throw new Error(`only ${taken.length} of ${count} messages in ${queue}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return taken;
    },
  };
}

/**
 * Closes, from the broker's side, every connection whose `connection_name` contains `fragment`, and
 * returns how many it closed. Only the calling test's own connections: other test files share the broker.
 */
export async function closeConnectionsNamed(fragment: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], {
    timeout: 15_000,
  });
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(fragment))
    .map((line) => line.split('\t')[0]?.trim())
    .filter((pid): pid is string => pid !== undefined && pid.startsWith('<'));
  for (const pid of pids) {
    await run('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by a bus test'], { timeout: 15_000 });
  }
  return pids.length;
}
