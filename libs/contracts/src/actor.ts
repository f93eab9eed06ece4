/**
 * The signed actor assertion the gateway puts on streamed requests to a service's internal HTTP:
 * `base64url(JSON{userId, role, exp})` + "." + `base64url(HMAC-SHA256(secret, payload))`. Short-lived
 * (60 s by default), so a captured header is useless soon after; the secret is VECHE_SERVICE_SECRET.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Actor {
  userId: string;
  role: 'user' | 'admin';
}

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function signActor(actor: Actor, secret: string, ttlSeconds = 60, now = Date.now()): string {
  const payload = Buffer.from(
    JSON.stringify({ userId: actor.userId, role: actor.role, exp: Math.floor(now / 1000) + ttlSeconds }),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

/** The actor, or `undefined` when the assertion is missing, forged, malformed or expired. */
export function verifyActor(header: unknown, secret: string, now = Date.now()): Actor | undefined {
  if (typeof header !== 'string' || header.length > 1024) return undefined;
  const [payload, signature, extra] = header.split('.');
  if (!payload || !signature || extra !== undefined) return undefined;
  const expected = Buffer.from(mac(secret, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof value['userId'] !== 'string' || typeof value['exp'] !== 'number') return undefined;
    if (value['role'] !== 'user' && value['role'] !== 'admin') return undefined;
    if (value['exp'] * 1000 < now) return undefined;
    return { userId: value['userId'], role: value['role'] };
  } catch {
    return undefined;
  }
}
