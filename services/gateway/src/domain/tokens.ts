/**
 * The gateway's credentials. Opaque tokens (mail links, refresh tokens) are random and kept only as
 * SHA-256 hashes. Access tokens are HS256 JWTs (jose) with the algorithm pinned when verifying, so an
 * `alg: none` or RS/HS-confused token is refused.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { unauthorized } from '@veche/errors';

export const newOpaqueToken = (): string => randomBytes(32).toString('base64url');
export const hashToken = (token: string): string =>
  createHash('sha256').update(token, 'utf8').digest('base64url');

export interface AccessClaims {
  userId: string;
  sessionId: string;
  role: 'user' | 'admin';
}

/** A verified token's claims and when it expires (a WAMP session admitted with it ends then). */
export type VerifiedAccess = AccessClaims & { expiresAtMs: number };

export interface AccessTokens {
  sign(claims: AccessClaims): Promise<{ token: string; expiresIn: number }>;
  /** Rejects with `unauthorized` for anything but a valid, unexpired token of ours. */
  verify(token: string): Promise<VerifiedAccess>;
}

const issuer = 'veche-gateway';
const audience = 'veche';

/**
 * Verified tokens, remembered until they expire: a client sends the same token with every request
 * for minutes, and jose's HMAC check (WebCrypto, asynchronous) was an eighth of the gateway's CPU per
 * request. Only a successfully verified token is remembered, with its expiry checked on every use;
 * the session and account are still checked on every request by the caller.
 */
const verifiedLimit = 10_000;

export function createAccessTokens(
  secret: string,
  ttlSeconds: number,
  /** Milliseconds since the epoch; tests pass their own clock instead of sleeping past an expiry. */
  now: () => number = Date.now,
): AccessTokens {
  const key = new TextEncoder().encode(secret);
  const verified = new Map<string, { claims: AccessClaims; expiresAtMs: number }>();
  return {
    async sign({ userId, sessionId, role }) {
      const token = await new SignJWT({ sid: sessionId, role })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(Math.floor(now() / 1000))
        .setExpirationTime(Math.floor(now() / 1000) + ttlSeconds)
        .sign(key);
      return { token, expiresIn: ttlSeconds };
    },
    async verify(token) {
      if (typeof token !== 'string' || token.length > 4096) throw unauthorized('Invalid access token');
      const known = verified.get(token);
      if (known) {
        if (known.expiresAtMs > now()) return { ...known.claims, expiresAtMs: known.expiresAtMs };
        verified.delete(token);
        throw unauthorized('Access token expired', { details: { reason: 'expired' } });
      }
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer,
          audience,
          currentDate: new Date(now()),
        });
        const role = payload['role'];
        const sid = payload['sid'];
        if (
          typeof payload.sub !== 'string' ||
          typeof sid !== 'string' ||
          (role !== 'user' && role !== 'admin') ||
          typeof payload.exp !== 'number'
        ) {
          throw unauthorized('Invalid access token');
        }
        const claims: AccessClaims = { userId: payload.sub, sessionId: sid, role };
        const expiresAtMs = payload.exp * 1000;
        // Oldest first out: a Map iterates in insertion order.
        if (verified.size >= verifiedLimit) verified.delete(verified.keys().next().value ?? '');
        verified.set(token, { claims, expiresAtMs });
        return { ...claims, expiresAtMs };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired)
          throw unauthorized('Access token expired', { details: { reason: 'expired' } });
        throw unauthorized('Invalid access token');
      }
    },
  };
}

export interface DeviceTokens {
  /** A new token naming this account and a fresh device id. */
  issue(userId: string): string;
  /** The account and device a token of ours names, or undefined for anything else. */
  verify(token: string): { userId: string; deviceId: string } | undefined;
}

/**
 * Device tokens (OWASP's "device cookies"): handed to a browser at each successful log-in, they let
 * a later log-in to the same account be judged on that device's own failures. They grant nothing
 * else, so they are signed, not stored: `<userId>.<deviceId>.<HMAC-SHA256>`.
 */
export function createDeviceTokens(secret: string): DeviceTokens {
  const key = createHash('sha256').update(`veche-device-tokens:${secret}`).digest();
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url');
  return {
    issue(userId) {
      const payload = `${userId}.${randomBytes(16).toString('base64url')}`;
      return `${payload}.${mac(payload)}`;
    },
    verify(token) {
      if (token.length > 300) return undefined;
      const [userId, deviceId, signature, extra] = token.split('.');
      if (!userId || !deviceId || !signature || extra !== undefined) return undefined;
      const expected = Buffer.from(mac(`${userId}.${deviceId}`));
      const given = Buffer.from(signature);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
      return { userId, deviceId };
    },
  };
}
