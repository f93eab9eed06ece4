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

export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  const key = new TextEncoder().encode(secret);
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
        return { userId: payload.sub, sessionId: sid, role };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired)
          throw unauthorized('Access token expired', { details: { reason: 'expired' } });
        throw unauthorized('Invalid access token');
      }
    },
  };
}
