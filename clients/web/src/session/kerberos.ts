/**
 * Kerberos sign-in in the browser (issue 20): the browser does SPNEGO by itself when the gateway's
 * `POST /api/auth/negotiate` answers 401 `WWW-Authenticate: Negotiate` and its policy allows the
 * server; the client only reads the gateway's reason when it still refuses.
 */
/**
 * Why the gateway refused a Kerberos sign-in (an ApiError's `details.reason`): `missing_token`,
 * `unknown_principal`, `negotiate_failed`… Read by shape, so this module needs no DOM types.
 */
export function negotiateRefusal(error: unknown): string | undefined {
  if (!(error instanceof Error) || !('code' in error) || error.code !== 'unauthorized') return undefined;
  const details = 'details' in error ? error.details : undefined;
  return typeof details === 'object' &&
    details !== null &&
    'reason' in details &&
    typeof details.reason === 'string'
    ? details.reason
    : undefined;
}

/**
 * `negotiate` once more when the browser sent no token at all. Chromium (156, Linux) answers the
 * first Negotiate challenge after it starts with nothing: its net-log shows AUTH_HANDLER_CREATE_RESULT
 * ERR_UNSUPPORTED_AUTH_SCHEME before it has loaded libgssapi_krb5; the next challenge loads the
 * library and gets a token. A browser with no ticket sends nothing twice, and that is the answer.
 */
export async function negotiateTwice<T>(negotiate: () => Promise<T>): Promise<T> {
  try {
    return await negotiate();
  } catch (error) {
    if (negotiateRefusal(error) !== 'missing_token') throw error;
    return negotiate();
  }
}
