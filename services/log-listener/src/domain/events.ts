/**
 * The log-listener's events as the log holds them, typed from their one declaration in
 * @veche/contracts (`logEventData`, `logAlertEventData`), and read back with a check against that declaration.
 */
import type { Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { internalError } from '@veche/errors';
import { logAlertEventData, logEventData as sourceEventData } from '@veche/contracts';

/** Every event the log-listener appends: its sources' and its alerts'. */
export const logEventData = { ...sourceEventData, ...logAlertEventData } as const;

type Schemas = typeof logEventData;
export type LogsEventType = keyof Schemas;
export type LogsEventDataOf<K extends LogsEventType> = Static<Schemas[K]>;

export type LogsLogEvent = {
  [K in LogsEventType]: { type: K; data: LogsEventDataOf<K> };
}[LogsEventType];

const isLogsEventType = (type: string): type is LogsEventType => Object.hasOwn(logEventData, type);

export const sourceStream = (sourceId: string): string => `logsource-${sourceId}`;
export const sourceIdOf = (streamId: string): string => streamId.slice('logsource-'.length);
export const alertStream = (alertId: string): string => `logalert-${alertId}`;
export const alertIdOf = (streamId: string): string => streamId.slice('logalert-'.length);

/** The event typed, or undefined for a type this service does not write; data that breaks its schema throws. */
export function readLogsEvent(event: {
  type: string;
  data: unknown;
  eventId?: string;
}): LogsLogEvent | undefined {
  if (!isLogsEventType(event.type)) return undefined;
  const schema: Schemas[LogsEventType] = logEventData[event.type];
  if (!Value.Check(schema, event.data)) {
    throw internalError(`Event ${event.eventId ?? ''} of type ${event.type} does not match its schema`);
  }
  // Checked against the schema declared for exactly this type just above.
  return { type: event.type, data: event.data } as LogsLogEvent;
}
