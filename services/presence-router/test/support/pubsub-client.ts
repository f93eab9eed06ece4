/**
 * A plain `ws` client of `/pubsub`, as a seed client talks to it: text frames in, text frames out,
 * kept exactly as received so tests can compare bytes. Nothing of the web client's code.
 */
import { WebSocket, type ClientOptions } from 'ws';

export interface PubsubClient {
  socket: WebSocket;
  /** Every text frame received so far, as received. */
  readonly frames: string[];
  send(frame: string | object): void;
  /** The next frame not yet taken by `next` (waits for it). */
  next(timeoutMs?: number): Promise<string>;
  /** `next`, parsed. */
  nextJson<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  /** Waits until `count` frames have arrived in total. */
  received(count: number, timeoutMs?: number): Promise<string[]>;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export interface RefusedUpgrade {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function connectPubsub(url: string, options: ClientOptions = {}): Promise<PubsubClient> {
  const socket = new WebSocket(url, { ...options, perMessageDeflate: false });
  const frames: string[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  socket.on('message', (data, isBinary) => {
    if (isBinary) throw new Error('the server sent a binary frame');
    frames.push((data as Buffer).toString('utf8'));
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString('utf8') });
      for (const wake of waiters.splice(0)) wake();
    }),
  );
  const waitFor = async (count: number, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (frames.length < count) {
      if (socket.readyState === WebSocket.CLOSED)
        throw new Error(`closed after ${frames.length} of ${count} frames`);
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(
          `timed out waiting for frame ${count} (have ${frames.length}): ${frames.slice(-3).join(' ')}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const client: PubsubClient = {
    socket,
    frames,
    closed,
    send: (frame) => socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    async next(timeoutMs = 10_000) {
      await waitFor(taken + 1, timeoutMs);
      return frames[taken++]!;
    },
    async nextJson<T>(timeoutMs?: number) {
      return JSON.parse(await client.next(timeoutMs)) as T;
    },
    async received(count, timeoutMs = 10_000) {
      await waitFor(count, timeoutMs);
      return frames.slice(0, count);
    },
    async close() {
      socket.close();
      await closed;
    },
  };
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => {
        const refused: RefusedUpgrade = { status: response.statusCode ?? 0, headers: response.headers, body };
        reject(Object.assign(new Error(`upgrade refused: ${refused.status}`), { refused }));
      });
    });
    socket.once('error', reject);
  });
}

/** The refusal of an upgrade that was meant to fail. */
export async function refusedUpgrade(url: string, options: ClientOptions = {}): Promise<RefusedUpgrade> {
  try {
    const client = await connectPubsub(url, options);
    client.socket.terminate();
  } catch (error) {
    const refused = (error as { refused?: RefusedUpgrade }).refused;
    if (refused) return refused;
    throw error;
  }
  throw new Error('the upgrade was accepted');
}
