/**
 * The WAMP router's security, served by the gateway: `veche.gateway.authenticate` (Crossbar's dynamic
 * ticket authenticator contract, also used by the local router's procedureAuthenticator) and
 * `veche.gateway.authorize` (Crossbar's dynamic authorizer contract, deciding with the shared pure
 * policy of @veche/wamp-policy). Both are called with positional arguments, which @veche/wamp's
 * kwargs-only `register` does not offer, so this module keeps its own autobahn session.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { asVecheError, unauthorized } from '@veche/errors';
import type { Logger } from '@veche/log';
import {
  createWampPolicy,
  vecheRealm,
  wampActions,
  type WampAction,
  type WampPolicy,
} from '@veche/wamp-policy';
import type { Principal } from './accounts.ts';

export const securityProcedures = {
  authenticate: 'veche.gateway.authenticate',
  authorize: 'veche.gateway.authorize',
} as const;

type Kwargs = Record<string, unknown>;
interface Session {
  register(procedure: string, endpoint: (args: unknown[], kwargs: Kwargs) => unknown): Promise<unknown>;
  call(procedure: string, args: unknown[], kwargs?: Kwargs, options?: Kwargs): Promise<unknown>;
  leave(reason: string): void;
}
interface Connection {
  onopen: (session: Session) => void;
  onclose: (reason: string, details: Kwargs) => boolean;
  open(): void;
  close(reason?: string): void;
}
interface AutobahnModule {
  Connection: new (options: Kwargs) => Connection;
  Error: new (error: string, args?: unknown[], kwargs?: Kwargs) => Error;
  log: { warn: (...args: unknown[]) => void };
}
const autobahn = createRequire(import.meta.url)('autobahn') as AutobahnModule;
autobahn.log.warn = () => {};

const serviceAuthid = /^service:[a-z0-9][a-z0-9-]{0,62}$/;

function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export interface AuthenticateDeps {
  serviceSecret: string;
  /** The access token's principal, checked against the live session (rejects otherwise). */
  authenticateToken: (token: string) => Promise<Principal>;
}

export interface WampIdentity {
  role: 'user' | 'service';
  authid: string;
  extra?: Kwargs;
}

/**
 * Crossbar's dynamic authenticator: `(realm, authid, details)` → `{role, authid, extra}`; a rejection
 * refuses the session. A user's authid, when the client sends one, must be the token's subject.
 */
export async function authenticateWamp(deps: AuthenticateDeps, args: unknown[]): Promise<WampIdentity> {
  const [realm, authid, details] = args;
  const fields = (typeof details === 'object' && details !== null ? details : {}) as Kwargs;
  const ticket = fields['ticket'];
  if (realm !== vecheRealm) throw unauthorized('Unknown realm');
  if (typeof ticket !== 'string' || ticket.length === 0 || ticket.length > 4096)
    throw unauthorized('No ticket');
  if (fields['authmethod'] !== undefined && fields['authmethod'] !== 'ticket')
    throw unauthorized('Only ticket authentication');
  const claimed = typeof authid === 'string' ? authid : '';
  if (claimed.startsWith('service:')) {
    if (!serviceAuthid.test(claimed) || !sameSecret(ticket, deps.serviceSecret))
      throw unauthorized('Invalid service credentials');
    return { role: 'service', authid: claimed };
  }
  const principal = await deps.authenticateToken(ticket);
  if (claimed !== '' && claimed !== principal.userId)
    throw unauthorized('The authid is not the token’s subject');
  return {
    role: 'user',
    authid: principal.userId,
    extra: { sessionId: principal.sessionId, admin: principal.role === 'admin' },
  };
}

/** Crossbar's dynamic authorizer: `(session, uri, action, options)` → `{allow, disclose, cache}`. */
export function authorizeWamp(
  policy: WampPolicy,
  args: unknown[],
): { allow: boolean; disclose: boolean; cache: boolean } {
  const [session, uri, action] = args;
  const fields = (typeof session === 'object' && session !== null ? session : {}) as Kwargs;
  const authid = fields['authid'];
  const authrole = fields['authrole'];
  if (
    typeof authid !== 'string' ||
    typeof authrole !== 'string' ||
    typeof uri !== 'string' ||
    !(wampActions as readonly string[]).includes(action as string)
  ) {
    return { allow: false, disclose: false, cache: false };
  }
  const allowed = policy.isAllowed({ authid, authrole }, action as WampAction, uri);
  // The decision depends only on (session, uri, action): Crossbar may cache it for the session.
  return { allow: allowed, disclose: false, cache: true };
}

