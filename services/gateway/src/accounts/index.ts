/**
 * The gateway's commands and queries over accounts and sessions, one module per concern. Each command
 * reads the state it decides on from the inline read models, appends the resulting events with the
 * version it read (a concurrent change makes it fail with `conflict`), and lets the outbox relay tell
 * the rest of the fleet. Nothing here knows about HTTP: the routes and the WAMP procedures both call these.
 */
import * as admin from './admin.ts';
import { createAccountsContext, type AccountsContext, type AccountsOptions } from './context.ts';
import * as login from './login.ts';
import * as passwords from './passwords.ts';
import * as profile from './profile.ts';
import { accountById } from './read-model.ts';
import * as registration from './registration.ts';
import * as sessions from './sessions.ts';

export type { AccountsOptions, Principal, RequestContext, TokenPair } from './context.ts';

export type Accounts = ReturnType<typeof createAccounts>;

export function createAccounts(options: AccountsOptions) {
  const c = createAccountsContext(options);
  const bound =
    <Args extends unknown[], Result>(command: (c: AccountsContext, ...args: Args) => Result) =>
    (...args: Args): Result =>
      command(c, ...args);
  return {
    /** The account aggregate's state as commands see it (the read model's row). */
    accountState: (userId: string) => accountById(c.db, userId),
    authenticate: bound(sessions.authenticate),
    register: bound(registration.register),
    verifyEmail: bound(registration.verifyEmail),
    resendVerification: bound(registration.resendVerification),
    login: bound(login.login),
    accountOfPrincipal: bound(login.accountOfPrincipal),
    loginWithPrincipal: bound(login.loginWithPrincipal),
    refresh: bound(sessions.refresh),
    logout: bound(sessions.logout),
    logoutEverywhere: bound(sessions.logoutEverywhere),
    listSessions: bound(sessions.listSessions),
    revokeOwnSession: bound(sessions.revokeOwnSession),
    requestPasswordReset: bound(passwords.requestPasswordReset),
    confirmPasswordReset: bound(passwords.confirmPasswordReset),
    changePassword: bound(passwords.changePassword),
    me: bound(profile.me),
    updateProfile: bound(profile.updateProfile),
    requestEmailChange: bound(profile.requestEmailChange),
    confirmEmailChange: bound(profile.confirmEmailChange),
    searchUsers: bound(profile.searchUsers),
    listUsers: bound(admin.listUsers),
    setDisabled: bound(admin.setDisabled),
    setKerberosPrincipals: bound(admin.setKerberosPrincipals),
    listKerberosPrincipals: bound(admin.listKerberosPrincipals),
  };
}
