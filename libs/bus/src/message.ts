/**
 * The wire format of an integration event on RabbitMQ, and the checks a consumer applies before a
 * message may reach a handler. Pure: no I/O, so the rules are unit-tested on their own.
 */
import type { MessageProperties, Options } from 'amqplib';

/** What travels: the event as the event store recorded it, minus the store's own bookkeeping. */
export interface IntegrationEvent<Data = unknown> {
  type: string;
  data: Data;
  metadata: IntegrationEventMetadata;
}

export interface IntegrationEventMetadata {
  /** Also the AMQP messageId and the inbox key. */
  eventId: string;
  occurredAt: string;
  actor: string;
  correlationId: string;
  causationId: string;
  [key: string]: unknown;
}

/** Headers the bus sets or reads; `x-veche-` ones are the retry and dead-letter bookkeeping. */
export const headers = {
  correlationId: 'correlationId',
  causationId: 'causationId',
  /** How many times a handler has failed on this message so far. */
  attempts: 'x-veche-attempts',
  /** JSON array of {attempt, error, at}: one entry per failed attempt. */
  history: 'x-veche-history',
  /** The routing key the message was first published with (retries go through the default exchange). */
  routingKey: 'x-veche-routing-key',
  /** Why the message is in the dead-letter queue: `invalid` or `max-attempts`. */
  deadReason: 'x-veche-dead-reason',
  /** The last error, in words. */
  error: 'x-veche-error',
  /** The consumer (queue) that gave up on the message. */
  consumer: 'x-veche-consumer',
  /** How many events a batch message holds. */
  events: 'x-veche-events',
} as const;

/**
 * The content type of a message that carries several events of one type (one routing key): RabbitMQ
 * spends about the same CPU on a message whatever its size, so the relay packs runs of events into
 * one message and the consumer unpacks them, keeping an inbox entry, a retry and a dead letter per
 * event. A single event still travels as a plain `application/json` message.
 */
export const batchContentType = 'application/vnd.veche.events+json';

export interface EncodedMessage {
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
}

export function encodeEvent(event: IntegrationEvent): EncodedMessage {
  const { type, data, metadata } = event;
  return {
    routingKey: type,
    content: Buffer.from(JSON.stringify({ type, data, metadata })),
    options: {
      persistent: true,
      messageId: metadata.eventId,
      type,
      contentType: 'application/json',
      correlationId: metadata.correlationId,
      timestamp: Math.floor(Date.now() / 1000),
      headers: {
        [headers.correlationId]: metadata.correlationId,
        [headers.causationId]: metadata.causationId,
        // W3C trace context of the append, for any consumer (ours read it from the metadata too).
        ...(typeof metadata['traceparent'] === 'string' ? { traceparent: metadata['traceparent'] } : {}),
      },
    },
  };
}

/**
 * One message for `events`, which must all have the same type. A batch's messageId is made from its
 * first event's id and its size; it names the message (for the unrouted queue), never an event: the
 * inbox keys on each event's own id.
 */
export function encodeEvents(events: readonly IntegrationEvent[]): EncodedMessage {
  const [first] = events;
  if (!first) throw new Error('encodeEvents needs at least one event');
  if (events.length === 1) return encodeEvent(first);
  if (events.some((event) => event.type !== first.type))
    throw new Error('A batch message holds events of one type only');
  const body = events.map(({ type, data, metadata }) => ({ type, data, metadata }));
  return {
    routingKey: first.type,
    content: Buffer.from(JSON.stringify({ events: body })),
    options: {
      persistent: true,
      messageId: `batch:${first.metadata.eventId}:${events.length}`,
      type: first.type,
      contentType: batchContentType,
      correlationId: first.metadata.correlationId,
      timestamp: Math.floor(Date.now() / 1000),
      headers: {
        [headers.correlationId]: first.metadata.correlationId,
        [headers.causationId]: first.metadata.causationId,
        ...(typeof first.metadata['traceparent'] === 'string'
          ? { traceparent: first.metadata['traceparent'] }
          : {}),
        [headers.events]: events.length,
      },
    },
  };
}

/**
 * Runs of consecutive events of the same type, each cut to at most `maxEvents` events and about
 * `maxBytes` of JSON: the messages a publish sends, in the order of the events. Only consecutive events
 * share a message, so every queue receives events in the order they were published.
 */
