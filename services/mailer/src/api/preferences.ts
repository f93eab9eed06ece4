/**
 * The user-facing side of notification mail: choosing immediately / digest / never, and the
 * unsubscribe link (a signed token, so the gateway can call this for a visitor who is not logged in).
 */
import { Type } from '@sinclair/typebox';
import type { Executor } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import { NotifyPreference } from '../events.ts';
import { verifyUnsubscribeToken } from '../domain/unsubscribe.ts';
import { setNotifyPreference } from '../projections/recipients.ts';
import { check } from './admin.ts';

export const preferenceProcedures = {
  setNotificationPreference: 'veche.mailer.set_notification_preference',
  unsubscribe: 'veche.mailer.unsubscribe',
} as const;

export const SetNotificationPreferenceRequest = Type.Object(
  { userId: Type.String({ minLength: 1, maxLength: 200 }), emailNotifications: NotifyPreference },
  { additionalProperties: false },
);
export const UnsubscribeRequest = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 1000 }) },
  { additionalProperties: false },
);

export async function setNotificationPreference(
  db: Executor<unknown>,
  input: unknown,
): Promise<{ userId: string; emailNotifications: NotifyPreference }> {
  const request = check(SetNotificationPreferenceRequest, input);
  if (!(await setNotifyPreference(db, request.userId, request.emailNotifications))) {
    throw notFound('No such user', { details: { userId: request.userId } });
  }
  return request;
}

export async function unsubscribe(
  db: Executor<unknown>,
  secret: string,
  input: unknown,
): Promise<{ userId: string }> {
  const { token } = check(UnsubscribeRequest, input);
  const userId = verifyUnsubscribeToken(secret, token);
  if (!userId) throw validationError('Not an unsubscribe link of ours');
  if (!(await setNotifyPreference(db, userId, 'never')))
    throw notFound('No such user', { details: { userId } });
  return { userId };
}
