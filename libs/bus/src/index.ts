export { createBusConnection, type BusConnection, type BusConnectionOptions } from './connection.ts';
export {
  createConsumer,
  type BatchHandler,
  type Consumer,
  type ConsumerHandler,
  type ConsumerSettings,
  type DeliveredEvent,
  type ConsumerOptions,
  type ConsumerStats,
  type EventHandler,
  type MessageContext,
} from './consumer.ts';
export { busMigrations, pruneInbox, recordInInbox } from './inbox.ts';
export {
  decodeEntries,
  decodeMessage,
  encodeEvent,
  headers,
  type AttemptRecord,
  type DecodeResult,
  type IntegrationEvent,
  type IntegrationEventMetadata,
} from './message.ts';
export { createOutboxRelay, toIntegrationEvent, type OutboxRelay, type OutboxRelayOptions } from './relay.ts';
export {
  createPublisher,
  unroutedQueueName,
  unroutedRoutingKeyHeader,
  type Publisher,
  type PublisherOptions,
} from './publisher.ts';
export { replayUnrouted, type ReplayResult, type ReplayUnroutedOptions } from './unrouted.ts';
export { migrateToQuorum, type MigrateToQuorumOptions, type MigrateToQuorumResult } from './migrate.ts';
export {
  declareConsumerTopology,
  declareExchange,
  defaultQueueType,
  deleteTopology,
  existingQueueType,
  defaultExchange,
  defaultRetryDelaysMs,
  retryQueueName,
  topologyNames,
  type ConsumerTopology,
  type QueueType,
  type TopologyNames,
} from './topology.ts';
