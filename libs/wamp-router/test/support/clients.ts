/**
 * Test clients for the router: a well-behaved autobahn session, a raw `ws` socket for attacks, and a
 * logger whose lines the test can read back.
 */
import { WebSocket } from 'ws';

import { capturedLogger as capturedLog, type CapturedLog } from '@veche/testing';

export type { CapturedLog };
export {
  autobahn,
  connectWampClient as connectClient,
  type TestWampClient as TestClient,
  type TestWampSession as AutobahnSession,
} from '@veche/testing';

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

/** A logger whose lines the test reads back. */
export const capturedLogger = (level = 'debug'): CapturedLog => capturedLog('wamp-router-test', level);
