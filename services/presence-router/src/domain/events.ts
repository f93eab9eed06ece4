/**
 * The presence-router's events as the log holds them, typed from their one declaration in
 * @veche/contracts (`presenceEventData`), and read back with a check against that declaration.
 */
import type { Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { internalError } from '@veche/errors';
import { presenceEventData } from '@veche/contracts';

type Schemas = typeof presenceEventData;
export type PresenceEventType = keyof Schemas;
export type PresenceEventDataOf<K extends PresenceEventType> = Static<Schemas[K]>;

/** Any presence-router event: `type` tells `data`'s shape. */
export type PresenceLogEvent = {
  [K in PresenceEventType]: { type: K; data: PresenceEventDataOf<K> };
}[PresenceEventType];

const isPresenceEventType = (type: string): type is PresenceEventType =>
  Object.hasOwn(presenceEventData, type);

/** The event typed, or undefined for a type this service does not write; data that breaks its schema throws. */
export function readPresenceEvent(event: {
  type: string;
  data: unknown;
  eventId?: string;
}): PresenceLogEvent | undefined {
  if (!isPresenceEventType(event.type)) return undefined;
  const schema: Schemas[PresenceEventType] = presenceEventData[event.type];
  if (!Value.Check(schema, event.data)) {
    throw internalError(`Event ${event.eventId ?? ''} of type ${event.type} does not match its schema`);
  }
  // Checked against the schema declared for exactly this type just above.
  return { type: event.type, data: event.data } as PresenceLogEvent;
}
