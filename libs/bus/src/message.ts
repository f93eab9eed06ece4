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
} as const;

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
      },
    },
  };
}

export type DecodeResult =
  | { ok: true; event: IntegrationEvent; messageId: string }
  | { ok: false; reason: string; messageId: string | undefined };

const requiredMetadata = ['eventId', 'occurredAt', 'actor', 'correlationId', 'causationId'] as const;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

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
  if (!isObject(body)) return fail('body is not a JSON object');
  if (typeof body['type'] !== 'string' || body['type'] === '') return fail('missing field: type');
  if (!('data' in body) || body['data'] === undefined) return fail('missing field: data');
  const metadata = body['metadata'];
  if (!isObject(metadata)) return fail('missing field: metadata');
  for (const field of requiredMetadata) {
    if (typeof metadata[field] !== 'string' || metadata[field] === '')
      return fail(`missing field: metadata.${field}`);
  }
  if (messageId === undefined) return fail('missing messageId');
  if (metadata['eventId'] !== messageId) return fail('messageId differs from metadata.eventId');
  return {
    ok: true,
    messageId,
    event: { type: body['type'], data: body['data'], metadata: metadata as IntegrationEventMetadata },
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
