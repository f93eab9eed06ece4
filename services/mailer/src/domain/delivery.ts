/**
 * What happens to a mail after an SMTP attempt: sent, tried again later (4xx, a lost connection), or
 * given up on (5xx, or too many attempts). Pure, so the retry schedule and the classification of
 * relay replies are unit-tested without a relay.
 */

/** The parts of a nodemailer error the decision looks at. */
export interface SmtpFailure {
  message: string;
  /** nodemailer's: ECONNECTION, ETIMEDOUT, EENVELOPE, EMESSAGE, EAUTH, ESOCKET, … */
  code?: string | undefined;
  /** The relay's reply code, when it replied. */
  responseCode?: number | undefined;
  /** The SMTP command that was refused (`RCPT TO`, `DATA`, `MAIL FROM`, `AUTH PLAIN`…). */
  command?: string | undefined;
  response?: string | undefined;
}

export interface FailureClass {
  kind: 'temporary' | 'permanent';
  /** A permanent refusal of the recipient's address: later notification mail to it is not sent. */
  suppressAddress: boolean;
  reason: string;
}

export function classifyFailure(failure: SmtpFailure): FailureClass {
  const reason = describeFailure(failure);
  const code = failure.responseCode;
  // Refused credentials or a refused sender are the operator's to fix, not the recipient's fault:
  // the mail waits (and retries) rather than failing every mail in the outbox for good.
  if (failure.code === 'EAUTH' || /^MAIL FROM/i.test(failure.command ?? '')) {
    return { kind: 'temporary', suppressAddress: false, reason };
  }
  if (code !== undefined && code >= 500 && code < 600) {
    const aboutRecipient = failure.command === undefined || /^(RCPT TO|DATA)/i.test(failure.command);
    return { kind: 'permanent', suppressAddress: aboutRecipient, reason };
  }
  // 4xx, no reply at all (refused connection, timeout, reset): the relay or the network will be back.
  return { kind: 'temporary', suppressAddress: false, reason };
}

export function describeFailure(failure: SmtpFailure): string {
  const text = failure.response ?? failure.message;
  const parts = [failure.code, failure.command ? `at ${failure.command}` : undefined, text].filter(Boolean);
  const joined = parts.join(' ');
  return joined.length > 500 ? `${joined.slice(0, 500)}…` : joined;
}

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
}

/** The wait after failed attempt `attempt` (1-based): base × 2^(attempt−1), at most maxMs. */
export function retryDelayMs(attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs'>): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity long after it passed maxMs; Math.min handles both.
  return Math.min(policy.baseMs * 2 ** exponent, policy.maxMs);
}

export type AttemptResult =
  { ok: true; relayMessageId: string; response: string } | { ok: false; failure: SmtpFailure };

export type NextState =
  | { state: 'sent'; relayMessageId: string; response: string }
  | { state: 'deferred'; nextAttemptAt: Date; reason: string }
  | { state: 'failed'; failure: 'rejected'; reason: string; suppressAddress: boolean }
  | { state: 'failed'; failure: 'exhausted'; reason: string };

/** `attempt` is the number of the attempt that just ended (1 for the first). */
export function decideAfterAttempt(
  attempt: number,
  result: AttemptResult,
  policy: RetryPolicy,
  now: Date,
): NextState {
  if (result.ok) return { state: 'sent', relayMessageId: result.relayMessageId, response: result.response };
  const failure = classifyFailure(result.failure);
  if (failure.kind === 'permanent') {
    return {
      state: 'failed',
      failure: 'rejected',
      reason: failure.reason,
      suppressAddress: failure.suppressAddress,
    };
  }
  if (attempt >= policy.maxAttempts) return { state: 'failed', failure: 'exhausted', reason: failure.reason };
  return {
    state: 'deferred',
    nextAttemptAt: new Date(now.getTime() + retryDelayMs(attempt, policy)),
    reason: failure.reason,
  };
}
