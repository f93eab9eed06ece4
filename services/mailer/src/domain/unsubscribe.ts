/**
 * Unsubscribe tokens: the user id signed with the mailer's secret, so the link needs no lookup table
 * and cannot be forged to unsubscribe someone else.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const sign = (secret: string, userId: string): string =>
  createHmac('sha256', secret).update(`unsubscribe:${userId}`).digest('base64url').slice(0, 32);

export function unsubscribeToken(secret: string, userId: string): string {
  return `${Buffer.from(userId, 'utf8').toString('base64url')}.${sign(secret, userId)}`;
}

/** The user id the token was made for, or undefined when it is not one of ours. */
export function verifyUnsubscribeToken(secret: string, token: string): string | undefined {
  const [encoded, signature, extra] = token.split('.');
  if (!encoded || !signature || extra !== undefined) return undefined;
  const userId = Buffer.from(encoded, 'base64url').toString('utf8');
  if (!userId) return undefined;
  const expected = Buffer.from(sign(secret, userId));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? userId : undefined;
}
