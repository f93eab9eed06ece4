/**
 * The RabbitMQ objects Veche's integration events use, declared in code by whoever needs them. Every
 * declaration is an assert with fixed arguments, so any number of replicas may declare the same
 * topology at once; a retry queue is named for its delay, so changing the delays declares new queues
 * instead of clashing with the arguments of the old ones.
 */
import type { Channel, ChannelModel } from 'amqplib';
import type { BusConnection } from './connection.ts';

export const defaultExchange = 'veche.events';

/** Where a publisher keeps events that no queue was bound for (see publisher.ts). */
export const unroutedQueueName = (exchange: string): string => `${exchange}.unrouted`;

/** 1 s, 5 s, 30 s, 2 min, 10 min: a broken dependency gets about 13 minutes to come back. */
export const defaultRetryDelaysMs: readonly number[] = [1_000, 5_000, 30_000, 120_000, 600_000];

/**
 * Quorum queues are replicated (Raft) across a RabbitMQ cluster and survive a node's loss; classic
 * queues live on one node. A queue's type is fixed when it is declared: new queues are quorum, and a
 * queue an earlier version declared classic stays classic until `migrateToQuorum` moves it.
 */
export type QueueType = 'quorum' | 'classic';
export const defaultQueueType: QueueType = 'quorum';

/** The declare arguments of a type (a classic queue was always declared without one: keep it so). */
export const queueTypeArguments = (type: QueueType): Record<string, string> =>
  type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};

const typeClash = (error: unknown): boolean =>
  (error as { code?: number }).code === 406 && /x-queue-type/.test(String((error as Error).message));

/**
 * The type `queue` has: quorum when it does not exist yet (it will be declared so), else what it was
 * declared as. Asks on channels of its own, which the broker closes on a miss or a type clash; never
 * creates the queue (an unbound queue would take no events until the consumer binds it).
 */
export async function existingQueueType(connection: ChannelModel, queue: string): Promise<QueueType> {
  const probe = async <T>(ask: (channel: Channel) => Promise<T>): Promise<T> => {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined); // expected when the broker refuses: the channel is closed
    const answer = await ask(channel);
    await channel.close();
    return answer;
  };
  try {
    await probe((channel) => channel.checkQueue(queue));
  } catch (error) {
    if ((error as { code?: number }).code === 404) return 'quorum';
    throw error;
  }
  try {
    await probe((channel) =>
      channel.assertQueue(queue, { durable: true, arguments: queueTypeArguments('quorum') }),
    );
    return 'quorum';
  } catch (error) {
    if (typeClash(error)) return 'classic';
    throw error;
  }
}

export interface ConsumerTopology {
  exchange: string;
  /** `<service>.<purpose>`, e.g. `mailer.account-mails`. */
  queue: string;
  /** Routing keys (event types); topic wildcards `*` and `#` allowed. */
  bindings: readonly string[];
  retryDelaysMs: readonly number[];
  /** Every queue of the topology gets this type (default quorum). */
  queueType?: QueueType;
}

export interface TopologyNames {
  queue: string;
  /** One per distinct delay, in the order of `retryDelaysMs`. */
  retryQueues: { delayMs: number; name: string }[];
  deadLetterQueue: string;
}

const queueName = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)+$/;

export function assertQueueName(name: string): string {
  if (!queueName.test(name)) {
    throw new Error(`Queue name must look like <service>.<purpose> (lowercase): ${JSON.stringify(name)}`);
  }
  return name;
}

export function formatDelay(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${formatDelay(delayMs)}`;
}

export function topologyNames(queue: string, retryDelaysMs: readonly number[]): TopologyNames {
  const delays = [...new Set(retryDelaysMs)];
  return {
    queue,
    retryQueues: delays.map((delayMs) => ({ delayMs, name: retryQueueName(queue, delayMs) })),
    deadLetterQueue: `${queue}.dead`,
  };
}

export function assertRetryDelays(delaysMs: readonly number[]): readonly number[] {
  if (delaysMs.length === 0) throw new Error('retryDelaysMs must hold at least one delay');
  for (const delay of delaysMs) {
    if (!Number.isInteger(delay) || delay <= 0) throw new Error(`Not a retry delay in ms: ${delay}`);
  }
  return delaysMs;
}

export async function declareExchange(channel: Channel, exchange: string): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: true });
}

/**
 * The main queue bound to its event types; a TTL'd queue per retry delay that dead-letters back to the
 * main queue through the default exchange (so a retry reaches only this consumer, not every queue bound
 * to the event type); and a dead-letter queue nothing reads automatically.
 */
export async function declareConsumerTopology(
  channel: Channel,
  topology: ConsumerTopology,
): Promise<TopologyNames> {
  const names = topologyNames(assertQueueName(topology.queue), assertRetryDelays(topology.retryDelaysMs));
  const type = queueTypeArguments(topology.queueType ?? defaultQueueType);
  await declareExchange(channel, topology.exchange);
  await channel.assertQueue(names.queue, { durable: true, arguments: type });
  for (const key of topology.bindings) await channel.bindQueue(names.queue, topology.exchange, key);
  for (const retry of names.retryQueues) {
    await channel.assertQueue(retry.name, {
      durable: true,
      arguments: {
        ...type,
        'x-message-ttl': retry.delayMs,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': names.queue,
      },
    });
  }
  await channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: type });
  return names;
}

/**
 * Deletes queues (with their messages) and exchanges: for retiring a consumer, and for tests and
 * benchmarks cleaning up after themselves.
 */
export async function deleteTopology(
  connection: BusConnection,
  names: { queues?: readonly string[]; exchanges?: readonly string[] },
): Promise<void> {
  const channel = await connection.openChannel({ name: 'topology-admin', setup: async () => undefined });
  try {
    for (const queue of names.queues ?? []) await channel.deleteQueue(queue);
    for (const exchange of names.exchanges ?? []) {
      await channel.deleteExchange(exchange);
      await channel.deleteQueue(unroutedQueueName(exchange));
    }
  } finally {
    await channel.close();
  }
}
