/**
 * Consumes one queue of integration events into PostgreSQL: each delivered batch is handled in one
 * transaction that also records the message ids in the inbox, and acknowledged only after the commit.
 * A handler failure sends the message round the retry queues with growing delay, then to the
 * dead-letter queue; a message that cannot be decoded goes to the dead-letter queue at once. Neither
 * holds up the messages behind it.
 */
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, ConsumeMessage, MessageProperties, Options } from 'amqplib';
import { sql, type Database, type Transaction } from '@veche/db';
import { inSpan, SpanKind, traceIdOf, traceIdOfCarrier, withCorrelationId, type Logger } from '@veche/log';
import { isVecheError } from '@veche/errors';
import { consumerMessages, consumerRedeliveries } from '@veche/metrics';
import type { BusConnection } from './connection.ts';
import { recordInInbox } from './inbox.ts';
import {
  appendHistory,
  attemptsOf,
  batchContentType,
  decodeEntries,
  describeError,
  headers,
  historyOf,
  retryDelayFor,
  type AttemptRecord,
  type DecodedEntry,
  type IntegrationEvent,
} from './message.ts';
import {
  declareConsumerTopology,
  defaultExchange,
  defaultRetryDelaysMs,
  retryQueueName,
  topologyNames,
  type QueueType,
  type TopologyNames,
} from './topology.ts';

export interface MessageContext {
  messageId: string;
  /** 1 on first delivery, 2 after one failure, … */
  attempt: number;
  /** The routing key the event was published with. */
  routingKey: string;
  log: Logger;
}

export type EventHandler = (
  event: IntegrationEvent,
  trx: Transaction<unknown>,
  context: MessageContext,
) => Promise<void>;

/** An event with its delivery's context, as a batch handler receives it. */
export interface DeliveredEvent {
  event: IntegrationEvent;
  context: MessageContext;
}

/**
 * Handles a batch of events the inbox has not seen, in one transaction. Faster than one statement per
 * event; if it throws, the consumer calls it again with one event at a time to find the culprit.
 */
export type BatchHandler = (
  deliveries: readonly DeliveredEvent[],
  trx: Transaction<unknown>,
) => Promise<void>;

/** Exactly one of the two: a handler per event, or one per batch. */
export type ConsumerHandler =
  { handle: EventHandler; handleBatch?: never } | { handleBatch: BatchHandler; handle?: never };

export type ConsumerOptions = ConsumerSettings & ConsumerHandler;

export interface ConsumerSettings {
  connection: BusConnection;
  /** The service's database: the handler's transaction and the inbox live there. */
  database: Database<unknown>;
  log: Logger;
  /** `<service>.<purpose>`: the queue's name and the inbox's consumer name. */
  queue: string;
  /** Event types (routing keys) to receive; `*` and `#` wildcards allowed. */
  bindings: readonly string[];
  /** Default `veche.events`. */
  exchange?: string;
  /** Delay before each retry (default 1 s, 5 s, 30 s, 2 min, 10 min); the last repeats if needed. */
  retryDelaysMs?: readonly number[];
  /**
   * The queues' type. Default: quorum for a new queue, and whatever the queue already is otherwise
   * (a classic queue from an earlier version keeps working, with a warning, until migrated).
   */
  queueType?: QueueType;
  /** Attempts before the dead-letter queue (default: one more than the retry delays). */
  maxAttempts?: number;
  /** Unacknowledged deliveries RabbitMQ may send ahead (default 512). */
  prefetch?: number;
  /** Most events handled in one transaction (default 128; a batch message counts its events). */
  batchSize?: number;
  /**
   * Pause before a message that could not be retried or dead-lettered goes back to the queue, and
   * before consuming again after the broker cancelled the consumer (default 2 s).
   */
  redeliveryDelayMs?: number;
  /** Pause before redelivering when PostgreSQL itself fails, rather than a handler (default 1 s). */
  infrastructureBackoffMs?: number;
}

export interface ConsumerStats {
  /** Messages whose handler committed (first time only). */
  handled: number;
  /** Messages the inbox had already seen: acknowledged without running the handler. */
  duplicates: number;
  retried: number;
  deadLettered: number;
}

export interface Consumer {
  start(): Promise<void>;
  /** Stops receiving, finishes and acknowledges the messages already delivered, closes the channel. */
  stop(): Promise<void>;
  readonly names: TopologyNames;
  stats(): ConsumerStats;
}

