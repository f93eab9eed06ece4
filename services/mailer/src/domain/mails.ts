/**
 * Which mails an event produces. Pure: the event, what the read model knows of the recipients and the
 * brand go in, drafts with their idempotency keys come out; the edges store and send them.
 */
import { createHash } from 'node:crypto';
import type { MailTokenPurpose } from '@veche/contracts';
import type {
  AccountEmailChangeRequested,
  AccountPasswordResetRequested,
  AccountRegistered,
  AccountRegistrationAttempted,
  ChatMessagePosted,
  LogAlertFired,
  NotifyPreference,
} from '../events.ts';
import { renderLogAlert } from './log-alert.ts';
import {
  links,
  pickLocale,
  renderChatNotification,
  renderEmailChangeConfirm,
  renderEmailChangeNotice,
  renderPasswordReset,
  renderRegistrationAttempt,
  renderVerifyEmail,
  type Brand,
  type ChatNotificationItem,
  type Locale,
  type RenderedMail,
} from './templates.ts';

export const mailKinds = [
  'verify_email',
  'registration_attempt',
  'password_reset',
  'email_change_confirm',
  'email_change_notice',
  'chat_notification',
  'chat_digest',
  'log_alert',
] as const;
export type MailKind = (typeof mailKinds)[number];

/** Security mail ignores the suppression list and carries no unsubscribe link. */
export type MailCategory = 'security' | 'notification';

export function categoryOf(kind: MailKind): MailCategory {
  return kind === 'chat_notification' || kind === 'chat_digest' || kind === 'log_alert'
    ? 'notification'
    : 'security';
}

export interface MailDraft {
  /** Event id + recipient + kind: the same event handled twice yields the same key, so one mail. */
  idempotencyKey: string;
  kind: MailKind;
  category: MailCategory;
  eventId: string;
  userId: string | undefined;
  to: string;
  toName: string;
  locale: Locale;
  subject: string;
  text: string;
  html: string;
  /** Extra headers (List-Unsubscribe for notifications). */
  headers: Record<string, string>;
  /**
   * The sealed token of the mail's link. The bodies carry {@link linkTokenPlaceholder} in its place;
   * the sender opens the token and puts it in only as it hands the mail to SMTP.
   */
  linkToken?: LinkToken | undefined;
}

export interface LinkToken {
  purpose: MailTokenPurpose;
  userId: string;
  sealed: string;
}

/**
 * Stands for the link's token in a stored mail, so neither the outbox nor an administrator's view of
 * it holds a working link. Unchanged by URL encoding and HTML escaping, so it is found again as is.
 */
export const linkTokenPlaceholder = 'SENT-TO-THE-RECIPIENT-ONLY';

/**
 * A mail's text as an administrator may see it: the value of every `token=` in a link hidden (the
 * placeholder, unsubscribe tokens, and tokens of mails stored before links were sealed), so no admin
 * view hands out a working link.
 */
