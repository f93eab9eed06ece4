/**
 * The router the integration tests run against: services join with a shared secret, user `<id>` with
 * the ticket `ticket-<id>` (standing in for the gateway's verifier). `useTestRouter()` inside a
 * `describe` starts it before the suite's tests and closes it, with every client it joined, after.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { unauthorized } from '@veche/errors';
import {
  composeAuthenticators,
  serviceAuthenticator,
  startRouter,
  type Authenticator,
  type RouterOptions,
  type WampRouter,
} from '../../src/index.ts';
import { capturedLogger, connectClient, type CapturedLog, type TestClient } from './clients.ts';

export const testSecret = 'test-service-secret-0123456789';

/** User `<id>` holds the ticket `ticket-<id>`; any other authid is not a user. */
export const testUsers: Authenticator = async ({ authid, ticket }) => {
  if (!/^\d+$/.test(authid)) return null;
  if (ticket !== `ticket-${authid}`) throw unauthorized('bad ticket');
  return { authrole: 'user' };
};

/** `promise` fails with the WAMP error `uri`. */
export async function rejectsWith(promise: Promise<unknown>, uri: string): Promise<void> {
  await assert.rejects(promise, (error: { error?: string }) => {
    assert.equal(error.error, uri);
    return true;
  });
}

/** The running router's (from the suite's first `before` on). */
export interface TestRouter extends Pick<WampRouter, 'url' | 'sessionCount'> {
  /** The router's log, readable by the test. */
  readonly captured: CapturedLog;
  /**
   * A client joined as `authid`: with `ticket`, else `ticket-<id>` for a user id and the service
   * secret for anything else. Closed after the suite.
   */
  connect(authid: string, ticket?: string): Promise<TestClient>;
}

export function useTestRouter(
  options: {
    logLevel?: string;
    /** Instead of {@link testUsers}. */
    users?: Authenticator;
  } & Pick<RouterOptions, 'maxPayloadBytes'> = {},
): TestRouter {
  const captured = capturedLogger(options.logLevel ?? 'silent');
  const clients: TestClient[] = [];
  let running: WampRouter | undefined;
  before(async () => {
    running = await startRouter({
      log: captured.log,
      authenticate: composeAuthenticators(serviceAuthenticator(testSecret), options.users ?? testUsers),
      ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
    });
  });
  after(async () => {
    for (const client of clients) client.close();
    await running?.close();
  });
  const router = (): WampRouter => {
    if (!running) throw new Error('the test router starts in the suite’s before hook');
    return running;
  };
  return {
    get url() {
      return router().url;
    },
    sessionCount: () => router().sessionCount(),
    captured,
    async connect(authid, ticket = /^\d+$/.test(authid) ? `ticket-${authid}` : testSecret) {
      const client = await connectClient(router().url, authid, ticket);
      clients.push(client);
      return client;
    },
  };
}
