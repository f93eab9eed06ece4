/** Whether a joined session may subscribe, publish, register or call a URI: the authorizer decides, logged when it refuses. */
import type { Logger } from '@veche/log';
import type { AuthorizationDecision, WampAction, WampPrincipal } from '@veche/wamp-policy';
import type { FoxSession } from './fox-wamp.ts';
import type { SessionStates } from './session-states.ts';

export type Authorizer = (
  principal: WampPrincipal,
  action: WampAction,
  uri: string,
) => AuthorizationDecision | boolean;

export type AuthorizationCheck = (session: FoxSession, action: WampAction, uri: string) => boolean;

export function createAuthorizationCheck(
  authorize: Authorizer,
  log: Logger,
  { stateOf }: SessionStates,
): AuthorizationCheck {
  return (session, action, uri) => {
    const principal = stateOf(session).principal;
    if (!principal) return false;
    let decision: AuthorizationDecision | boolean;
    try {
      decision = authorize(principal, action, uri);
    } catch (error) {
      log.error({ err: error, action, uri }, 'authorizer threw; denying');
      return false;
    }
    const allowed = typeof decision === 'boolean' ? decision : decision.allowed;
    if (!allowed) {
      log.info(
        {
          sessionId: session.sessionId,
          authid: principal.authid,
          authrole: principal.authrole,
          action,
          uri,
          reason: typeof decision === 'boolean' ? undefined : decision.reason,
        },
        'not authorized',
      );
    }
    return allowed;
  };
}
