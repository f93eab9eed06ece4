/**
 * Who opens a `/pubsub` connection. Authenticators are tried in order: each says "not mine" (null),
 * names the user, or refuses (throws). Bearer tokens (`Authorization: Bearer …`, or `?access_token=`
 * for browsers, which cannot set headers on a WebSocket) are checked by the gateway against the live
 * session, so a revoked session or a disabled account is refused at once. Kerberos (`Negotiate`) is
 * one more authenticator in this list (issue 20), its tokens checked by the gateway too.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { unauthorized } from '@veche/errors';

export interface UpgradeRequest {
  headers: IncomingHttpHeaders;
  /** The request's query, parsed (never logged: it may hold a token). */
  query: URLSearchParams;
}

export interface PubsubIdentity {
  userId: string;
  /** Headers for the 101 answer (Negotiate's mutual-authentication token). */
  responseHeaders?: Record<string, string>;
}

export interface PubsubAuthenticator {
  /** The scheme named in `WWW-Authenticate` when every authenticator refused (`Bearer`, `Negotiate`). */
  scheme: string;
  authenticate(request: UpgradeRequest): Promise<PubsubIdentity | null>;
}

const bearerHeader = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/** The token of a request, from the header or (browsers) the `access_token` query parameter. */
export function bearerToken(request: UpgradeRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = bearerHeader.exec(header);
    if (match?.[1]) return match[1];
  }
  const fromQuery = request.query.getAll('access_token');
  if (fromQuery.length === 1 && fromQuery[0] && fromQuery[0].length <= 4096) return fromQuery[0];
  return undefined;
}

/** Bearer tokens, verified by `verify` (the gateway's live-session check). */
export function bearerAuthenticator(verify: (token: string) => Promise<PubsubIdentity>): PubsubAuthenticator {
  return {
    scheme: 'Bearer',
    async authenticate(request) {
      const token = bearerToken(request);
      if (token === undefined) return null;
      return verify(token);
    },
  };
}

const negotiateHeader = /^Negotiate +([A-Za-z0-9+/]+={0,2})$/i;

/**
 * Kerberos: `Authorization: Negotiate <token>`, verified by `verify` (the gateway holds the keytab
 * and the principal → account mapping); the mutual-authentication token goes back on the 101.
 */
export function negotiateAuthenticator(
  verify: (token: string) => Promise<{ userId: string; responseToken?: string }>,
): PubsubAuthenticator {
  return {
    scheme: 'Negotiate',
    async authenticate(request) {
      const header = request.headers.authorization;
      if (typeof header !== 'string' || header.length > 65_600) return null;
      const token = negotiateHeader.exec(header.trim())?.[1];
      if (token === undefined) return null;
      const { userId, responseToken } = await verify(token);
      return {
        userId,
        ...(responseToken ? { responseHeaders: { 'WWW-Authenticate': `Negotiate ${responseToken}` } } : {}),
      };
    },
  };
}

/** The first authenticator that claims the request decides; nobody claiming it is a refusal. */
export async function authenticateUpgrade(
  authenticators: readonly PubsubAuthenticator[],
  request: UpgradeRequest,
): Promise<PubsubIdentity> {
  for (const authenticator of authenticators) {
    const identity = await authenticator.authenticate(request);
    if (identity) return identity;
  }
  throw unauthorized(
    'Send Authorization: Bearer <accessToken> (or ?access_token=<accessToken>), or Authorization: Negotiate <token>',
  );
}
