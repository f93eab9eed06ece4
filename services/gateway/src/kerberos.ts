/**
 * Kerberos (GSS/SPNEGO) for `Authorization: Negotiate <token>` (issue 20), through the `kerberos`
 * binding of MIT's libgssapi_krb5. The service's keys come from the keytab named by
 * GATEWAY_KERBEROS_KEYTAB (a Docker secret); the GSS acceptor checks the ticket (its key, its
 * lifetime, the authenticator's clock skew) and MIT's replay cache refuses a token used twice on this
 * host. Tokens accepted are also recorded in PostgreSQL, so a token replayed to another replica is
 * refused too. Only one-leg exchanges are taken (Kerberos inside SPNEGO, as browsers, curl and
 * kinit-based clients send); anything else is a refusal.
 */
import { createHash } from 'node:crypto';
import kerberos from 'kerberos';
import { sql, type Kysely } from '@veche/db';
import { tablesOf } from './tables.ts';
import { unauthorized } from '@veche/errors';
import type { Logger } from '@veche/log';

export interface NegotiateResult {
  /** The client principal, e.g. alice@EXAMPLE.ORG. */
  principal: string;
  /** The mutual-authentication token for `WWW-Authenticate: Negotiate <token>`. */
  responseToken: string | undefined;
}

export interface NegotiateAcceptor {
  accept(token: string): Promise<NegotiateResult>;
  /** Forgets used tokens older than the clock-skew window (they would be refused as too old). */
  prune(): Promise<void>;
}

const negotiateHeader = /^Negotiate +([A-Za-z0-9+/]+={0,2})$/i;

/** The token of an `Authorization: Negotiate <token>` header, if that is what it is. */
export function negotiateToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || header.length > 65_600) return undefined;
  return negotiateHeader.exec(header.trim())?.[1];
}

/** How long an authenticator stays acceptable (MIT's default clock skew is 300 s), with a margin. */
const seenForSeconds = 600;

export function createNegotiateAcceptor(options: {
  keytab: string;
  /** `HTTP@host`; empty: any principal whose key is in the keytab. */
  service?: string | undefined;
  db: Kysely<unknown>;
  log: Logger;
}): NegotiateAcceptor {
  const { db, log } = options;
  // MIT reads the default keytab's name from the environment at each acceptance.
  process.env['KRB5_KTNAME'] = `FILE:${options.keytab}`;
  const refused = () =>
    unauthorized('The Kerberos token was refused', { details: { reason: 'negotiate_failed' } });
  return {
    async accept(token) {
      let principal: string;
      let responseToken: string | undefined;
      try {
        const server = await kerberos.initializeServer(options.service ?? '');
        const response = await server.step(token);
        if (!server.contextComplete || !server.username) throw new Error('the exchange needs more legs');
        principal = server.username;
        responseToken = response || server.response || undefined;
      } catch (error) {
        log.info({ reason: (error as Error).message }, 'Negotiate token refused');
        throw refused();
      }
      const tokenHash = createHash('sha256').update(token).digest('base64url');
      const fresh = await tablesOf(db)
        .insertInto('negotiate_tokens_seen')
        .values({ token_hash: tokenHash })
        .onConflict((oc) => oc.column('token_hash').doNothing())
        .returning('token_hash')
        .executeTakeFirst();
      if (!fresh) {
        log.warn({ principal }, 'Negotiate token replayed (seen by another replica)');
        throw refused();
      }
      return { principal, responseToken };
    },
    async prune() {
      await tablesOf(db)
        .deleteFrom('negotiate_tokens_seen')
        // Interval arithmetic on the server's clock, which the query builder has no words for.
        .where('seen_at', '<', sql<Date>`now() - make_interval(secs => ${seenForSeconds})`)
        .execute();
    },
  };
}