export interface WampSecurityOptions extends AuthenticateDeps {
  url: string;
  realm: string;
  log: Logger;
  publicProcedures?: Iterable<string>;
}

export interface WampSecurity {
  start(): void;
  /** Resolves once the procedures are registered on a session. */
  ready(timeoutMs: number): Promise<void>;
  readonly isConnected: boolean;
  /** Ends a user's live sessions (Crossbar's meta procedure; answers `false` where the router lacks it). */
  killSessions(authid: string, reason: string): Promise<boolean>;
  stop(): Promise<void>;
}

export function createWampSecurity(options: WampSecurityOptions): WampSecurity {
  const log = options.log.child({ component: 'wamp-security' });
  const policy = createWampPolicy({ publicProcedures: options.publicProcedures ?? [] });
  let session: Session | undefined;
  let stopped = false;
  let waiters: (() => void)[] = [];
  const connection = new autobahn.Connection({
    url: options.url,
    realm: options.realm,
    authmethods: ['ticket'],
    authid: 'service:gateway',
    onchallenge: () => options.serviceSecret,
    max_retries: -1,
    initial_retry_delay: 0.2,
    max_retry_delay: 5,
    retry_delay_growth: 1.5,
    retry_if_unreachable: true,
    // Refusals are logged by the endpoints themselves; autobahn would print them on the console.
    on_user_error: () => {},
    on_internal_error: (error: unknown, message: string) => log.error({ err: error }, message),
  });
  const refuse = (error: unknown) => {
    const e = asVecheError(error);
    return new autobahn.Error(`veche.error.${e.code === 'internal' ? 'internal' : e.code}`, [], {
      message: e.code === 'internal' ? 'Internal error' : e.message,
    });
  };
  connection.onopen = (newSession) => {
    void (async () => {
      try {
        await newSession.register(securityProcedures.authenticate, async (args) => {
          try {
            const identity = await authenticateWamp(options, args);
            log.debug({ authid: identity.authid, role: identity.role }, 'WAMP session authenticated');
            return identity;
          } catch (error) {
            log.info(
              {
                err: asVecheError(error).code === 'internal' ? error : undefined,
                reason: asVecheError(error).message,
              },
              'WAMP authentication refused',
            );
            throw refuse(error);
          }
        });
        await newSession.register(securityProcedures.authorize, (args) => {
          const decision = authorizeWamp(policy, args);
          if (!decision.allow)
            log.info({ session: args[0], uri: args[1], action: args[2] }, 'WAMP action refused');
          return decision;
        });
        session = newSession;
        log.info('WAMP authenticator and authorizer registered');
        for (const resolve of waiters.splice(0)) resolve();
      } catch (error) {
        log.error({ err: error }, 'registering the WAMP security procedures failed; reconnecting');
        try {
          newSession.leave('wamp.close.restore_failed');
        } catch {
          // already closed
        }
      }
    })();
  };
  connection.onclose = (reason, details) => {
    session = undefined;
    if (stopped) return true;
    log.warn({ reason, details }, 'WAMP security session closed; reconnecting');
    return false;
  };
  return {
    start: () => connection.open(),
    get isConnected() {
      return session !== undefined;
    },
    ready(timeoutMs) {
      if (session) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`WAMP security not registered within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    async killSessions(authid, reason) {
      if (!session) return false;
      try {
        await session.call('wamp.session.kill_by_authid', [authid], { reason }, { timeout: 5_000 });
        return true;
      } catch (error) {
        log.warn({ err: error, authid }, 'wamp.session.kill_by_authid failed');
        return false;
      }
    },
    async stop() {
      stopped = true;
      waiters = [];
      try {
        connection.close('wamp.close.normal');
      } catch {
        // never opened
      }
    },
  };
}
