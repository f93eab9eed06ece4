/**
 * The token in a verification, reset or address-change link may be seen by the recipient's mailbox
 * alone. The gateway keeps only its hash; the event asking the mailer for the mail carries it sealed
 * (AES-256-GCM, a key derived from VECHE_SERVICE_SECRET, bound to the purpose and the account), so
 * neither the gateway's event log, RabbitMQ, nor the mailer's outbox holds it readable: the mailer
 * opens it only to hand the mail to SMTP.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export type MailTokenPurpose = 'verify_email' | 'reset_password' | 'confirm_email_change';

const keys = new Map<string, Buffer>();
function keyOf(secret: string): Buffer {
  let key = keys.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'veche', 'veche-mail-tokens', 32));
    keys.set(secret, key);
  }
  return key;
}

const boundTo = (purpose: MailTokenPurpose, userId: string) => Buffer.from(`${purpose}:${userId}`, 'utf8');

export function sealMailToken(
  secret: string,
  purpose: MailTokenPurpose,
  userId: string,
  token: string,
): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret), iv);
  cipher.setAAD(boundTo(purpose, userId));
  const sealed = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return ['v1', iv, sealed, cipher.getAuthTag()]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

/** The token, or undefined when `sealed` was not sealed with this secret for this purpose and account. */
export function openMailToken(
  secret: string,
  purpose: MailTokenPurpose,
  userId: string,
  sealed: string,
): string | undefined {
  const [version, iv, body, tag, extra] = sealed.split('.');
  if (version !== 'v1' || !iv || !body || !tag || extra !== undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(secret), Buffer.from(iv, 'base64url'));
    decipher.setAAD(boundTo(purpose, userId));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return undefined;
  }
}