interface ChannelState {
  channel: ConfirmChannel;
  open: boolean;
  consumerTag: string | undefined;
  /**
   * Set once a message is deliberately left unacknowledged (its retry could not be published): from
   * then on a cumulative ack could cover it, so this channel acks one message at a time.
   */
  leftUnacked: boolean;
}

/** A delivery remembers its channel: a delivery tag means nothing on the channel that replaced it. */
interface Delivery {
  message: ConsumeMessage;
  channel: ChannelState;
  /** Events it carries (a batch message carries several), from its header; for sizing transactions. */
  eventCount: number;
  settlement: Settlement;
}

/**
 * A delivery is acknowledged once every event it carries is settled (handled, retried or
 * dead-lettered on its own); if any of them must come again, the whole delivery is requeued and the
 * inbox absorbs the events already handled.
 */
interface Settlement {
  remaining: number;
  outcome: 'ack' | 'requeue-later' | 'requeue-now';
  done: boolean;
}

/** What goes onwards (retry, dead letter) for one event: its own message, not its batch's. */
interface Outgoing {
  delivery: Delivery;
  content: Buffer;
  properties: MessageProperties;
}

interface DecodedDelivery extends Outgoing {
  event: IntegrationEvent;
  messageId: string;
  /** Failures so far. */
  attempts: number;
}

/**
 * Where an event's trace context comes from: the message's `traceparent` header (the relay's publish
 * span) when it belongs to the event's own trace, else the event's metadata (the append's span). A
 * packed message's header is its first event's; the others' traces differ and keep their metadata.
 */
function traceCarrierOf(item: DecodedDelivery): Record<string, unknown> {
  const header: unknown = item.properties.headers?.['traceparent'];
  const { metadata } = item.event;
  if (typeof header !== 'string') return metadata;
  const eventTrace = traceIdOfCarrier(metadata) ?? traceIdOf(metadata.correlationId);
  return traceIdOfCarrier({ traceparent: header }) === eventTrace ? { traceparent: header } : metadata;
}

/** The properties one event of a delivery travels on if sent onwards alone. */
function entryProperties(delivery: Delivery, entry: DecodedEntry): MessageProperties {
  const properties = delivery.message.properties;
  if (properties.contentType !== batchContentType) return properties;
  const { [headers.events]: _count, ...rest } = properties.headers ?? {};
  const event = entry.ok ? entry.event : undefined;
  return {
    ...properties,
    contentType: 'application/json',
    messageId: entry.messageId,
    type: event?.type ?? (properties.type as unknown),
    correlationId: event?.metadata.correlationId ?? (properties.correlationId as unknown),
    headers: event
      ? {
          ...rest,
          [headers.correlationId]: event.metadata.correlationId,
          [headers.causationId]: event.metadata.causationId,
        }
      : rest,
  };
}

function eventCountOf(message: ConsumeMessage): number {
  const value = Number(message.properties.headers?.[headers.events]);
  return message.properties.contentType === batchContentType && Number.isInteger(value) && value > 0
    ? value
    : 1;
}

/** A failure of the handler's code, as opposed to PostgreSQL or RabbitMQ failing under it. */
class HandlerFailure extends Error {
  readonly item: DecodedDelivery | undefined;
  constructor(item: DecodedDelivery | undefined, cause: unknown) {
    super(describeError(cause), { cause });
    this.name = 'HandlerFailure';
    this.item = item;
  }
}

