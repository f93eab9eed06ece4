/** Shared set-up of the WAMP client tests: a real router, service sessions, a logger the test can read. */
import type { Logger } from '@veche/log';
import { capturedLogger as capturedLog, type CapturedLog } from '@veche/testing';
import { serviceAuthenticator, startRouter, type WampRouter } from '@veche/wamp-router';
import { connectService, type ServiceConnectionOptions, type WampService } from '../src/index.ts';

export type { CapturedLog };

export const serviceSecret = 'wamp-client-test-secret-0123';

/** A logger whose lines the test reads back. */
export const capturedLogger = (level = 'debug'): CapturedLog => capturedLog('wamp-test', level);

export function startTestRouter(log: Logger, port = 0): Promise<WampRouter> {
  return startRouter({ log, port, authenticate: serviceAuthenticator(serviceSecret) });
}

export function connectTestService(
  url: string,
  name: string,
  log: Logger,
  options: Partial<ServiceConnectionOptions> = {},
): Promise<WampService> {
  return connectService({
    url,
    authid: `service:${name}`,
    secret: serviceSecret,
    log,
    initialRetryDelayMs: 100,
    maxRetryDelayMs: 500,
    connectTimeoutMs: 5_000,
    ...options,
  });
}
