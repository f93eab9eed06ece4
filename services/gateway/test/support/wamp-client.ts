/** An autobahn user client, as a browser connects: ticket = access token, authid = user id. */
import { createRequire } from 'node:module';

export interface UserSession {
  subscribe(
    topic: string,
    handler: (args: unknown[], kwargs: Record<string, unknown>) => void,
  ): Promise<unknown>;
  publish(
    topic: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options?: { acknowledge?: boolean },
  ): Promise<unknown> | undefined;
  register(procedure: string, endpoint: () => unknown): Promise<unknown>;
  call(procedure: string, args: unknown[], kwargs?: Record<string, unknown>): Promise<unknown>;
}
interface Connection {
  onopen: (session: UserSession, details: Record<string, unknown>) => void;
  onclose: (reason: string, details: Record<string, unknown>) => boolean;
  open(): void;
  close(): void;
}
const autobahn = createRequire(import.meta.url)('autobahn') as {
  Connection: new (options: Record<string, unknown>) => Connection;
  log: { warn: () => void };
};
autobahn.log.warn = () => {};

export interface UserClient {
  session: UserSession;
  details: Record<string, unknown>;
  /** Resolves with the close reason once the router ends the session. */
  closed: Promise<string>;
  close(): void;
}

export function connectUser(url: string, authid: string, ticket: string): Promise<UserClient> {
  return new Promise((resolve, reject) => {
    let opened = false;
    let onClosed: (reason: string) => void = () => {};
    const closed = new Promise<string>((r) => (onClosed = r));
    const connection = new autobahn.Connection({
      url,
      realm: 'veche',
      authmethods: ['ticket'],
      authid,
      onchallenge: () => ticket,
      max_retries: 0,
      retry_if_unreachable: false,
      on_user_error: () => {},
    });
    connection.onopen = (session, details) => {
      opened = true;
      resolve({ session, details, closed, close: () => connection.close() });
    };
    connection.onclose = (reason, details) => {
      if (!opened) reject(new Error(`refused: ${reason} ${String(details['reason'])}`));
      onClosed(`${reason} ${String(details['reason'])}`);
      return true;
    };
    connection.open();
  });
}

export const errorUri = (error: unknown): string => (error as { error?: string }).error ?? String(error);
