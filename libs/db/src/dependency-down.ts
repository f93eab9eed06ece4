/**
 * One answer, for every service, to "did this fail because a server we depend on is unreachable or
 * restarting?" (PostgreSQL, RabbitMQ, the WAMP router). Such a failure is `unavailable` (503, worth a
 * retry), not a bug (500). Typed errors (`VecheError`) already say what they are and are not
 * examined here.
 */

import { isVecheError } from '@veche/errors';

/** Socket-level failures: the server is down, restarting, or the connection was cut. */
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  // Docker's DNS during a service restart.
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs of a server going away or refusing sessions: class 08 (connection exception),
 * 57P01–57P03 (admin shutdown, crash shutdown, cannot connect now: restart, failover), 53300 (too many
 * connections) and 25006 (read-only transaction: a standby answering before failover has finished).
 */
const postgresCodes = /^(08...|57P0[123]|53300|25006)$/;

/** What pg, pg-pool and amqplib say when the connection is gone (they set no code). */
const droppedConnection =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Channel closed|Channel ended|Connection closed/i;

export function isDependencyDown(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  // A VecheError is already typed: `unavailable` or not, its code says so.
  if (isVecheError(error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (networkCodes.has(code) || postgresCodes.test(code))) return true;
  if (error instanceof Error && droppedConnection.test(error.message)) return true;
  // pg wraps some failures (a pool that could not connect) with the socket error as the cause.
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isDependencyDown(cause);
}
