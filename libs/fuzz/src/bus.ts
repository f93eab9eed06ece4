/**
 * RabbitMQ messages a consumer must refuse: not JSON, JSON that is not an integration event, an
 * event whose messageId is missing or differs from its eventId, an event whose data its handler's
 * schema refuses, and batches of those. Each says how many dead letters it must become (a batch
 * that can be read is dead-lettered event by event).
 */
import fc from 'fast-check';
import type { TSchema } from '@sinclair/typebox';
import { invalidArbitrary } from './schema.ts';

export interface BusMessage {
  content: Buffer;
  messageId: string | undefined;
  contentType: string;
  kind: 'not-json' | 'not-an-event' | 'id-mismatch' | 'wrong-schema' | 'bad-batch';
  /** How many messages the dead-letter queue must receive for it. */
  deadLetters: number;
}

export const batchContentType = 'application/vnd.veche.events+json';

const uuid = fc.uuid({ version: 7 });

/** Data that no handler's object schema accepts, or, for a type with a known schema, one it refuses. */
function invalidData(type: string, schemas: Partial<Record<string, TSchema>>): fc.Arbitrary<unknown> {
  const schema = schemas[type];
  const generic = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
    // Objects whose keys are not any schema's (a key of at most 3 characters names no field).
    fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  );
  return schema ? fc.oneof(invalidArbitrary(schema), generic) : generic;
}

function event(types: readonly string[], schemas: Partial<Record<string, TSchema>>) {
  return fc.constantFrom(...types).chain((type) =>
    fc.record({
      type: fc.constant(type),
      data: invalidData(type, schemas),
      metadata: fc.record({
        eventId: uuid,
        occurredAt: fc.constant(new Date(0).toISOString()),
        actor: fc.constant('fuzz'),
        correlationId: uuid,
        causationId: uuid,
      }),
    }),
  );
}

/** A message for a consumer of `types`; `schemas` gives the data schema of the types that have one. */
export function busMessageArbitrary(
  types: readonly string[],
  schemas: Partial<Record<string, TSchema>> = {},
): fc.Arbitrary<BusMessage> {
  const json = 'application/json';
  const notJson = fc
    .oneof(
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
      fc.constantFrom('{', '{"type":', '', 'nul', '[1,2').map((text) => Buffer.from(text)),
    )
    .filter((content) => {
      try {
        JSON.parse(content.toString('utf8'));
        return false;
      } catch {
        return true;
      }
    })
    .map((content): BusMessage => ({
      content,
      messageId: undefined,
      contentType: json,
      kind: 'not-json',
      deadLetters: 1,
    }));
  const notAnEvent = fc
    .tuple(
      event(types, schemas),
      fc.constantFrom('type', 'data', 'metadata', 'metadata.eventId', 'metadata.actor', 'whole'),
      fc.oneof(fc.constant(undefined), fc.constant(''), fc.integer(), fc.constant(null)),
    )
    .map(([valid, field, replacement]): BusMessage => {
      let body: unknown = { ...valid, metadata: { ...valid.metadata } };
      const record = body as Record<string, unknown>;
      const metadata = { ...valid.metadata } as Record<string, unknown>;
      record['metadata'] = metadata;
      if (field === 'whole') body = replacement ?? [];
      else if (field.startsWith('metadata.')) metadata[field.slice(9)] = replacement;
      else record[field] = field === 'data' ? undefined : replacement;
      return {
        content: Buffer.from(JSON.stringify(body) ?? 'null'),
        messageId: valid.metadata.eventId,
        contentType: json,
        kind: 'not-an-event',
        deadLetters: 1,
      };
    });
  const idMismatch = fc.tuple(event(types, schemas), fc.option(uuid)).map(([valid, other]): BusMessage => ({
    content: Buffer.from(JSON.stringify(valid)),
    messageId: other ?? undefined,
    contentType: json,
    kind: 'id-mismatch',
    deadLetters: 1,
  }));
  const wrongSchema = event(types, schemas).map((valid): BusMessage => ({
    content: Buffer.from(JSON.stringify(valid)),
    messageId: valid.metadata.eventId,
    contentType: json,
    kind: 'wrong-schema',
    deadLetters: 1,
  }));
  const badBatch = fc.oneof(
    fc.array(event(types, schemas), { minLength: 1, maxLength: 4 }).map((events): BusMessage => ({
      content: Buffer.from(JSON.stringify({ events })),
      messageId: `batch:${events[0]!.metadata.eventId}:${events.length}`,
      contentType: batchContentType,
      kind: 'bad-batch',
      deadLetters: events.length,
    })),
    fc.constantFrom('{"events":[]}', '{"events":{}}', '[]', '{').map((text): BusMessage => ({
      content: Buffer.from(text),
      messageId: 'batch:x:0',
      contentType: batchContentType,
      kind: 'bad-batch',
      deadLetters: 1,
    })),
  );
  return fc.oneof(notJson, notAnEvent, idMismatch, wrongSchema, badBatch);
}
