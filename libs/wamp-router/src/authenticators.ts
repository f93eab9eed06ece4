/**
 * Ticket authenticators for the local router. Each one answers for the authids it knows (`null` means
 * "not mine", so another may answer) and rejects a ticket it knows to be wrong.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthorized } from '@veche/errors';

export interface TicketRequest {
  realm: string;
  authid: string;
  ticket: string;
  /** The id the session will have once welcomed (Crossbar passes it as the details' `session`). */
  session?: number;
}

export interface TicketIdentity {
  authrole: string;
  /** When the authenticator maps the client's authid to another (default: the client's). */
  authid?: string;
  authextra?: Record<string, unknown>;
}

/** What the router lets an authenticator do: call a procedure registered on the router itself. */
export interface RouterCalls {
  call(
    procedure: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<unknown>;
}

export type Authenticator = (request: TicketRequest, router: RouterCalls) => Promise<TicketIdentity | null>;

const serviceAuthid = /^service:[a-z0-9][a-z0-9-]{0,62}$/;

/** Compares without leaking where the strings differ or how long the secret is. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Services authenticate as `service:<name>` with the shared service secret and get the role `service`. */
export function serviceAuthenticator(secret: string): Authenticator {
  if (secret.length < 16) throw new RangeError('the service secret must be at least 16 characters');
  return async ({ authid, ticket }) => {
    if (!authid.startsWith('service:')) return null;
    if (!serviceAuthid.test(authid) || !sameSecret(ticket, secret)) {
      throw unauthorized('Invalid service credentials');
    }
    return { authrole: 'service' };
  };
}

/** Asks each authenticator in turn; the first that answers decides. Nobody answering is a rejection. */
export function composeAuthenticators(...authenticators: readonly Authenticator[]): Authenticator {
  return async (request, router) => {
    for (const authenticate of authenticators) {
      const identity = await authenticate(request, router);
      if (identity !== null) return identity;
    }
    throw unauthorized('Unknown authid');
  };
}

/**
 * Delegates user tickets to a procedure a service (the gateway) registers on the router, with
 * Crossbar's dynamic-authenticator contract so the same procedure serves both routers:
 * `procedure(realm, authid, {authmethod: 'ticket', ticket})` → a role string, or
 * `{role, authid?, extra?}`; an error means rejected. Service authids never reach it.
 */
export function procedureAuthenticator(procedure: string, { timeoutMs = 5_000 } = {}): Authenticator {
  return async ({ realm, authid, ticket, session }, router) => {
    if (authid.startsWith('service:')) return null;
    const result = await router.call(
      procedure,
      [realm, authid, { authmethod: 'ticket', ticket, ...(session === undefined ? {} : { session }) }],
      {},
      timeoutMs,
    );
    const answer = Array.isArray(result) ? (result[0] as unknown) : result;
    if (typeof answer === 'string' && answer.length > 0) return { authrole: answer };
    if (typeof answer === 'object' && answer !== null) {
      const fields = answer as Record<string, unknown>;
      const role = fields['role'] ?? fields['authrole'];
      if (typeof role === 'string' && role.length > 0) {
        const identity: TicketIdentity = { authrole: role };
        if (typeof fields['authid'] === 'string') {
          // A ticket proves one identity: a client asking for another authid (a user presenting
          // someone's token under their own id, or the reverse) is refused, not renamed.
          if (authid !== '' && fields['authid'] !== authid) {
            throw unauthorized('The authid is not the identity the ticket proves');
          }
          identity.authid = fields['authid'];
        }
        const extra = fields['extra'] ?? fields['authextra'];
        if (typeof extra === 'object' && extra !== null)
          identity.authextra = extra as Record<string, unknown>;
        return identity;
      }
    }
    throw unauthorized('The authenticator returned no role');
  };
}