export function groupForPublish(
  events: readonly IntegrationEvent[],
  limits: { maxEvents: number; maxBytes: number },
): IntegrationEvent[][] {
  const groups: IntegrationEvent[][] = [];
  let current: IntegrationEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = JSON.stringify(event.data ?? null).length + 300;
    const fits =
      current.length > 0 &&
      current[0]!.type === event.type &&
      current.length < limits.maxEvents &&
      bytes + size <= limits.maxBytes;
    if (!fits && current.length > 0) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export type DecodeResult =
  | { ok: true; event: IntegrationEvent; messageId: string }
  | { ok: false; reason: string; messageId: string | undefined };

const requiredMetadata = ['eventId', 'occurredAt', 'actor', 'correlationId', 'causationId'] as const;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Checks one event's shape; the reason it is not an event, or undefined. */
function eventProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'body is not a JSON object';
  if (typeof body['type'] !== 'string' || body['type'] === '') return 'missing field: type';
  if (!('data' in body) || body['data'] === undefined) return 'missing field: data';
  const metadata = body['metadata'];
  if (!isObject(metadata)) return 'missing field: metadata';
  for (const field of requiredMetadata) {
    if (typeof metadata[field] !== 'string' || metadata[field] === '')
      return `missing field: metadata.${field}`;
  }
  return undefined;
}

/** One event of a message: decoded, or the reason it cannot be, with the JSON it came as. */
export type DecodedEntry =
  | { ok: true; event: IntegrationEvent; messageId: string; content: Buffer }
  | { ok: false; reason: string; messageId: string | undefined; content: Buffer };

/**
 * The events of a message: one for a plain message, each of a batch's otherwise. A batch that cannot
 * be read at all is one failed entry (the whole message goes to the dead-letter queue); a batch with
 * one malformed event fails that event alone. Each entry has its own JSON, what a retry or a dead
 * letter of that event alone carries.
 */
export function decodeEntries(
  content: Buffer,
  properties: Pick<MessageProperties, 'messageId' | 'contentType'>,
): DecodedEntry[] {
  if (properties.contentType !== batchContentType) {
    return [{ ...decodeMessage(content, properties), content }];
  }
  const messageId =
    typeof properties.messageId === 'string' && properties.messageId ? properties.messageId : undefined;
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch (error) {
    return [{ ok: false, reason: `malformed JSON: ${(error as Error).message}`, messageId, content }];
  }
  const events = isObject(body) ? body['events'] : undefined;
  if (!Array.isArray(events) || events.length === 0)
    return [{ ok: false, reason: 'a batch without events', messageId, content }];
  return events.map((entry: unknown): DecodedEntry => {
    const own = Buffer.from(JSON.stringify(entry));
    const problem = eventProblem(entry);
    if (problem !== undefined) return { ok: false, reason: problem, messageId: undefined, content: own };
    const event = entry as IntegrationEvent;
    return { ok: true, event, messageId: event.metadata.eventId, content: own };
  });
}

/**
 * A message a handler could not make sense of fails here, once, instead of failing the handler on
 * every retry: the consumer sends it straight to the dead-letter queue with `reason`.
 */
export function decodeMessage(
  content: Buffer,
  properties: Pick<MessageProperties, 'messageId'>,
): DecodeResult {
  const messageId =
    typeof properties.messageId === 'string' && properties.messageId ? properties.messageId : undefined;
  const fail = (reason: string): DecodeResult => ({ ok: false, reason, messageId });
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch (error) {
    return fail(`malformed JSON: ${(error as Error).message}`);
  }
  const problem = eventProblem(body);
  if (problem !== undefined) return fail(problem);
  const event = body as IntegrationEvent;
  if (messageId === undefined) return fail('missing messageId');
  if (event.metadata.eventId !== messageId) return fail('messageId differs from metadata.eventId');
  return {
    ok: true,
    messageId,
    event: { type: event.type, data: event.data, metadata: event.metadata },
  };
}

export interface AttemptRecord {
  attempt: number;
  error: string;
  at: string;
}

/** Bounded so a long history can never push the headers past AMQP's 64 KiB table limit. */
const maxErrorLength = 500;
const maxHistory = 20;

export function describeError(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > maxErrorLength ? `${text.slice(0, maxErrorLength)}…` : text;
}

export function attemptsOf(messageHeaders: Record<string, unknown> | undefined): number {
  const value = messageHeaders?.[headers.attempts];
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export function historyOf(messageHeaders: Record<string, unknown> | undefined): AttemptRecord[] {
  const raw = messageHeaders?.[headers.history];
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : raw;
  if (typeof text !== 'string') return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as AttemptRecord[]) : [];
  } catch {
    // A history we cannot read is dropped rather than failing the message over bookkeeping.
    return [];
  }
}

export function appendHistory(history: readonly AttemptRecord[], record: AttemptRecord): string {
  return JSON.stringify([...history, record].slice(-maxHistory));
}

/** The delay before attempt `attempts + 1`, given `attempts` failures so far (1-based). */
export function retryDelayFor(attempts: number, delaysMs: readonly number[]): number {
  const index = Math.min(Math.max(attempts - 1, 0), delaysMs.length - 1);
  const delay = delaysMs[index];
  if (delay === undefined) throw new Error('retry delays must not be empty');
  return delay;
}
