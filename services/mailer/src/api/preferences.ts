/**
 * The user-facing side of notification mail: choosing immediately / digest / never, and the
 * unsubscribe link (a signed token, so the gateway can call this for a visitor who is not logged in).
 */
import type { Executor } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import type { NotifyPreference } from '../events.ts';
import { verifyUnsubscribeToken } from '../domain/unsubscribe.ts';
import { setNotifyPreference } from '../projections/recipients.ts';

export async function setNotificationPreference(
  db: Executor<unknown>,
  userId: string,
  emailNotifications: NotifyPreference,
): Promise<{ emailNotifications: NotifyPreference }> {
  if (!(await setNotifyPreference(db, userId, emailNotifications))) {
    throw notFound('No such user', { details: { userId } });
  }
  return { emailNotifications };
}

/** Turns notification mail off for the user the link was made for; answers who that is. */
export async function unsubscribe(
  db: Executor<unknown>,
  secret: string,
  token: string,
): Promise<{ userId: string }> {
  const userId = verifyUnsubscribeToken(secret, token);
  if (!userId) throw validationError('Not an unsubscribe link of ours');
  if (!(await setNotifyPreference(db, userId, 'never')))
    throw notFound('No such user', { details: { userId } });
  return { userId };
}
