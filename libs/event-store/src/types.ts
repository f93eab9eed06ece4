/**
 * The event store's public contract. Other libraries (bus, wamp) and every service code against these
 * types; the implementation lives beside this file.
 */
import type { Database, Transaction } from '@veche/db';
import type { Logger } from '@veche/log';

/** Carried by every event (design: "Event sourcing"). */
export interface EventMetadata {
  /** UUID v7, unique across the fleet; also the RabbitMQ message id and the inbox key. */
  eventId: string;
  /** ISO 8601 time the command that caused the event was decided. */
  occurredAt: string;
  /** Who caused it: a user id, `service:<name>` or `system`. */
  actor: string;
  correlationId: string;
  /** The id of the message (request, event) that caused this event. */
  causationId: string;
  [key: string]: unknown;
}

export interface NewEvent<Data = unknown> {
  type: string;
  data: Data;
  /** Fields not given are filled: eventId (v7), occurredAt (now), and the append's context. */
  metadata?: Partial<EventMetadata>;
}

export interface RecordedEvent<Data = unknown> {
  eventId: string;
  type: string;
  streamId: string;
  /** 1 for a stream's first event. */
  streamVersion: number;
  /** Order of insertion across all streams; not commit order (see Checkpoint). */
  globalPosition: number;
  /** The PostgreSQL transaction (xid8, as decimal text) that wrote the event. */
  transactionId: string;
  data: Data;
  metadata: EventMetadata;
  recordedAt: Date;
}

/**
 * `number`: the stream's current version must be exactly this (0 = the stream has no events);
 * `no_stream` = 0; `exists`: at least one event; `any`: no check.
 */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'exists';

/**
 * A position in the commit-safe order of the whole log: events are read ordered by
 * (transactionId, globalPosition), and only from transactions older than every transaction still
 * running, so an event that commits later can never land behind a reader's checkpoint.
 */
export interface Checkpoint {
  transactionId: string;
  globalPosition: number;
}

export interface AppendContext {
  actor?: string;
  correlationId?: string;
  causationId?: string;
}

export interface AppendOptions extends AppendContext {
  /** Default `any`. A mismatch fails with VecheError('conflict') with details {streamId, expected, actual}. */
  expectedVersion?: ExpectedVersion;
  /**
   * Append inside the caller's transaction (to write other rows atomically with the events). Without
   * it, appends from concurrent callers are group-committed: several share one transaction.
   */
  trx?: Transaction<unknown>;
}

export interface AppendResult {
  /** The stream's version after the append. */
  nextVersion: number;
  events: RecordedEvent[];
}

export interface ReadStreamOptions {
  /** First version to return (default 1). */
  fromVersion?: number;
  limit?: number;
}

export interface ReadAllResult {
  events: RecordedEvent[];
  /** Where the next read continues; equal to the input when nothing new is committed. */
  checkpoint: Checkpoint;
  /**
   * Committed events after the checkpoint (of the types asked for) that are not readable yet: a
   * transaction older than theirs, anywhere in the cluster, still runs. Read again soon.
   */
  pending: boolean;
}

/**
 * Updated in the same transaction as the append, so the API can read it right after the write. A
 * projection that throws fails the append. Every one can be rebuilt from the log (`reset`, then
 * every event through `apply`: `rebuildReadModels`, `bin/rebuild-read-models.ts`).
 */
export interface InlineProjection {
  name: string;
  /** Only these event types reach `apply`; all when omitted. */
  eventTypes?: readonly string[];
  apply(trx: Transaction<unknown>, events: readonly RecordedEvent[]): Promise<void>;
  /** Empties what `apply` writes, before a rebuild replays the log (in the rebuild's transaction). */
  reset(trx: Transaction<unknown>): Promise<void>;
}

export interface EventStore {
  append(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** The stream's current version (0 when it has no events). */
  streamVersion(streamId: string): Promise<number>;
  /** Commit-safe: every committed event after `after`, exactly once across successive calls. */
  readAll(
    after: Checkpoint,
    options?: { limit?: number; eventTypes?: readonly string[] },
  ): Promise<ReadAllResult>;
  close(): Promise<void>;
}

export interface EventStoreOptions {
  database: Database<unknown>;
  log: Logger;
  inlineProjections?: readonly InlineProjection[];
  /** Group commit: most appends per transaction (default 256). */
  maxBatchSize?: number;
  /** Group commit: most events per transaction, unless a single append has more (default 10,000). */
  maxBatchEvents?: number;
  /**
   * Group commit: batches written at once, each on its own pooled connection (default 2). While one
   * batch waits for its commit to reach disk, the next executes; PostgreSQL flushes both together.
   */
  maxConcurrentBatches?: number;
}

/**
 * Delivery of the log to one consumer (a relay, an async projection) with a named, persistent
 * checkpoint. Runs in exactly one process at a time per name (PostgreSQL advisory lock); the others
 * wait and take over within seconds when the holder dies.
 */
export interface SubscriptionOptions {
  /** Unique per consumer within the schema: the checkpoint's and the lock's key. */
  name: string;
  database: Database<unknown>;
  store: EventStore;
  log: Logger;
  eventTypes?: readonly string[];
  /**
   * `transactional`: `handle` receives the transaction that also saves the checkpoint (effects in
   * PostgreSQL happen exactly once). `at-least-once`: the checkpoint is saved after `handle` resolves
   * (effects elsewhere, such as RabbitMQ or WAMP publishes; a crash in between repeats them).
   */
  mode: 'transactional' | 'at-least-once';
  handle(events: readonly RecordedEvent[], trx: Transaction<unknown> | undefined): Promise<void>;
  batchSize?: number;
  /** How often to look for new events when no notification arrives (default 500 ms). */
  pollIntervalMs?: number;
  /** How often a standby tries to take the lock (default 1000 ms). */
  leaseRetryMs?: number;
}

export interface Subscription {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly isLeader: boolean;
  /** The persisted checkpoint. */
  checkpoint(): Promise<Checkpoint>;
  /**
   * About how many events of the log lie past the checkpoint (the last position less the checkpoint's;
   * positions rolled back leave gaps, so it can overstate by a few). For the relay-lag metric.
   */
  lag(): Promise<number>;
}
