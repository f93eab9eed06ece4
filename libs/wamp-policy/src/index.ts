/**
 * Who may do what on the WAMP router. One pure function shared by the production authorizer (Crossbar
 * calls the gateway's authorizer procedure, which uses it) and the local router (which calls it
 * in-process), so the rule cannot drift between the two.
 */

/** The only realm Veche uses. */
export const vecheRealm = 'veche';

export const wampActions = ['subscribe', 'publish', 'register', 'call'] as const;
export type WampAction = (typeof wampActions)[number];

export const wampRoles = ['user', 'service'] as const;
export type WampRole = (typeof wampRoles)[number];

export const userStreams = ['rooms', 'presence', 'logs', 'account'] as const;
export type UserStream = (typeof userStreams)[number];

export interface WampPrincipal {
  authrole: string;
  authid: string;
}

export interface AuthorizationDecision {
  allowed: boolean;
  /** Why, for the router's log; never sent to the client. */
  reason: string;
}

export interface WampPolicyOptions {
  /** Procedures a `user` may call directly (exact URIs). Empty by default: users go through /api. */
  publicProcedures?: Iterable<string>;
}

export interface WampPolicy {
  authorize: (principal: WampPrincipal, action: WampAction, uri: string) => AuthorizationDecision;
  isAllowed: (principal: WampPrincipal, action: WampAction, uri: string) => boolean;
}

/** Longest URI we accept at all; a topic is an address, not a payload. */
export const maxUriLength = 255;

/**
 * A URI component we accept in a user's address: letters, digits, `_` and `-` (user ids are UUIDs or
 * integers). This excludes `.` (which would shift the prefix), the wildcards of every router syntax
 * (`#`, `*`, `+`, and the empty component of WAMP wildcard matching) and whitespace.
 */
const safeComponent = /^[A-Za-z0-9_-]+$/;

export function isSafeUriComponent(component: string): boolean {
  return component.length > 0 && safeComponent.test(component);
}

/** A dotted URI whose every component is safe; the shape of every topic a user may touch. */
export function isSafeUri(uri: string): boolean {
  if (uri.length === 0 || uri.length > maxUriLength) return false;
  return uri.split('.').every(isSafeUriComponent);
}

/** Loose WAMP URI check for services: non-empty components, no whitespace. */
function isWellFormedUri(uri: string): boolean {
  if (uri.length === 0 || uri.length > maxUriLength) return false;
  return uri.split('.').every((component) => component.length > 0 && !/\s/.test(component));
}

const userTopicPrefix = 'veche.user.';

/** The personal topic a service publishes to and the user subscribes to: `veche.user.<userId>.<stream>`. */
export function userTopic(userId: string, stream: UserStream): string {
  if (!isSafeUriComponent(userId)) throw new RangeError('userId is not a valid URI component');
  return `${userTopicPrefix}${userId}.${stream}`;
}

const allow = (reason: string): AuthorizationDecision => ({ allowed: true, reason });
const deny = (reason: string): AuthorizationDecision => ({ allowed: false, reason });

function authorizeUser(
  authid: string,
  action: WampAction,
  uri: string,
  publicProcedures: ReadonlySet<string>,
): AuthorizationDecision {
  switch (action) {
    case 'subscribe': {
      if (!isSafeUriComponent(authid)) return deny('authid is not a valid URI component');
      if (!isSafeUri(uri)) return deny('topic is malformed or uses wildcards');
      // The trailing dot makes it an exact component match: user `1` does not own `veche.user.12.`.
      const ownPrefix = `${userTopicPrefix}${authid}.`;
      if (!uri.startsWith(ownPrefix) || uri.length === ownPrefix.length) {
        return deny('topic is outside the user’s own prefix');
      }
      return allow('own topic');
    }
    case 'call':
      return publicProcedures.has(uri) ? allow('public procedure') : deny('procedure is not public');
    case 'publish':
      return deny('users never publish');
    case 'register':
      return deny('users never register');
  }
}

export function createWampPolicy(options: WampPolicyOptions = {}): WampPolicy {
  const publicProcedures: ReadonlySet<string> = new Set(options.publicProcedures ?? []);
  const authorize = (principal: WampPrincipal, action: WampAction, uri: string): AuthorizationDecision => {
    // Inputs come from the wire (via the router or Crossbar's authorizer call): check their types too.
    if (typeof uri !== 'string' || typeof principal?.authid !== 'string') return deny('malformed request');
    if (!(wampActions as readonly string[]).includes(action)) return deny('unknown action');
    switch (principal.authrole) {
      case 'service':
        return isWellFormedUri(uri) ? allow('service') : deny('malformed uri');
      case 'user':
        return authorizeUser(principal.authid, action, uri, publicProcedures);
      default:
        return deny(`role ${JSON.stringify(principal.authrole)} has no permissions`);
    }
  };
  return {
    authorize,
    isAllowed: (principal, action, uri) => authorize(principal, action, uri).allowed,
  };
}

const defaultPolicy = createWampPolicy();

/** The default policy (no public procedures). */
export const authorize: WampPolicy['authorize'] = defaultPolicy.authorize;
export const isAllowed: WampPolicy['isAllowed'] = defaultPolicy.isAllowed;
