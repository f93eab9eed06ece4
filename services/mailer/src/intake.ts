/**
 * Turns each integration event into its effects in the mailer's schema: queued mails, read-model
 * updates, digest entries. Runs inside the bus consumer's transaction, which also records the event in
 * the inbox, so an event delivered twice has one effect; the unique idempotency key of each mail is a
 * second guard that holds even once the inbox has forgotten the event.
 */
import type { Transaction } from '@veche/db';
import type { EventHandler, IntegrationEvent, MessageContext } from '@veche/bus';
import { validationError } from '@veche/errors';
import { parseEvent, type ChatMessagePosted, type NotifyPreference } from './events.ts';
import {
  decideChatNotifications,
  logAlertMail,
  mailsForEmailChange,
  mailsForPasswordReset,
  mailsForRegistration,
  mailsForRegistrationAttempt,
  notificationMail,
  type MailDraft,
} from './domain/mails.ts';
import type { Brand } from './domain/templates.ts';
import { unsubscribeToken } from './domain/unsubscribe.ts';
import { enqueueMails } from './outbox.ts';
import { recordAlertFiring } from './projections/log-alert-mails.ts';
import { hasRead, queueForDigest, recordRead } from './projections/pending-notifications.ts';
import {
  holdForUnknownRecipients,
  loadRecipients,
  recordEmailChange,
  recordProfileUpdate,
  recordRegistration,
  takeAwaitingNotifications,
} from './projections/recipients.ts';

export interface IntakeOptions {
  brand: Brand;
  from: string;
  defaultNotify: NotifyPreference;
  digestDelayMs: number;
  unsubscribeSecret: string;
  /** Called when mails were queued, so the sender looks for them without waiting for its next poll. */
  onMailsQueued?: () => void;
}

export function createIntakeHandler(options: IntakeOptions): EventHandler {
  /** A mail now, a place in the digest, or nothing, for each member chat asked to notify. */
  async function notifyOfMessage(
    trx: Transaction<unknown>,
    eventId: string,
    data: ChatMessagePosted,
    drafts: MailDraft[],
    context: MessageContext,
  ): Promise<void> {
    const userIds = data.notify.map((n) => n.userId);
    let recipients = await loadRecipients(trx, userIds);
    const unknown = userIds.filter((userId) => userId !== data.senderId && !recipients.has(userId));
    if (unknown.length > 0) {
      // Their registration may still be on its way (gateway's relay): the notification waits for it.
      const held = await holdForUnknownRecipients(trx, unknown, eventId, data);
      if (held.length < new Set(unknown).size) recipients = await loadRecipients(trx, userIds);
      for (const userId of held)
        context.log.info({ userId, eventId }, 'notification held until the user’s registration arrives');
    }
    const dueAt = new Date(Date.now() + options.digestDelayMs);
    for (const decision of decideChatNotifications(data, recipients, options.defaultNotify)) {
      // The sender, a "never", or a user held above.
      if (decision.action === 'skip') continue;
      // A receipt that overtook this message already says it was read.
      if (await hasRead(trx, decision.userId, data.roomId, data.seq)) continue;
      if (decision.action === 'digest') {
        await queueForDigest(trx, decision.userId, eventId, decision.item, dueAt);
      } else {
        drafts.push(
          notificationMail(
            options.brand,
            'chat_notification',
            eventId,
            decision.recipient,
            [decision.item],
            unsubscribeToken(options.unsubscribeSecret, decision.userId),
          ),
        );
      }
    }
  }

  return async (event: IntegrationEvent, trx: Transaction<unknown>, context: MessageContext) => {
    const parsed = parseEvent(event.type, event.data);
    if (!parsed.ok) {
      // Thrown, not skipped: the bus retries and then dead-letters it, where an operator sees it.
      throw validationError(`Invalid ${event.type} payload`, { details: { problems: parsed.problems } });
    }
    const { eventId, correlationId } = event.metadata;
    const drafts: MailDraft[] = [];
    const { type, data } = parsed.event;
    switch (type) {
      case 'account.registered':
        await recordRegistration(trx, data);
        drafts.push(...mailsForRegistration(options.brand, eventId, data));
        // Chat's events come by another relay: a message for them may have arrived first.
        for (const held of await takeAwaitingNotifications(trx, data.userId)) {
          context.log.info({ userId: data.userId, eventId: held.eventId }, 'held notification released');
          await notifyOfMessage(trx, held.eventId, held.message, drafts, context);
        }
        break;
      case 'account.registration_attempted':
        drafts.push(...mailsForRegistrationAttempt(options.brand, eventId, data));
        break;
      case 'account.password_reset_requested':
        drafts.push(...mailsForPasswordReset(options.brand, eventId, data));
        break;
      case 'account.email_change_requested':
        drafts.push(...mailsForEmailChange(options.brand, eventId, data));
        break;
      case 'account.email_changed':
        if (!(await recordEmailChange(trx, data)))
          context.log.warn({ userId: data.userId }, 'e-mail change of an unknown user');
        break;
      case 'account.profile_updated':
        if (!(await recordProfileUpdate(trx, data)))
          context.log.warn({ userId: data.userId }, 'profile of an unknown user');
        break;
      case 'chat.receipts_updated':
        if (data.readUpTo !== undefined) {
          const cancelled = await recordRead(trx, data.userId, data.roomId, data.readUpTo);
          if (cancelled > 0)
            context.log.debug({ userId: data.userId, cancelled }, 'read before the digest went out');
        }
        break;
      case 'logs.alert_fired': {
        const recipient = (await loadRecipients(trx, [data.ownerId])).get(data.ownerId);
        if (!recipient) {
          context.log.warn({ userId: data.ownerId, alertId: data.alertId }, 'no address for an alert owner');
          break;
        }
        const decision = await recordAlertFiring(
          trx,
          data.alertId,
          new Date(data.firedAt),
          data.coolDownSeconds,
        );
        if (decision.send) {
          drafts.push(logAlertMail(options.brand, eventId, recipient, data, decision.suppressedBefore));
        } else {
          context.log.debug({ alertId: data.alertId }, 'alert firing held back by its cool-down');
        }
        break;
      }
      case 'chat.message_posted':
        await notifyOfMessage(trx, eventId, data, drafts, context);
        break;
    }
    const queued = await enqueueMails(trx, drafts, { from: options.from, correlationId });
    if (queued.length > 0) {
      context.log.info({ mails: queued.length, kinds: drafts.map((d) => d.kind) }, 'mails queued');
      // After the consumer's commit, not before: the sender could not see uncommitted rows.
      if (options.onMailsQueued) setTimeout(options.onMailsQueued, 20).unref();
    }
  };
}
