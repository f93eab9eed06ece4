/**
 * Link secrets at rest (issue 20, ADR 0017): `federation_links.secret` holds
 * `sealed:v1:<keyId>:<base64url(iv ‖ tag ‖ ciphertext)>`, AES-256-GCM with the row's domain as
 * associated data (a sealed secret copied onto another domain's row does not open).
 *
 * Keys come from FEDERATION_KEYS (`<id>:<base64 of 32 bytes>`, comma-separated, the first seals; the
 * others only open, for rotation). Whatever the list, a key derived from VECHE_SERVICE_SECRET (id
 * `svc`) also opens, and seals when FEDERATION_KEYS is unset. A stored value without the prefix is a
 * secret from before sealing: it is opened as it is, and re-sealed under the current key at start.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const prefix = 'sealed:v1:';
const keyIdSyntax = /^[A-Za-z0-9_-]{1,32}$/;

export interface SecretBox {
  /** The key that seals. */
  readonly currentKeyId: string;
  seal(domain: string, secret: string): string;
  /** The secret, from a sealed or a legacy plain value; throws when no key opens it. */
  open(domain: string, stored: string): string;
  /** The stored value is plain, or sealed under another key than the current one. */
  needsResealing(stored: string): boolean;
}

/** Parses FEDERATION_KEYS; throws a message naming what is wrong (never a key). */
export function parseFederationKeys(text: string): { id: string; key: Buffer }[] {
  const keys = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part, index) => {
      const colon = part.indexOf(':');
      const id = part.slice(0, colon);
      const key = Buffer.from(part.slice(colon + 1), 'base64');
      if (colon < 1 || !keyIdSyntax.test(id))
        throw new Error(`key ${index + 1}: write <id>:<base64 key>, the id of letters, digits, - and _`);
      if (key.length !== 32)
        throw new Error(`key ${id}: must be 32 bytes in base64 (openssl rand -base64 32)`);
      return { id, key };
    });
  if (keys.length === 0) throw new Error('no key given');
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('two keys have the same id');
  return keys;
}

export function createSecretBox(options: { keys?: string | undefined; serviceSecret: string }): SecretBox {
  const derived = Buffer.from(
    hkdfSync('sha256', options.serviceSecret, 'veche', 'veche-federation-links', 32),
  );
  const listed = options.keys ? parseFederationKeys(options.keys) : [];
  if (listed.some((k) => k.id === 'svc')) throw new Error('the key id svc is reserved');
  const keys = new Map<string, Buffer>([...listed.map((k) => [k.id, k.key] as const), ['svc', derived]]);
  const currentKeyId = listed[0]?.id ?? 'svc';
  const current = keys.get(currentKeyId)!;
  const aad = (domain: string) => Buffer.from(`veche-federation-secret\n${domain}`);

  return {
    currentKeyId,
    seal(domain, secret) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(aad(domain));
      const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return `${prefix}${currentKeyId}:${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')}`;
    },
    open(domain, stored) {
      if (!stored.startsWith(prefix)) return stored;
      const rest = stored.slice(prefix.length);
      const colon = rest.indexOf(':');
      const keyId = rest.slice(0, colon);
      const key = keys.get(keyId);
      if (!key)
        throw new Error(`the link secret of ${domain} is sealed with key ${keyId}, which is not configured`);
      const raw = Buffer.from(rest.slice(colon + 1), 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAAD(aad(domain));
      decipher.setAuthTag(raw.subarray(12, 28));
      try {
        return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      } catch {
        throw new Error(`the link secret of ${domain} does not open with key ${keyId}`);
      }
    },
    needsResealing(stored) {
      return !stored.startsWith(`${prefix}${currentKeyId}:`);
    },
  };
}
