/**
 * The gateway's credentials. Opaque tokens (mail links, refresh tokens) are random and kept only as
 * SHA-256 hashes. Access tokens are HS256 JWTs (jose) with the algorithm pinned when verifying, so an
 * `alg: none` or RS/HS-confused token is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
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

export interface AccessTokens {
  sign(claims: AccessClaims): Promise<{ token: string; expiresIn: number }>;
  /** Rejects with `unauthorized` for anything but a valid, unexpired token of ours. */
  verify(token: string): Promise<AccessClaims>;
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

export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const key = new TextEncoder().encode(secret);
  const verified = new Map<string, { claims: AccessClaims; expiresAtMs: number }>();
  return {
    async sign({ userId, sessionId, role }) {
      const token = await new SignJWT({ sid: sessionId, role })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(key);
      return { token, expiresIn: ttlSeconds };
    },
    async verify(token) {
      if (typeof token !== 'string' || token.length > 4096) throw unauthorized('Invalid access token');
      const known = verified.get(token);
      if (known) {
        if (known.expiresAtMs > Date.now()) return known.claims;
        verified.delete(token);
        throw unauthorized('Access token expired', { details: { reason: 'expired' } });
      }
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer, audience });
        const role = payload['role'];
        const sid = payload['sid'];
        if (
          typeof payload.sub !== 'string' ||
          typeof sid !== 'string' ||
          (role !== 'user' && role !== 'admin')
        ) {
          throw unauthorized('Invalid access token');
        }
        const claims: AccessClaims = { userId: payload.sub, sessionId: sid, role };
        if (typeof payload.exp === 'number') {
          // Oldest first out: a Map iterates in insertion order.
          if (verified.size >= verifiedLimit) verified.delete(verified.keys().next().value ?? '');
          verified.set(token, { claims, expiresAtMs: payload.exp * 1000 });
        }
        return claims;
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired)
          throw unauthorized('Access token expired', { details: { reason: 'expired' } });
        throw unauthorized('Invalid access token');
      }
    },
  };
}
