/**
 * One AMQP connection that survives broker restarts and forced closes (amqp-connection-manager), named
 * so an operator sees in `rabbitmqctl list_connections` which component holds it, and channels whose
 * setup (topology, consumers) runs again on every reconnect.
 */
import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { unavailable } from '@veche/errors';
import type { Logger } from '@veche/log';
import { existingQueueType, type QueueType } from './topology.ts';

export interface BusConnectionOptions {
  url: string;
  /** Shown as the connection's `connection_name`, e.g. `mailer:consumer:<hostname>`. */
  name: string;
  log: Logger;
  /**
   * Heartbeat interval, and the delay between reconnect attempts (default 15 s and 1 s). The broker
   * drops a connection after two silent intervals: 15 s finds a silently dead peer within 30 s (a
   * refused or reset connection is seen at once) and rides out an event loop held up for seconds on a
   * busy host, which at 5 s cost connections and their in-flight confirms.
   */
  heartbeatSeconds?: number;
  reconnectSeconds?: number;
  /** How long start() waits for the first connection (default 10 s). */
  connectTimeoutMs?: number;
}

export interface OpenChannelOptions {
  name: string;
  /** Runs on each new underlying channel, before any publish goes out on it. */
  setup: (channel: ConfirmChannel) => Promise<void>;
  /** Publishes not confirmed within this time fail (default 30 s). */
  publishTimeoutMs?: number;
  /** How long to wait for the first setup to succeed (default 10 s). */
  setupTimeoutMs?: number;
}

export interface BusConnection {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * A confirm channel recreated after every reconnect, and after a channel-only failure. Resolves once
   * the first setup has succeeded; rejects (and closes the channel) if it fails, so a topology that
   * clashes with the broker's stops start-up instead of looping through reconnects.
   */
  openChannel(options: OpenChannelOptions): Promise<ChannelWrapper>;
  isConnected(): boolean;
  /** The type of `queue` on the broker; a queue that does not exist yet is declared quorum. */
  queueTypeOf(queue: string): Promise<QueueType>;
}

export function createBusConnection(options: BusConnectionOptions): BusConnection {
  const log = options.log.child({ component: 'bus-connection', connection: options.name });
  let manager: AmqpConnectionManager | undefined;
  let stopping = false;

  const requireManager = (): AmqpConnectionManager => {
    if (!manager) throw new Error(`Bus connection ${options.name} is not started`);
    return manager;
  };

  return {
    name: options.name,
    isConnected: () => manager?.isConnected() ?? false,

    async queueTypeOf(queue) {
      const model = requireManager().connection;
      if (!model) throw unavailable(`RabbitMQ is not connected (${options.name})`);
      return existingQueueType(model, queue);
    },

    async start() {
      if (manager) return;
      stopping = false;
      const heartbeat = options.heartbeatSeconds ?? 15;
      const created = amqp.connect([options.url], {
        heartbeatIntervalInSeconds: heartbeat,
        reconnectTimeInSeconds: options.reconnectSeconds ?? 1,
        connectionOptions: { clientProperties: { connection_name: options.name } },
      });
      manager = created;
      created.on('connect', () => log.info('connected to RabbitMQ'));
      created.on('disconnect', ({ err }) => {
        if (!stopping) log.warn({ err }, 'RabbitMQ connection lost; reconnecting');
      });
      created.on('connectFailed', ({ err }) => log.warn({ err }, 'RabbitMQ connection attempt failed'));
      created.on('blocked', ({ reason }) => log.warn({ reason }, 'RabbitMQ blocked the connection'));
      created.on('unblocked', () => log.info('RabbitMQ unblocked the connection'));
      try {
        await created.connect({ timeout: options.connectTimeoutMs ?? 10_000 });
      } catch (error) {
        manager = undefined;
        await created.close().catch(() => undefined);
        throw unavailable(`RabbitMQ is unreachable (${options.name})`, { cause: error });
      }
    },

    async stop() {
      stopping = true;
      const current = manager;
      manager = undefined;
      await current?.close();
    },

    async openChannel(channelOptions) {
      const connection = requireManager();
      const channelLog = log.child({ channel: channelOptions.name });
      let closedByOwner = false;
      const firstSetup = Promise.withResolvers<void>();
      let firstSettled = false;
      const settleFirst = (error?: unknown): void => {
        if (firstSettled) return;
        firstSettled = true;
        if (error === undefined) firstSetup.resolve();
        else
          firstSetup.reject(
            error instanceof Error ? error : new Error('channel setup failed', { cause: error }),
          );
      };
      const wrapper = connection.createChannel({
        name: channelOptions.name,
        confirm: true,
        publishTimeout: channelOptions.publishTimeoutMs ?? 30_000,
        setup: async (channel: Channel) => {
          // amqp-connection-manager opens a new channel only when the connection comes back. A channel
          // the broker closes on its own (a precondition failure, an unknown delivery tag) would leave
          // the wrapper dead on a live connection, so a lone channel failure forces a reconnect.
          const model: ChannelModel | undefined = connection.connection;
          channel.on('error', (err: Error) => channelLog.warn({ err }, 'channel error'));
          channel.on('close', () => {
            setTimeout(() => {
              if (stopping || closedByOwner || manager !== connection) return;
              if (connection.connection !== undefined && connection.connection === model) {
                channelLog.warn('channel closed on a live connection; reconnecting');
                connection.reconnect();
              }
            }, 100).unref();
          });
          try {
            await channelOptions.setup(channel as ConfirmChannel);
            settleFirst();
          } catch (error) {
            settleFirst(error);
            throw error;
          }
        },
      });
      wrapper.on('error', (err: Error) => channelLog.error({ err }, 'channel setup failed'));
      wrapper.once('close', () => {
        closedByOwner = true;
      });
      const timeoutMs = channelOptions.setupTimeoutMs ?? 10_000;
      const timer = setTimeout(
        () =>
          settleFirst(unavailable(`RabbitMQ channel ${channelOptions.name} not ready after ${timeoutMs} ms`)),
        timeoutMs,
      );
      try {
        await firstSetup.promise;
      } catch (error) {
        await wrapper.close().catch(() => undefined);
        throw error;
      } finally {
        clearTimeout(timer);
      }
      return wrapper;
    },
  };
}
