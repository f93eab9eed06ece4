/**
 * The WAMP router's security, served by the gateway: `veche.gateway.authenticate` (Crossbar's dynamic
 * ticket authenticator contract, also used by the local router's procedureAuthenticator) and
 * `veche.gateway.authorize` (Crossbar's dynamic authorizer contract, deciding with the shared pure
 * policy of @veche/wamp-policy). Both are called with positional arguments, which @veche/wamp's
 * kwargs-only `register` does not offer, so this module keeps its own autobahn session.
 *
 * Every gateway replica registers both procedures as shared registrations (`invoke: roundrobin`):
 * Crossbar refuses a second callee of a single registration, and a gateway that cannot register its
 * authenticator cannot start. Reconnection is done here, not by autobahn, which stops retrying for good
 * after any leave (ours after a refused registration, or the router's GOODBYE).
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
import type { Principal } from './accounts/index.ts';
import type { KillOutcome } from './wamp-sessions.ts';

export const securityProcedures = {
  authenticate: 'veche.gateway.authenticate',
  authorize: 'veche.gateway.authorize',
} as const;

type Kwargs = Record<string, unknown>;
interface Session {
  register(
    procedure: string,
    endpoint: (args: unknown[], kwargs: Kwargs) => unknown,
    options?: Kwargs,
  ): Promise<unknown>;
  call(procedure: string, args: unknown[], kwargs?: Kwargs, options?: Kwargs): Promise<unknown>;
  leave(reason: string): void;
  unregister(registration: unknown): Promise<unknown>;
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
  /**
   * Remembers the router's session id of an admitted user, so the session can be ended with its token
   * and its account session (wamp-sessions.ts). A failure refuses the session: one that could not be
   * ended later must not open.
   */
  recordWampSession?: (
    wampSessionId: number,
    owner: { userId: string; sessionId: string; expiresAtMs: number },
  ) => Promise<void>;
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
  if (deps.recordWampSession) {
    // Crossbar (and the local router) pass the id the session will have as `session`.
    const wampSessionId = fields['session'];
    if (!Number.isSafeInteger(wampSessionId) || principal.expiresAtMs === undefined)
      throw unauthorized('No session id to end the session with');
    await deps.recordWampSession(wampSessionId as number, {
      userId: principal.userId,
      sessionId: principal.sessionId,
      expiresAtMs: principal.expiresAtMs,
    });
  }
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
  // Crossbar 21.x ignores `cache` (every user subscribe/call/publish is one call of this procedure),
  // so the decision is pure and in memory: no database round trip (bench/wamp-authorizer.ts).
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
  /**
   * Ends one session by its router id (`wamp.session.kill`): `killed`, `gone` (the router knows no such
   * session) or `failed` (no router connection, a refusal, a timeout).
   */
  killSession(wampSessionId: number, reason: string, message: string): Promise<KillOutcome>;
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
    // onclose below reconnects; autobahn's own retry would stop after any leave.
    max_retries: 0,
    // Refusals are logged by the endpoints themselves; autobahn would print them on the console.
    on_user_error: () => {},
    on_internal_error: (error: unknown, message: string) => log.error({ err: error }, message),
  });
  const shared = { invoke: 'roundrobin' };
  const refuse = (error: unknown) => {
    const e = asVecheError(error);
    return new autobahn.Error(`veche.error.${e.code === 'internal' ? 'internal' : e.code}`, [], {
      message: e.code === 'internal' ? 'Internal error' : e.message,
    });
  };
  /** This session's registrations, unregistered first when the gateway stops (a rolling update). */
  let registrations: unknown[] = [];
  /** Authentications under way: stop lets them finish after unregistering. */
  let inFlight = 0;
  connection.onopen = (newSession) => {
    void (async () => {
      try {
        registrations = [];
        const authenticate = await newSession.register(
          securityProcedures.authenticate,
          async (args) => {
            inFlight += 1;
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
            } finally {
              inFlight -= 1;
            }
          },
          shared,
        );
        registrations.push(authenticate);
        const authorize = await newSession.register(
          securityProcedures.authorize,
          (args) => {
            const decision = authorizeWamp(policy, args);
            if (!decision.allow)
              log.info({ session: args[0], uri: args[1], action: args[2] }, 'WAMP action refused');
            return decision;
          },
          shared,
        );
        registrations.push(authorize);
        session = newSession;
        retryDelayMs = initialRetryDelayMs;
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
  const initialRetryDelayMs = 200;
  let retryDelayMs = initialRetryDelayMs;
  let retryTimer: NodeJS.Timeout | undefined;
  connection.onclose = (reason, details) => {
    session = undefined;
    if (stopped) return true;
    log.warn({ reason, details, retryInMs: retryDelayMs }, 'WAMP security session closed; reconnecting');
    clearTimeout(retryTimer);
    // open() only once autobahn has finished closing this connection.
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (stopped) return;
      try {
        connection.open();
      } catch (error) {
        log.debug({ err: error }, 'reopening the WAMP security connection');
      }
    }, retryDelayMs);
    retryDelayMs = Math.min(Math.ceil(retryDelayMs * 1.5), 5_000);
    return true;
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
    async killSession(wampSessionId, reason, message) {
      if (!session) return 'failed';
      try {
        await session.call('wamp.session.kill', [wampSessionId], { reason, message }, { timeout: 5_000 });
        return 'killed';
      } catch (error) {
        if ((error as { error?: unknown }).error === 'wamp.error.no_such_session') return 'gone';
        log.warn({ err: error, wampSessionId }, 'wamp.session.kill failed');
        return 'failed';
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      waiters = [];
      // The other replicas take new joins; the ones under way here finish (bounded waits).
      const current = session;
      if (current) {
        await Promise.race([
          Promise.allSettled(registrations.map((r) => current.unregister(r))),
          new Promise((resolve) => setTimeout(resolve, 2_000)),
        ]);
        const deadline = Date.now() + 5_000;
        while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      }
      try {
        connection.close('wamp.close.normal');
      } catch {
        // never opened
      }
    },
  };
}
