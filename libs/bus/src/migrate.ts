/**
 * Moves a consumer's classic queues (main, retry, dead-letter) to quorum queues. A queue's type is
 * fixed when it is declared, so each is emptied into a temporary quorum queue, deleted, declared
 * again as quorum, and refilled. The temporary queue is bound like the main one for the whole move,
 * so events published meanwhile are not missed; some may then arrive twice, which the consumer's
 * inbox absorbs. The consumer must be stopped (the move refuses a queue with consumers); publishers
 * may keep running.
 */
import amqplib from 'amqplib';
import type { Logger } from '@veche/log';
import {
  declareConsumerTopology,
  defaultExchange,
  defaultRetryDelaysMs,
  existingQueueType,
  queueTypeArguments,
  topologyNames,
} from './topology.ts';

export interface MigrateToQuorumOptions {
  url: string;
  log: Logger;
  /** `<service>.<purpose>`, as the consumer names it. */
  queue: string;
  /** The consumer's bindings (routing keys), so nothing published during the move is missed. */
  bindings: readonly string[];
  exchange?: string;
  retryDelaysMs?: readonly number[];
}

export interface MigrateToQuorumResult {
  /** False when the queue was already quorum (nothing to do). */
  migrated: boolean;
  /** Messages moved, per source queue. */
  moved: Record<string, number>;
}

export async function migrateToQuorum(options: MigrateToQuorumOptions): Promise<MigrateToQuorumResult> {
  const exchange = options.exchange ?? defaultExchange;
  const names = topologyNames(options.queue, options.retryDelaysMs ?? defaultRetryDelaysMs);
  const log = options.log.child({ queue: options.queue });
  const connection = await amqplib.connect(options.url, {
    clientProperties: { connection_name: `veche.migrate-to-quorum:${options.queue}` },
  });
  const moved: Record<string, number> = {};
  try {
    if ((await existingQueueType(connection, names.queue)) === 'quorum') {
      log.info('already a quorum queue: nothing to do');
      return { migrated: false, moved };
    }
    let channel = await connection.createConfirmChannel();
    const quorum = { durable: true, arguments: queueTypeArguments('quorum') };
    const holding = `${names.queue}.migrating`;
    const deadHolding = `${names.deadLetterQueue}.migrating`;

    // A queue that does not exist closes the channel that asks: ask on a channel of its own.
    const depth = async (queue: string): Promise<{ messages: number; consumers: number } | undefined> => {
      const probe = await connection.createChannel();
      probe.on('error', () => undefined);
      try {
        const info = await probe.checkQueue(queue);
        await probe.close();
        return { messages: info.messageCount, consumers: info.consumerCount };
      } catch {
        return undefined;
      }
    };
    const main = await depth(names.queue);
    if (main && main.consumers > 0) {
      throw new Error(
        `${names.queue} has ${main.consumers} consumer(s): stop the service that consumes it first`,
      );
    }

    // Each message republished (confirmed) to the target before it is acknowledged at the source.
    const move = async (source: string, target: string): Promise<void> => {
      let count = 0;
      for (;;) {
        const message = await channel.get(source, { noAck: false });
        if (!message) break;
        channel.sendToQueue(target, message.content, message.properties);
        await channel.waitForConfirms();
        channel.ack(message);
        count += 1;
        if (count % 1000 === 0) log.info({ source, target, count }, 'moving');
      }
      moved[source] = (moved[source] ?? 0) + count;
      log.info({ source, target, count }, 'moved');
    };

    await channel.assertQueue(holding, quorum);
    await channel.assertQueue(deadHolding, quorum);
    for (const key of options.bindings) await channel.bindQueue(holding, exchange, key);

    for (const source of [names.queue, ...names.retryQueues.map((r) => r.name)]) {
      if (!(await depth(source))) continue;
      // A waiting retry is handled again at once: its attempt history travels in its headers.
      await move(source, holding);
      await channel.deleteQueue(source);
    }
    if (await depth(names.deadLetterQueue)) {
      await move(names.deadLetterQueue, deadHolding);
      await channel.deleteQueue(names.deadLetterQueue);
    }

    // A fresh channel for the quorum queues: RabbitMQ 3.x channels that delivered to a classic queue
    // crash when they deliver to a quorum queue of the same name (the same holds for publishers'
    // long-lived channels: they are reset once, reconnect and publish again).
    await channel.close();
    channel = await connection.createConfirmChannel();
    await declareConsumerTopology(channel, {
      exchange,
      queue: names.queue,
      bindings: options.bindings,
      retryDelaysMs: options.retryDelaysMs ?? defaultRetryDelaysMs,
      queueType: 'quorum',
    });
    await move(holding, names.queue);
    for (const key of options.bindings) await channel.unbindQueue(holding, exchange, key);
    // Published between the last move and the unbind: still in the holding queue.
    await move(holding, names.queue);
    await move(deadHolding, names.deadLetterQueue);
    await channel.deleteQueue(holding);
    await channel.deleteQueue(deadHolding);
    await channel.close();
    log.info({ moved }, 'now a quorum queue');
    return { migrated: true, moved };
  } finally {
    await connection.close().catch(() => undefined);
  }
}
