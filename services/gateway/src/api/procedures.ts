/**
 * The procedures the gateway serves itself (auth, account, admin), one handler per declared route,
 * each typed from its route in @veche/contracts: a missing handler, or one that reads a field its
 * route does not declare, does not compile.
 */
import type { RouteInput, accountRoutes, adminRoutes, authRoutes } from '@veche/contracts';
import type { ProcedureNames, RouteOfProcedure } from '@veche/service';
import type { Accounts, Principal } from '../accounts/index.ts';
import type { LocalCall, LocalHandler } from './rpc-routes.ts';

type GatewayRoutes = [...typeof authRoutes, ...typeof accountRoutes, ...typeof adminRoutes];
type Procedure = ProcedureNames<GatewayRoutes>;

interface Call<P extends Procedure> extends Omit<LocalCall, 'input'> {
  input: RouteInput<RouteOfProcedure<GatewayRoutes, P>>;
}
export type GatewayProcedures = { [P in Procedure]: (call: Call<P>) => Promise<unknown> };

/** The signed-in caller of a route declared `user` or `admin` (the HTTP layer authenticated it). */
const signedIn = (principal: Principal | null): Principal => {
  if (!principal) throw new TypeError('a signed-in route was called without a principal');
  return principal;
};

export function gatewayProcedures(accounts: Accounts): GatewayProcedures {
  return {
    'veche.gateway.auth.register': ({ input, context }) => accounts.register(input, context),
    'veche.gateway.auth.verify': ({ input, context }) => accounts.verifyEmail(input.token, context),
    'veche.gateway.auth.resend_verification': ({ input, context }) =>
      accounts.resendVerification(input.email, context),
    'veche.gateway.auth.login': ({ input, context }) => accounts.login(input, context),
    'veche.gateway.auth.refresh': ({ input, context }) => accounts.refresh(input.refreshToken, context),
    'veche.gateway.auth.logout': ({ principal, context }) => accounts.logout(signedIn(principal), context),
    'veche.gateway.auth.logout_all': ({ principal, context }) =>
      accounts.logoutEverywhere(signedIn(principal), context),
    'veche.gateway.auth.request_password_reset': ({ input, context }) =>
      accounts.requestPasswordReset(input.email, context),
    'veche.gateway.auth.confirm_password_reset': ({ input, context }) =>
      accounts.confirmPasswordReset(input, context),
    'veche.gateway.account.me': ({ principal }) => accounts.me(signedIn(principal).userId),
    'veche.gateway.account.update_profile': ({ principal, input, context }) =>
      accounts.updateProfile(signedIn(principal), input, context),
    'veche.gateway.account.change_password': ({ principal, input, context }) =>
      accounts.changePassword(signedIn(principal), input, context),
    'veche.gateway.account.request_email_change': ({ principal, input, context }) =>
      accounts.requestEmailChange(signedIn(principal), input, context),
    'veche.gateway.account.confirm_email_change': ({ input, context }) =>
      accounts.confirmEmailChange(input.token, context),
    'veche.gateway.account.list_sessions': ({ principal }) => accounts.listSessions(signedIn(principal)),
    'veche.gateway.account.revoke_session': ({ principal, input, context }) =>
      accounts.revokeOwnSession(signedIn(principal), input.sessionId, context),
    'veche.gateway.account.search_users': ({ input }) => accounts.searchUsers(input.q, input.limit),
    'veche.gateway.admin.list_users': ({ input }) => accounts.listUsers(input),
    'veche.gateway.admin.disable_user': ({ principal, input, context }) =>
      accounts.setDisabled(signedIn(principal), input.userId, true, context),
    'veche.gateway.admin.enable_user': ({ principal, input, context }) =>
      accounts.setDisabled(signedIn(principal), input.userId, false, context),
    'veche.gateway.admin.set_kerberos_principals': ({ principal, input, context }) =>
      accounts.setKerberosPrincipals(signedIn(principal), input.userId, input.principals, context),
    'veche.gateway.admin.list_kerberos_principals': () => accounts.listKerberosPrincipals(),
  };
}

/**
 * The handlers by name, as the HTTP layer calls them. It validated each call's input against that
 * procedure's route schema first, so the input is that route's: the one place the type is restated.
 */
export const localHandlersOf = (procedures: GatewayProcedures): [string, LocalHandler][] =>
  Object.entries(procedures).map(([name, handle]) => [name, handle as (call: LocalCall) => Promise<unknown>]);
