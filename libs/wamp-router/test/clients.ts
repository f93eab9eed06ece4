/**
 * Test clients for the router: a well-behaved autobahn session, a raw `ws` socket for attacks, and a
 * logger whose lines the test can read back.
 */
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { WebSocket } from 'ws';
import { createLogger, type Logger } from '@veche/log';

/** The part of autobahn (untyped CommonJS) the tests use. */
export interface AutobahnSession {
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
  register(
    procedure: string,
    endpoint: (args: unknown[], kwargs: Record<string, unknown>) => unknown,
  ): Promise<unknown>;
  call(procedure: string, args: unknown[], kwargs?: Record<string, unknown>): Promise<unknown>;
}
interface AutobahnConnection {
  onopen: (session: AutobahnSession, details: Record<string, unknown>) => void;
  onclose: (reason: string, details: Record<string, unknown>) => boolean;
  open(): void;
  close(): void;
}
interface AutobahnModule {
  Connection: new (options: Record<string, unknown>) => AutobahnConnection;
  Result: new (args?: unknown[], kwargs?: Record<string, unknown>) => unknown;
  Error: new (
    error: string,
    args?: unknown[],
    kwargs?: Record<string, unknown>,
  ) => { error: string; args: unknown[]; kwargs: Record<string, unknown> };
}
export const autobahn = createRequire(import.meta.url)('autobahn') as AutobahnModule;
// autobahn warns on the console for every closed connection; the tests close many on purpose.
(autobahn as unknown as { log: { warn: () => void } }).log.warn = () => {};

export interface TestClient {
  session: AutobahnSession;
  details: Record<string, unknown>;
  close(): void;
}

/** Joins as `authid` with `ticket`; rejects with the close reason when the router refuses. */
export function connectClient(url: string, authid: string, ticket: string): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const connection = new autobahn.Connection({
      url,
      realm: 'veche',
      authmethods: ['ticket'],
      authid,
      onchallenge: () => ticket,
      max_retries: 0,
      on_user_error: () => {}, // the tests throw from handlers on purpose
      retry_if_unreachable: false,
    });
    connection.onopen = (session, details) => resolve({ session, details, close: () => connection.close() });
    connection.onclose = (reason, details) => {
      reject(new Error(`closed: ${reason} ${String(details['reason'])}`));
      return true;
    };
    connection.open();
  });
}

export interface RawClient {
  socket: WebSocket;
  send(message: unknown): void;
  /** The next message the router sends, parsed. */
  next(timeoutMs?: number): Promise<unknown[]>;
  /** Resolves with the close code once the router closes the connection. */
  closed: Promise<number>;
}

export async function rawClient(url: string, protocols: string[] = ['wamp.2.json']): Promise<RawClient> {
  const socket = new WebSocket(url, protocols);
  const inbox: unknown[][] = [];
  const waiters: ((message: unknown[]) => void)[] = [];
  socket.on('message', (data) => {
    const message = JSON.parse((data as Buffer).toString('utf8')) as unknown[];
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else inbox.push(message);
  });
  socket.on('error', () => {}); // the attacks make the router close on us; the close code is the result
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    next: (timeoutMs = 2_000) =>
      new Promise((resolve, reject) => {
        const queued = inbox.shift();
        if (queued) return resolve(queued);
        const timer = setTimeout(() => reject(new Error('no message from the router')), timeoutMs);
        waiters.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
      }),
  };
}

/** Completes HELLO/CHALLENGE/AUTHENTICATE on a raw socket and returns the WELCOME. */
export async function rawJoin(client: RawClient, authid: string, ticket: string): Promise<unknown[]> {
  client.send([
    1,
    'veche',
    { authmethods: ['ticket'], authid, roles: { subscriber: {}, publisher: {}, caller: {}, callee: {} } },
  ]);
  const challenge = await client.next();
  if (challenge[0] !== 4) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`);
  client.send([5, ticket, {}]);
  return client.next();
}

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
}

export function capturedLogger(level = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of String(chunk).split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: createLogger({ service: 'wamp-router-test', level, destination }), lines };
}
