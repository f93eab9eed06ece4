/**
 * How password guessing is slowed, following OWASP (growing delays by client address and by account,
 * and device tokens): never a lock an attacker can set. After a number of free failures, each further
 * failure on a key doubles the wait before the next attempt on that key is even checked. A client that
 * presents a device token from a past successful log-in to the same account is judged on that token's
 * failures alone, so an attacker hammering the account or sharing the user's address does not keep the
 * user out. Pure: the counters live in PostgreSQL (`login-throttle.ts`).
 */

export interface DelayPolicy {
  /** Failures in a row that cost nothing (typing mistakes). */
  freeFailures: number;
  /** The wait after the first failure that is not free; it doubles with each one after. */
  firstDelaySeconds: number;
  /** The longest wait, however many failures follow. */
  maxDelaySeconds: number;
}

/** Seconds to wait after the `failures`-th failure in a row: 0, …, 0, d, 2d, 4d, … up to the cap. */
export function delayAfterFailures(failures: number, policy: DelayPolicy): number {
  if (failures <= policy.freeFailures) return 0;
  const doublings = Math.min(30, failures - policy.freeFailures - 1);
  return Math.min(policy.maxDelaySeconds, policy.firstDelaySeconds * 2 ** doublings);
}

export interface ThrottleGuard {
  key: string;
  policy: DelayPolicy;
}

export interface LoginPolicies {
  address: DelayPolicy;
  account: DelayPolicy;
  device: DelayPolicy;
}

export const throttleKeys = {
  address: (ip: string) => `address:${ip}`,
  /** By the address typed, known or not, so the answers do not tell which accounts exist. */
  account: (email: string) => `account:${email.toLowerCase()}`,
  device: (deviceId: string) => `device:${deviceId}`,
  /** Re-entering the password while signed in (password or e-mail change). */
  session: (sessionId: string) => `session:${sessionId}`,
};

/**
 * The keys a log-in attempt is judged and counted on. A known device (its token names this account and
 * has not itself failed too often) answers for itself alone; anyone else is judged by address and by
 * account.
 */
export function loginGuards(
  attempt: { ip: string; email: string; knownDeviceId: string | undefined },
  policies: LoginPolicies,
): ThrottleGuard[] {
  if (attempt.knownDeviceId !== undefined)
    return [{ key: throttleKeys.device(attempt.knownDeviceId), policy: policies.device }];
  return [
    { key: throttleKeys.address(attempt.ip), policy: policies.address },
    { key: throttleKeys.account(attempt.email), policy: policies.account },
  ];
}
