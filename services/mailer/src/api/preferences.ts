/**
 * The user-facing side of notification mail: choosing immediately / digest / never, and the
 * unsubscribe link (a signed token, so the gateway can call this for a visitor who is not logged in).
 */
import type { Executor, Kysely } from '@veche/db';
import { notFound, validationError } from '@veche/errors';
import type { NotifyPreference } from '../events.ts';
import { verifyUnsubscribeToken } from '../domain/unsubscribe.ts';
import { chooseNotifyPreference, setNotifyPreference } from '../projections/recipients.ts';

/**
 * The caller is signed in, so their account exists even when its registration has not reached the
 * mailer yet (a client that signs up and chooses at once): the choice then waits for it.
 */
export async function setNotificationPreference(
  db: Kysely<unknown>,
  userId: string,
  emailNotifications: NotifyPreference,
): Promise<{ emailNotifications: NotifyPreference }> {
  await chooseNotifyPreference(db, userId, emailNotifications);
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