const brokerDeathHeaders = /^x-(death|first-death-|last-death-)/;
const confirmTimeoutMs = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function createConsumer(options: ConsumerOptions): Consumer {
  const exchange = options.exchange ?? defaultExchange;
  const retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const maxAttempts = options.maxAttempts ?? retryDelaysMs.length + 1;
  const prefetch = options.prefetch ?? 512;
  const batchSize = options.batchSize ?? 128;
  const redeliveryDelayMs = options.redeliveryDelayMs ?? 2_000;
  const backoffMs = options.infrastructureBackoffMs ?? 1_000;
  const names = topologyNames(options.queue, retryDelaysMs);
  const log = options.log.child({ component: 'bus-consumer', queue: options.queue });
  const stats: ConsumerStats = { handled: 0, duplicates: 0, retried: 0, deadLettered: 0 };

  let wrapper: ChannelWrapper | undefined;
  let current: ChannelState | undefined;
  let stopping = false;
  let buffer: Delivery[] = [];
  let draining: Promise<void> | undefined;

  function rawAck(delivery: Delivery): void {
    if (!delivery.channel.open) return; // redelivered on the next channel; the inbox absorbs it
    try {
      delivery.channel.channel.ack(delivery.message);
    } catch (error) {
      log.warn({ err: error }, 'ack failed; the message will be redelivered');
    }
  }

  /**
   * A message we could neither handle nor route onwards (the broker refused the retry or dead-letter
   * publish, or the batch failed unexpectedly): it goes back to the queue after a pause. Left unacked
   * on a live channel it would never come back, and the prefetch window would fill with such messages
   * until the consumer stalled. A later cumulative ack must not cover it meanwhile.
   */
  function rawRedeliverLater(delivery: Delivery): void {
    delivery.channel.leftUnacked = true;
    const timer = setTimeout(() => {
      if (!delivery.channel.open) return; // the next channel gets it anyway
      try {
        delivery.channel.channel.nack(delivery.message, false, true);
      } catch (error) {
        log.warn({ err: error }, 'requeue failed; the message comes back with the next channel');
      }
    }, redeliveryDelayMs);
    timer.unref();
  }

  function rawNack(delivery: Delivery): void {
    if (!delivery.channel.open) return;
    try {
      delivery.channel.channel.nack(delivery.message, false, true);
    } catch (error) {
      log.warn({ err: error }, 'nack failed; the message will be redelivered');
    }
  }

  /** One event of `delivery` is settled; the delivery is acked (or requeued) with its last event. */
  function settle(delivery: Delivery, how: Settlement['outcome']): void {
    const settlement = delivery.settlement;
    if (settlement.done) return;
    if (how === 'requeue-now' || (how === 'requeue-later' && settlement.outcome === 'ack'))
      settlement.outcome = how;
    settlement.remaining -= 1;
    if (settlement.remaining > 0) return;
    settlement.done = true;
    if (settlement.outcome === 'ack') rawAck(delivery);
    else if (settlement.outcome === 'requeue-now') rawNack(delivery);
    else rawRedeliverLater(delivery);
  }

  const ack = (item: Outgoing): void => settle(item.delivery, 'ack');
  const nack = (item: Outgoing): void => settle(item.delivery, 'requeue-now');
  const redeliverLater = (item: Outgoing): void => settle(item.delivery, 'requeue-later');

  /**
   * Batches are settled in delivery order, so once a batch commits every earlier delivery on its
   * channel is settled too: one cumulative ack covers the batch, when it holds every event of each
   * of its deliveries.
   */
  function ackBatch(items: readonly DecodedDelivery[]): void {
    const counts = new Map<Delivery, number>();
    for (const item of items) counts.set(item.delivery, (counts.get(item.delivery) ?? 0) + 1);
    const deliveries = [...counts.keys()];
    const last = deliveries.at(-1);
    if (!last) return;
    const whole = deliveries.every(
      (delivery) =>
        !delivery.settlement.done &&
        delivery.settlement.outcome === 'ack' &&
        delivery.settlement.remaining === counts.get(delivery) &&
        delivery.channel === last.channel,
    );
    if (!whole || last.channel.leftUnacked) {
      for (const item of items) ack(item);
      return;
    }
    for (const delivery of deliveries) {
      delivery.settlement.remaining = 0;
      delivery.settlement.done = true;
    }
    if (!last.channel.open) return;
    try {
      last.channel.channel.ack(last.message, true);
    } catch (error) {
      log.warn({ err: error }, 'ack failed; the messages will be redelivered');
    }
  }

  function sendConfirmed(outgoing: Outgoing, queue: string, options: Options.Publish): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('publish confirm timed out')), confirmTimeoutMs);
      try {
        outgoing.delivery.channel.channel.sendToQueue(queue, outgoing.content, options, (err: unknown) => {
          clearTimeout(timer);
          if (err)
            reject(err instanceof Error ? err : new Error('publish refused by RabbitMQ', { cause: err }));
          else resolve();
        });
      } catch (error) {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error('publish failed', { cause: error }));
      }
    });
  }

  /** The original message's properties, with the broker's own dead-letter bookkeeping left out. */
  function forwardedProperties(outgoing: Outgoing, extra: Record<string, unknown>): Options.Publish {
    const { properties } = outgoing;
    const { fields } = outgoing.delivery.message;
    const kept: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(properties.headers ?? {})) {
      if (!brokerDeathHeaders.test(key)) kept[key] = value;
    }
    const publish: Options.Publish = {
      persistent: true,
      headers: {
        ...kept,
        [headers.routingKey]: kept[headers.routingKey] ?? fields.routingKey,
        ...extra,
      },
    };
    const { messageId, type, contentType, correlationId, timestamp } = properties as unknown as Record<
      string,
      unknown
    >;
    if (typeof messageId === 'string') publish.messageId = messageId;
    if (typeof type === 'string') publish.type = type;
    if (typeof contentType === 'string') publish.contentType = contentType;
    if (typeof correlationId === 'string') publish.correlationId = correlationId;
    if (typeof timestamp === 'number') publish.timestamp = timestamp;
    return publish;
  }

  async function deadLetter(
    outgoing: Outgoing,
    reason: 'invalid' | 'rejected' | 'max-attempts',
    error: string,
    history: AttemptRecord[],
  ): Promise<void> {
    const attempts = attemptsOf(outgoing.properties.headers);
    const attemptCount = reason === 'max-attempts' ? history.length : attempts;
    try {
      await sendConfirmed(
        outgoing,
        names.deadLetterQueue,
        forwardedProperties(outgoing, {
          [headers.deadReason]: reason,
          [headers.error]: error,
          [headers.consumer]: options.queue,
          [headers.attempts]: attemptCount,
          [headers.history]: JSON.stringify(history),
        }),
      );
    } catch (publishError) {
      log.warn({ err: publishError }, 'could not dead-letter a message; it will be redelivered');
      redeliverLater(outgoing);
      return;
    }
    stats.deadLettered += 1;
    consumerMessages.inc({ queue: options.queue, outcome: 'dead_lettered' });
    log.warn(
      { messageId: outgoing.properties.messageId as unknown, reason, error },
      'message sent to the dead-letter queue',
    );
    ack(outgoing);
  }

  async function failed(item: DecodedDelivery, error: unknown): Promise<void> {
    const attempts = item.attempts + 1;
    const record: AttemptRecord = {
      attempt: attempts,
      error: describeError(error),
      at: new Date().toISOString(),
    };
    const history = [...historyOf(item.properties.headers), record];
    const itemLog = log.child({
      messageId: item.messageId,
      correlationId: item.event.metadata.correlationId,
    });
    // The handler says the message itself is wrong (a payload its schema refuses): no retry can
    // help, so it goes to the dead-letter queue now instead of after every retry delay.
    if (isVecheError(error, 'validation')) {
      itemLog.error({ err: error }, 'handler rejected the message as invalid');
      await deadLetter(item, 'rejected', record.error, history);
      return;
    }
    if (attempts >= maxAttempts) {
      itemLog.error({ err: error, attempts }, 'handler failed for the last time');
      await deadLetter(item, 'max-attempts', record.error, history);
      return;
    }
    const delayMs = retryDelayFor(attempts, retryDelaysMs);
    try {
      await sendConfirmed(
        item,
        retryQueueName(options.queue, delayMs),
        forwardedProperties(item, {
          [headers.attempts]: attempts,
          [headers.history]: appendHistory(historyOf(item.properties.headers), record),
        }),
      );
    } catch (publishError) {
      itemLog.warn({ err: publishError }, 'could not schedule a retry; the message will be redelivered');
      redeliverLater(item);
      return;
    }
    stats.retried += 1;
    consumerMessages.inc({ queue: options.queue, outcome: 'retried' });
    itemLog.warn({ err: error, attempts, delayMs }, 'handler failed; retrying later');
    ack(item);
  }

  function delivered(item: DecodedDelivery): DeliveredEvent {
    const { correlationId } = item.event.metadata;
    let itemLog: Logger | undefined;
    return {
      event: item.event,
      context: {
        messageId: item.messageId,
        attempt: item.attempts + 1,
        routingKey:
          (item.properties.headers?.[headers.routingKey] as string | undefined) ??
          item.delivery.message.fields.routingKey,
        // Made on first use: a child logger per message costs more than handling most messages.
        get log() {
          itemLog ??= log.child({ messageId: item.messageId, correlationId, type: item.event.type });
          return itemLog;
        },
      },
    };
  }

  async function handleInTransaction(items: readonly DecodedDelivery[]): Promise<void> {
    const handled = await options.database.db.transaction().execute(async (trx) => {
      const fresh = await recordInInbox(
        trx,
        options.queue,
        items.map((item) => item.messageId),
      );
      const unseen: DecodedDelivery[] = [];
      // delete(): a second copy of an id within the batch is a duplicate too.
      for (const item of items) if (fresh.delete(item.messageId)) unseen.push(item);
      if (options.handleBatch) {
        if (unseen.length > 0) {
          try {
            // One span for the batch: a child of the events' trace when they share one (one request's
            // events), else a trace of its own; linked to every event's context either way.
            const carriers = unseen.map(traceCarrierOf);
            const traces = new Set(carriers.map((carrier) => traceIdOfCarrier(carrier)));
            const shared = traces.size === 1 && !traces.has(undefined);
            await inSpan(
              `consume ${options.queue}`,
              {
                kind: SpanKind.CONSUMER,
                carrier: shared ? carriers[0] : undefined,
                correlationId: shared ? unseen[0]!.event.metadata.correlationId : undefined,
                links: carriers,
                attributes: {
                  'messaging.system': 'rabbitmq',
                  'messaging.destination.name': options.queue,
                  'messaging.batch.message_count': unseen.length,
                },
              },
              () => options.handleBatch(unseen.map(delivered), trx),
            );
          } catch (error) {
            throw new HandlerFailure(unseen.length === 1 ? unseen[0] : undefined, error);
          }
        }
      } else {
        for (const item of unseen) {
          try {
            // A span per event, continuing the trace of the request that appended it.
            await inSpan(
              `consume ${options.queue}`,
              {
                kind: SpanKind.CONSUMER,
                carrier: traceCarrierOf(item),
                correlationId: item.event.metadata.correlationId,
                attributes: {
                  'messaging.system': 'rabbitmq',
                  'messaging.destination.name': options.queue,
                  'messaging.message.id': item.messageId,
                  'veche.event_type': item.event.type,
                },
              },
              () =>
                withCorrelationId(item.event.metadata.correlationId, () =>
                  options.handle(item.event, trx, delivered(item).context),
                ),
            );
          } catch (error) {
            throw new HandlerFailure(item, error);
          }
        }
      }
      try {
        // A handler that caught a PostgreSQL error leaves the transaction aborted, and COMMIT then
        // rolls back without an error: this statement fails instead, so nothing is acked unsaid.
        await sql`select 1`.execute(trx);
      } catch (error) {
        throw new HandlerFailure(items.length === 1 ? items[0] : undefined, error);
      }
      return unseen.length;
    });
    // Counted after the commit, so a reader of stats() finds the effects already visible.
    stats.handled += handled;
    stats.duplicates += items.length - handled;
    consumerMessages.inc({ queue: options.queue, outcome: 'handled' }, handled);
    consumerMessages.inc({ queue: options.queue, outcome: 'duplicate' }, items.length - handled);
  }

  async function handleOne(item: DecodedDelivery): Promise<void> {
    try {
      await handleInTransaction([item]);
      ack(item);
    } catch (error) {
      if (error instanceof HandlerFailure) {
        await failed(item, error.cause);
        return;
      }
      log.error({ err: error }, 'PostgreSQL failed under the consumer; redelivering after a pause');
      await sleep(backoffMs);
      nack(item);
    }
  }

  async function processBatch(deliveries: readonly Delivery[]): Promise<void> {
    const items: DecodedDelivery[] = [];
    for (const delivery of deliveries) {
      const entries = decodeEntries(delivery.message.content, delivery.message.properties);
      delivery.settlement.remaining = entries.length;
      for (const entry of entries) {
        const properties = entryProperties(delivery, entry);
        if (!entry.ok) {
          const outgoing = { delivery, content: entry.content, properties };
          await deadLetter(outgoing, 'invalid', entry.reason, historyOf(properties.headers));
          continue;
        }
        items.push({
          delivery,
          content: entry.content,
          properties,
          event: entry.event,
          messageId: entry.messageId,
          attempts: attemptsOf(properties.headers),
        });
      }
    }
    if (items.length === 0) return;
    if (items.length === 1) return handleOne(items[0]!);
    try {
      await handleInTransaction(items);
      ackBatch(items);
    } catch (error) {
      if (!(error instanceof HandlerFailure)) {
        log.error({ err: error }, 'PostgreSQL failed under the consumer; redelivering after a pause');
        await sleep(backoffMs);
        for (const item of items) nack(item);
        return;
      }
      // One bad message must not fail its neighbours: handle each alone, so only it retries.
      log.debug({ err: error.cause, batch: items.length }, 'batch failed; handling its messages one by one');
      for (const item of items) {
        if (item.delivery.channel.open) await handleOne(item);
      }
    }
  }

  /** Deliveries from the front of the buffer holding about `batchSize` events (at least one). */
  function takeDeliveries(): Delivery[] {
    let events = 0;
    let count = 0;
    while (count < buffer.length && (count === 0 || events + buffer[count]!.eventCount <= batchSize)) {
      events += buffer[count]!.eventCount;
      count += 1;
    }
    return buffer.splice(0, count);
  }

  async function drain(): Promise<void> {
    while (buffer.length > 0) {
      const batch = takeDeliveries().filter((delivery) => delivery.channel.open);
      if (batch.length === 0) continue;
      try {
        await processBatch(batch);
      } catch (error) {
        // Unacked messages come back after a reconnect; losing the loop would stall the queue. A later
        // cumulative ack must not cover them meanwhile.
        for (const delivery of batch) {
          if (delivery.settlement.done) continue;
          delivery.settlement.done = true;
          rawRedeliverLater(delivery);
        }
        log.error({ err: error }, 'unexpected failure while handling a batch');
      }
    }
  }

  function kick(): void {
    if (draining) return;
    draining = drain().finally(() => {
      draining = undefined;
      if (buffer.length > 0) kick();
    });
  }

  let warnedClassic = false;
  async function setup(channel: ConfirmChannel): Promise<void> {
    const queueType = options.queueType ?? (await options.connection.queueTypeOf(options.queue));
    if (queueType === 'classic' && !options.queueType && !warnedClassic) {
      warnedClassic = true;
      log.warn(
        { queueType },
        'classic queue (declared by an earlier version): it lives on one RabbitMQ node; move it to a quorum queue with node libs/bus/bin/migrate-to-quorum.ts (docs/operations.md)',
      );
    }
    await declareConsumerTopology(channel, {
      exchange,
      queue: options.queue,
      bindings: options.bindings,
      retryDelaysMs,
      queueType,
    });
    await channel.prefetch(prefetch);
    const state: ChannelState = { channel, open: true, consumerTag: undefined, leftUnacked: false };
    channel.on('close', () => {
      state.open = false;
      // What was delivered on this channel comes again on the next one.
      buffer = buffer.filter((delivery) => delivery.channel !== state);
    });
    current = state;
    if (stopping) return;
    const reply = await channel.consume(
      options.queue,
      (message) => {
        if (message === null) {
          // The broker cancelled us (the queue was deleted, or its node went away): declare the
          // topology again and consume anew, or this replica would sit idle for good.
          log.error('RabbitMQ cancelled the consumer (queue deleted?); consuming again shortly');
          state.consumerTag = undefined;
          const timer = setTimeout(() => {
            if (stopping || !state.open) return;
            setup(channel).catch((error: unknown) =>
              log.error({ err: error }, 'could not consume again after a cancel; waiting for a reconnect'),
            );
          }, redeliveryDelayMs);
          timer.unref();
          return;
        }
        if (stopping && !draining) return; // not acked: redelivered to another replica
        if (message.fields.redelivered) consumerRedeliveries.inc({ queue: options.queue });
        buffer.push({
          message,
          channel: state,
          eventCount: eventCountOf(message),
          settlement: { remaining: 1, outcome: 'ack', done: false },
        });
        kick();
      },
      { noAck: false },
    );
    state.consumerTag = reply.consumerTag;
    log.info({ prefetch, batchSize }, 'consuming');
  }

  return {
    names,
    stats: () => ({ ...stats }),

    async start() {
      if (wrapper) return;
      stopping = false;
      wrapper = await options.connection.openChannel({ name: `consumer:${options.queue}`, setup });
    },

    async stop() {
      if (!wrapper) return;
      stopping = true;
      const state = current;
      if (state?.open && state.consumerTag) {
        await state.channel.cancel(state.consumerTag).catch((error: unknown) => {
          log.warn({ err: error }, 'cancelling the consumer failed');
        });
      }
      await draining;
      const closing = wrapper;
      wrapper = undefined;
      current = undefined;
      await closing.close();
      log.info(stats, 'consumer stopped');
    },
  };
}
