/**
 * Every integration event on `veche.events`, by routing key, with the schema of its `data`:
 * producers build them with `integrationEvent` (typed from the schema), consumers check them with
 * `parseIntegrationEvent` (the same schema), so producer and consumer cannot drift apart.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { accountEventTypes as account, accountIntegrationEvents } from './account-events.ts';
import { chatEventTypes as chat, chatIntegrationEvents } from './chat-events.ts';
import { logAlertEventTypes as logs, logIntegrationEvents } from './log-alerts.ts';

export const integrationEvents = {
  ...accountIntegrationEvents,
  ...chatIntegrationEvents,
  ...logIntegrationEvents,
} as const satisfies Record<string, TSchema>;

export type IntegrationEventType = keyof typeof integrationEvents;

/**
 * The events the mailer binds its queue to: its side of the contract, read by the mailer and by the
 * fleet tests that send its queue hostile copies.
 */
export const mailerConsumedEventTypes = [
  account.registered,
  account.passwordResetRequested,
  account.emailChangeRequested,
  account.emailChanged,
  account.profileUpdated,
  account.registrationAttempted,
  chat.messagePosted,
  chat.receiptsUpdated,
  logs.alertFired,
] as const satisfies readonly IntegrationEventType[];
export type IntegrationEventData<K extends IntegrationEventType> = Static<(typeof integrationEvents)[K]>;
export type IntegrationEvent<K extends IntegrationEventType = IntegrationEventType> = {
  [T in K]: { type: T; data: IntegrationEventData<T> };
}[K];

/** An integration event to append: its data typed from the contract. */
export const integrationEvent = <K extends IntegrationEventType>(
  type: K,
  data: IntegrationEventData<K>,
): { type: K; data: IntegrationEventData<K> } => ({ type, data });

export const isIntegrationEventType = (type: string): type is IntegrationEventType =>
  Object.hasOwn(integrationEvents, type);

export type ParsedEvent<K extends IntegrationEventType> =
  { ok: true; event: IntegrationEvent<K> } | { ok: false; problems: string[] };

/**
 * Checks a received event against its contract; `accepted` limits it to the types this consumer
 * reads. The problems name the offending fields (at most ten).
 */
export function parseIntegrationEvent<K extends IntegrationEventType>(
  accepted: readonly K[],
  type: string,
  data: unknown,
): ParsedEvent<K> {
  if (!(accepted as readonly string[]).includes(type) || !isIntegrationEventType(type))
    return { ok: false, problems: [`not an event this consumer reads: ${type}`] };
  const schema = integrationEvents[type];
  if (Value.Check(schema, data)) return { ok: true, event: { type, data } as IntegrationEvent<K> };
  const problems = [...Value.Errors(schema, data)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
  return { ok: false, problems };
}
