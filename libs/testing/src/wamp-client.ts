/**
 * A WAMP client for tests, joined as a browser or a service joins: realm `veche`, ticket
 * authentication, no reconnection (a refused or lost session is the test's result, not something to
 * retry). autobahn is untyped CommonJS; this is the part of it tests use.
 */
import { createRequire } from 'node:module';

export interface TestWampSession {
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Record<string, unknown>) => void,
  ): Promise<unknown>;
  publish(
    topic: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options?: { acknowledge?: boolean; exclude_me?: boolean },
  ): Promise<unknown> | undefined;
  leave(reason?: string, message?: string): void;
  readonly isOpen: boolean;
  readonly id: number;
  register(
    procedure: string,
    endpoint: (args: unknown[], kwargs: Record<string, unknown>) => unknown,
    options?: { invoke?: string; concurrency?: number; force_reregister?: boolean },
  ): Promise<unknown>;
  call(procedure: string, args: unknown[], kwargs?: Record<string, unknown>): Promise<unknown>;
}

interface Connection {
  onopen: (session: TestWampSession, details: Record<string, unknown>) => void;
  onclose: (reason: string, details: Record<string, unknown>) => boolean;
  open(): void;
  close(): void;
}

export interface AutobahnModule {
  Connection: new (options: Record<string, unknown>) => Connection;
  Result: new (args?: unknown[], kwargs?: Record<string, unknown>) => unknown;
  Error: new (
    error: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
  ) => { error: string; args: unknown[]; kwargs: Record<string, unknown> };
  log: { warn: (...args: unknown[]) => void };
}

export const autobahn = createRequire(import.meta.url)('autobahn') as AutobahnModule;
// autobahn warns on the console for every closed connection; tests close many on purpose.
autobahn.log.warn = () => {};

export interface TestWampClient {
  session: TestWampSession;
  details: Record<string, unknown>;
  /** Resolves with "<reason> <details.reason>" once the session ends (the router's or our doing). */
  closed: Promise<string>;
  /** The same moment, with autobahn's reason and details (the router's GOODBYE reason and message). */
  ended: Promise<{ reason: string; details: Record<string, unknown> }>;
  close(): void;
}

/** Joins as `authid` with `ticket`; rejects with the close reason when the router refuses. */
export function connectWampClient(url: string, authid: string, ticket: string): Promise<TestWampClient> {
  return new Promise((resolve, reject) => {
    let opened = false;
    let onEnded: (value: { reason: string; details: Record<string, unknown> }) => void = () => {};
    const ended = new Promise<{ reason: string; details: Record<string, unknown> }>((r) => (onEnded = r));
    const closed = ended.then(({ reason, details }) => `${reason} ${String(details['reason'])}`);
    const connection = new autobahn.Connection({
      url,
      realm: 'veche',
      authmethods: ['ticket'],
      authid,
      onchallenge: () => ticket,
      max_retries: 0,
      retry_if_unreachable: false,
      on_user_error: () => {}, // tests throw from handlers on purpose
    });
    connection.onopen = (session, details) => {
      opened = true;
      resolve({
        session,
        details,
        closed,
        ended,
        close: () => {
          try {
            connection.close();
          } catch {
            // already closed
          }
        },
      });
    };
    connection.onclose = (reason, details) => {
      if (!opened) reject(new Error(`refused, closed: ${reason} ${String(details['reason'])}`));
      onEnded({ reason, details });
      return true;
    };
    connection.open();
  });
}
