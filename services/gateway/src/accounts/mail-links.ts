/**
 * The tokens of mailed links (verify an address, reset a password, confirm an address change): only
 * their hashes are kept, and the token itself travels sealed for the mailer.
 */
import { sealMailToken, type MailTokenPurpose } from '@veche/contracts';
import type { Executor } from '@veche/db';
import { validationError } from '@veche/errors';
import { hashToken, newOpaqueToken } from '../domain/tokens.ts';
import { mailTokenSecret, type GatewayConfig } from '../env.ts';
import { tablesOf, type MailTokenPurpose as LinkPurpose } from '../tables.ts';

/**
 * A fresh mail-link token: its hash for the read model, and the token sealed for the mailer. The
 * token itself is dropped here; only the recipient's mailbox ever sees it.
 */
export function mailToken(config: GatewayConfig, purpose: MailTokenPurpose, userId: string) {
  const token = newOpaqueToken();
  return {
    hash: hashToken(token),
    sealed: sealMailToken(mailTokenSecret(config), purpose, userId, token),
  };
}

/** A live mail token of `purpose`, or a validation error that does not say which check failed. */
export async function liveToken(db: Executor<unknown>, token: string, purpose: LinkPurpose) {
  const tokenHash = hashToken(token);
  const row = await tablesOf(db)
    .selectFrom('account_tokens')
    .select(['user_id', 'new_email'])
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where((eb) => eb('expires_at', '>', eb.fn<Date>('now')))
    .executeTakeFirst();
  if (!row) {
    throw validationError('This link is invalid, expired or already used', {
      details: [{ path: '/token', message: 'invalid or expired' }],
    });
  }
  return { tokenHash, userId: row.user_id, newEmail: row.new_email };
}
