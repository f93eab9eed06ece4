/** Shared set-up of the WAMP client tests: a real router, service sessions, a logger the test can read. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@veche/log';
import { serviceAuthenticator, startRouter, type WampRouter } from '@veche/wamp-router';
import { connectService, type ServiceConnectionOptions, type WampService } from '../src/index.ts';

export const serviceSecret = 'wamp-client-test-secret-0123';

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
}

export function capturedLogger(level = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { log: createLogger({ service: 'wamp-test', level, destination }), lines };
}

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
