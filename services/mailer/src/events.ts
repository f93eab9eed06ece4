/**
 * The mailer's side of the integration contract: the events it binds its queue to, declared in
 * @veche/contracts with the producers' own schemas; every event is checked against them.
 */
import {
  mailerConsumedEventTypes,
  parseIntegrationEvent,
  type IntegrationEvent,
  type IntegrationEventData,
  type ParsedEvent,
} from '@veche/contracts';

export {
  NotifyPreference,
  type AccountEmailChanged,
  type AccountEmailChangeRequested,
  type AccountPasswordResetRequested,
  type AccountProfileUpdated,
  type AccountRegistered,
  type AccountRegistrationAttempted,
} from '@veche/contracts';
export type ChatMessagePosted = IntegrationEventData<'chat.message_posted'>;
export type ChatReceiptsUpdated = IntegrationEventData<'chat.receipts_updated'>;
export type LogAlertFired = IntegrationEventData<'logs.alert_fired'>;

/** Every event type the mailer binds its queue to (declared in @veche/contracts). */
export const consumedEventTypes = mailerConsumedEventTypes;

export type ConsumedEventType = (typeof consumedEventTypes)[number];
export type ConsumedEvent = IntegrationEvent<ConsumedEventType>;
export type ParseResult = ParsedEvent<ConsumedEventType>;

/** Checks `data` against the contract of `type`; the problems name the offending fields. */
export const parseEvent = (type: string, data: unknown): ParseResult =>
  parseIntegrationEvent(consumedEventTypes, type, data);
