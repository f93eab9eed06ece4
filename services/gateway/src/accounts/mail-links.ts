/**
 * The tokens of mailed links (verify an address, reset a password, confirm an address change): only
 * their hashes are kept, and the token itself travels sealed for the mailer.
 */
import { sealMailToken, type MailTokenPurpose } from '@veche/contracts';
import { sql, type Executor } from '@veche/db';
import { validationError } from '@veche/errors';
import { hashToken, newOpaqueToken } from '../domain/tokens.ts';
import { mailTokenSecret, type GatewayConfig } from '../env.ts';

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
export async function liveToken(
  db: Executor<unknown>,
  token: string,
  purpose: 'verify' | 'reset' | 'email_change',
) {
  const tokenHash = hashToken(token);
  const { rows } = await sql<{ user_id: string; new_email: string | null }>`
    select user_id, new_email from account_tokens
    where token_hash = ${tokenHash} and purpose = ${purpose} and used_at is null and expires_at > now()`.execute(
    db,
  );
  const row = rows[0];
  if (!row) {
    throw validationError('This link is invalid, expired or already used', {
      details: [{ path: '/token', message: 'invalid or expired' }],
    });
  }
  return { tokenHash, userId: row.user_id, newEmail: row.new_email };
}