export function hideLinkTokens(text: string): string {
  return text.replace(/([?&](?:amp;)?token=)[^&\s"'<>]+/g, '$1[hidden]');
}

export function idempotencyKey(eventId: string, recipient: string, kind: MailKind): string {
  return `${eventId}/${recipient}/${kind}`;
}

/** A stable, opaque id for a mail: also the local part of its Message-ID. */
export function mailIdOf(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/** The Message-ID is derived from the idempotency key, so a resend after a crash carries the same one. */
export function messageIdOf(mailId: string, fromAddress: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(fromAddress)?.[1] ?? 'veche.localhost';
  return `<${mailId}@${domain}>`;
}

function draft(
  eventId: string,
  kind: MailKind,
  recipient: { userId: string | undefined; email: string; displayName: string; locale: Locale },
  rendered: RenderedMail,
  headers: Record<string, string> = {},
  linkToken?: LinkToken,
): MailDraft {
  return {
    idempotencyKey: idempotencyKey(eventId, recipient.userId ?? recipient.email.toLowerCase(), kind),
    kind,
    category: categoryOf(kind),
    eventId,
    userId: recipient.userId,
    to: recipient.email,
    toName: recipient.displayName,
    locale: recipient.locale,
    ...rendered,
    headers,
    linkToken,
  };
}

export function mailsForRegistration(brand: Brand, eventId: string, data: AccountRegistered): MailDraft[] {
  const locale = pickLocale(data.locale);
  const rendered = renderVerifyEmail(brand, {
    locale,
    displayName: data.displayName,
    token: linkTokenPlaceholder,
  });
  return [
    draft(
      eventId,
      'verify_email',
      { ...data, locale },
      rendered,
      {},
      {
        purpose: 'verify_email',
        userId: data.userId,
        sealed: data.sealedToken,
      },
    ),
  ];
}

/** The owner of an address someone tried to register again: told, with no link that acts. */
export function mailsForRegistrationAttempt(
  brand: Brand,
  eventId: string,
  data: AccountRegistrationAttempted,
): MailDraft[] {
  const locale = pickLocale(data.locale);
  const rendered = renderRegistrationAttempt(brand, { locale, displayName: data.displayName });
  return [draft(eventId, 'registration_attempt', { ...data, locale }, rendered)];
}

export function mailsForPasswordReset(
  brand: Brand,
  eventId: string,
  data: AccountPasswordResetRequested,
): MailDraft[] {
  const locale = pickLocale(data.locale);
  const rendered = renderPasswordReset(brand, {
    locale,
    displayName: data.displayName,
    token: linkTokenPlaceholder,
    expiresAt: data.expiresAt,
  });
  return [
    draft(
      eventId,
      'password_reset',
      { ...data, locale },
      rendered,
      {},
      {
        purpose: 'reset_password',
        userId: data.userId,
        sealed: data.sealedToken,
      },
    ),
  ];
}

/** Two mails: the confirmation link to the new address, and a warning to the current one. */
export function mailsForEmailChange(
  brand: Brand,
  eventId: string,
  data: AccountEmailChangeRequested,
): MailDraft[] {
  const locale = pickLocale(data.locale);
  const person = { userId: data.userId, displayName: data.displayName, locale };
  const confirm = renderEmailChangeConfirm(brand, {
    locale,
    displayName: data.displayName,
    newEmail: data.newEmail,
    token: linkTokenPlaceholder,
  });
  const notice = renderEmailChangeNotice(brand, {
    locale,
    displayName: data.displayName,
    newEmail: data.newEmail,
  });
  const mails = [
    draft(
      eventId,
      'email_change_confirm',
      { ...person, email: data.newEmail },
      confirm,
      {},
      {
        purpose: 'confirm_email_change',
        userId: data.userId,
        sealed: data.sealedToken,
      },
    ),
  ];
  if (data.currentEmail.toLowerCase() !== data.newEmail.toLowerCase()) {
    mails.push(draft(eventId, 'email_change_notice', { ...person, email: data.currentEmail }, notice));
  }
  return mails;
}

/** What the mailer knows of a user, from account events (see projections/recipients.ts). */
export interface Recipient {
  userId: string;
  email: string;
  displayName: string;
  locale: string;
  notify: NotifyPreference | undefined;
}

export type NotificationDecision =
  | { userId: string; action: 'immediately'; recipient: Recipient; item: ChatNotificationItem }
  | { userId: string; action: 'digest'; item: ChatNotificationItem }
  | { userId: string; action: 'skip'; reason: 'never' | 'unknown-recipient' | 'sender' };

/**
 * For each member chat asked to notify: a mail now, a place in the digest, or nothing. A user the
 * read model does not know has no address here: the intake holds the notification until their
 * registration arrives (`notifications_awaiting_recipient`).
 */
export function decideChatNotifications(
  data: ChatMessagePosted,
  recipients: ReadonlyMap<string, Recipient>,
  defaultNotify: NotifyPreference,
): NotificationDecision[] {
  const seen = new Set<string>();
  const decisions: NotificationDecision[] = [];
  for (const { userId, reason } of data.notify) {
    if (seen.has(userId)) continue;
    seen.add(userId);
    if (userId === data.senderId) {
      decisions.push({ userId, action: 'skip', reason: 'sender' });
      continue;
    }
    const recipient = recipients.get(userId);
    if (!recipient) {
      decisions.push({ userId, action: 'skip', reason: 'unknown-recipient' });
      continue;
    }
    const notify = recipient.notify ?? defaultNotify;
    const item: ChatNotificationItem = {
      roomId: data.roomId,
      roomKind: data.roomKind,
      roomName: data.roomName,
      seq: data.seq,
      senderDisplayName: data.senderDisplayName,
      text: data.text,
      sentAt: data.sentAt,
      reason,
    };
    if (notify === 'never') decisions.push({ userId, action: 'skip', reason: 'never' });
    else if (notify === 'immediately') decisions.push({ userId, action: 'immediately', recipient, item });
    else decisions.push({ userId, action: 'digest', item });
  }
  return decisions;
}

/**
 * One notification mail: a single message (`chat_notification`, keyed by its event) or a digest
 * (`chat_digest`, keyed by the event of its oldest message, which no other digest can contain).
 */
export function notificationMail(
  brand: Brand,
  kind: 'chat_notification' | 'chat_digest',
  eventId: string,
  recipient: Recipient,
  items: readonly ChatNotificationItem[],
  unsubscribeToken: string,
): MailDraft {
  const locale = pickLocale(recipient.locale);
  const rendered = renderChatNotification(brand, {
    locale,
    displayName: recipient.displayName,
    items,
    unsubscribeToken,
  });
  const unsubscribe = links.unsubscribe(brand, unsubscribeToken);
  // No List-Unsubscribe-Post (one-click): nothing answers a POST to the link until the gateway routes it.
  return draft(eventId, kind, { ...recipient, locale }, rendered, { 'List-Unsubscribe': `<${unsubscribe}>` });
}

/**
 * A fired log alert, to the source's owner (`suppressed`: firings the cool-down held back since the
 * previous mail). Keyed by the firing's event. No unsubscribe link: disabling the alert stops them.
 */
export function logAlertMail(
  brand: Brand,
  eventId: string,
  recipient: Recipient,
  alert: LogAlertFired,
  suppressed: number,
): MailDraft {
  const locale = pickLocale(recipient.locale);
  const rendered = renderLogAlert(brand, { locale, displayName: recipient.displayName, alert, suppressed });
  return draft(eventId, 'log_alert', { ...recipient, locale }, rendered);
}
