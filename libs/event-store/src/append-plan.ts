/**
 * The pure part of appending: filling event metadata, encoding expected versions for the append
 * function, and choosing which queued appends share the next group-commit batch.
 */
import { conflict, validationError, type VecheError } from '@veche/errors';
import type { AppendContext, EventMetadata, ExpectedVersion, NewEvent } from './types.ts';

export interface PreparedEvent {
  type: string;
  data: unknown;
  metadata: EventMetadata;
}

export interface MetadataSources {
  now: () => Date;
  newId: () => string;
  /** The correlation id of the surrounding request (from the log context), if any. */
  ambientCorrelationId: () => string | undefined;
  /** The trace context of the surrounding span (W3C traceparent), if tracing is on. */
  ambientTraceparent?: () => string | undefined;
}

/**
 * Every event gets eventId and occurredAt of its own; actor, correlationId and causationId come from
 * the event, then the append's context, then the ambient request. An append with no correlation at all
 * starts a new chain: its first event's id correlates (and causes) the rest.
 */
export function prepareEvents(
  events: readonly NewEvent[],
  context: AppendContext,
  sources: MetadataSources,
): PreparedEvent[] {
  const occurredAt = sources.now().toISOString();
  const ids = events.map(() => sources.newId());
  const chainStart = ids[0] ?? sources.newId();
  const correlationId = context.correlationId ?? sources.ambientCorrelationId() ?? chainStart;
  const causationId = context.causationId ?? correlationId;
  const traceparent = sources.ambientTraceparent?.();
  return events.map((event, index) => {
    if (typeof event.type !== 'string' || event.type.length === 0) {
      throw validationError('An event needs a non-empty type', { details: { index } });
    }
    const given = event.metadata ?? {};
    const metadata: EventMetadata = {
      ...given,
      eventId: given.eventId ?? ids[index] ?? sources.newId(),
      occurredAt: given.occurredAt ?? occurredAt,
      actor: given.actor ?? context.actor ?? 'system',
      correlationId: given.correlationId ?? correlationId,
      causationId: given.causationId ?? causationId,
      ...(traceparent !== undefined && given['traceparent'] === undefined ? { traceparent } : {}),
    };
    return { type: event.type, data: event.data === undefined ? null : event.data, metadata };
  });
}

/**
 * An append's events for the append functions: metadata shared by every event of the append (what
 * prepareEvents gives each event from the append's context: occurredAt, actor, correlation, causation,
 * trace) is sent once, and each event whose metadata is exactly that plus its own eventId is sent as
 * {t, d, i}; the server stores `shared || {eventId}` in its row, the same metadata as before. An event
 * with metadata of its own (other keys or values) is sent whole, as {t, d, m}. Two thirds of the bytes
 * of a typical event were its metadata.
 */
export interface EncodedEvents {
  shared: Record<string, unknown>;
  events: ({ t: string; d: unknown; i: unknown } | { t: string; d: unknown; m: EventMetadata })[];
}

export function encodeEvents(events: readonly PreparedEvent[]): EncodedEvents {
  const shared: Record<string, unknown> = {};
  let sharedKeys = 0;
  const first = events[0]?.metadata;
  if (first) {
    for (const key of Object.keys(first)) {
      if (key === 'eventId') continue;
      shared[key] = first[key];
      sharedKeys += 1;
    }
  }
  const sharesAll = (metadata: EventMetadata): boolean => {
    let keys = 0;
    for (const key in metadata) {
      if (key === 'eventId') continue;
      if (!Object.hasOwn(shared, key) || metadata[key] !== shared[key]) return false;
      keys += 1;
    }
    return keys === sharedKeys && Object.hasOwn(metadata, 'eventId') && metadata.eventId !== undefined;
  };
  return {
    shared,
    events: events.map((event) =>
      sharesAll(event.metadata)
        ? { t: event.type, d: event.data, i: event.metadata.eventId }
        : { t: event.type, d: event.data, m: event.metadata },
    ),
  };
}

export interface EncodedExpectation {
  k: 'any' | 'exists' | 'version';
  v: number | null;
}

export function encodeExpectedVersion(expected: ExpectedVersion): EncodedExpectation {
  if (expected === 'any') return { k: 'any', v: null };
  if (expected === 'exists') return { k: 'exists', v: null };
  if (expected === 'no_stream') return { k: 'version', v: 0 };
  if (!Number.isSafeInteger(expected) || expected < 0) {
    throw validationError('expectedVersion must be a non-negative integer', { details: { expected } });
  }
  return { k: 'version', v: expected };
}

export function validateStreamId(streamId: string): void {
  if (typeof streamId !== 'string' || streamId.length === 0) {
    throw validationError('A stream id must be a non-empty string', { details: { streamId } });
  }
}

export function versionConflict(streamId: string, expected: ExpectedVersion, actual: number): VecheError {
  return conflict(`Stream ${streamId} is at version ${actual}, expected ${String(expected)}`, {
    details: { streamId, expected, actual },
  });
}

export interface Queued {
  streamId: string;
  eventCount: number;
}

/**
 * The next batch: queued appends in order, skipping those whose stream is in a batch still being
 * written (so one stream's appends commit in the order they were made), up to the limits. The first
 * takeable append is always taken, however many events it has.
 */
export function takeBatch<T extends Queued>(
  queue: readonly T[],
  busyStreams: ReadonlySet<string>,
  limits: { maxAppends: number; maxEvents: number },
): { batch: T[]; rest: T[] } {
  const batch: T[] = [];
  const rest: T[] = [];
  // A stream with an append left behind keeps its later appends behind it too.
  const held = new Set<string>();
  let events = 0;
  for (const item of queue) {
    const fits =
      batch.length < limits.maxAppends &&
      (batch.length === 0 || events + item.eventCount <= limits.maxEvents);
    if (fits && !busyStreams.has(item.streamId) && !held.has(item.streamId)) {
      batch.push(item);
      events += item.eventCount;
    } else {
      rest.push(item);
      held.add(item.streamId);
    }
  }
  return { batch, rest };
}

/** LISTEN/NOTIFY channel of a schema's log; the append function computes the same name. */
export function notificationChannel(schema: string): string {
  return `${schema.slice(0, 50)}.events`;
}
