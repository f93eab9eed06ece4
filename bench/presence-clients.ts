/**
 * A share of `bench/presence.ts`'s `/pubsub` subscribers, in a process of its own (forked by the bench
 * with an IPC channel), so that reading the frames does not run on the event loop that times them.
 * Driven by messages from the bench ({@link ToClients}); answers with {@link FromClients}.
 *
 * Times are `process.hrtime.bigint()` in milliseconds: CLOCK_MONOTONIC, one clock for every process
 * of the machine, so a receive time taken here and a send time taken in the bench compare directly
 * (unlike `performance.now()`, whose origin is each process's own start).
 */
import { connectPubsub, type PubsubClient } from '../services/presence-router/test/support/pubsub-client.ts';

export type ToClients =
  | { type: 'connect'; url: string; tokens: string[]; width: number }
  | { type: 'subscribe'; events: Record<string, number>; answers: number }
  | { type: 'close' };

export type FromClients =
  | { type: 'ready' }
  | { type: 'connected' }
  | { type: 'subscribed' }
  /** Every one of this process's clients has the change `label`: their receive times (ms). */
  | { type: 'delivered'; label: string; times: number[] }
  /** Connections the server closed before the bench's own `close`, by `<code> <reason>`. */
  | { type: 'closes'; closes: Record<string, number> }
  | { type: 'error'; message: string };

/** CLOCK_MONOTONIC in ms, comparable across this machine's processes. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The labels the bench puts in the `timestamp` of a timed or warm-up change. */
export const changeLabel = /^(warmup|change)-\d+$/;

const tell = (message: FromClients) => process.send!(message);

async function connectAll(url: string, tokens: string[], width: number): Promise<PubsubClient[]> {
  const clients = new Array<PubsubClient>(tokens.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tokens.length) {
        const index = next++;
        clients[index] = await connectPubsub(url, {
          headers: { authorization: `Bearer ${tokens[index]!}` },
        });
      }
    }),
  );
  return clients;
}

if (process.send) {
  let clients: PubsubClient[] = [];
  let closing = false;
  const closes = new Map<string, number>();
  /** Receive times of the changes not yet complete, by label. */
  const pending = new Map<string, number[]>();

  const fail = (error: unknown) => {
    tell({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  };

  process.on('message', (message: ToClients) => {
    switch (message.type) {
      case 'connect':
        connectAll(message.url, message.tokens, message.width)
          .then((opened) => {
            clients = opened;
            for (const client of clients) {
              void client.closed.then(({ code, reason }) => {
                if (closing) return;
                const key = `${code} ${reason}`;
                closes.set(key, (closes.get(key) ?? 0) + 1);
              });
              client.socket.on('message', (data: Buffer) => {
                const now = monotonicMs();
                const frame = JSON.parse(data.toString('utf8')) as { timestamp?: unknown };
                if (typeof frame.timestamp !== 'string' || !changeLabel.test(frame.timestamp)) return;
                let times = pending.get(frame.timestamp);
                if (!times) pending.set(frame.timestamp, (times = []));
                times.push(now);
                if (times.length === clients.length) {
                  pending.delete(frame.timestamp);
                  tell({ type: 'delivered', label: frame.timestamp, times });
                }
              });
            }
            tell({ type: 'connected' });
          })
          .catch(fail);
        return;
      case 'subscribe':
        for (const client of clients) client.send({ events: message.events });
        Promise.all(clients.map((c) => c.received(message.answers, 300_000)))
          .then(() => tell({ type: 'subscribed' }))
          .catch(fail);
        return;
      case 'close':
        closing = true;
        tell({ type: 'closes', closes: Object.fromEntries(closes) });
        for (const client of clients) client.socket.terminate();
        process.disconnect();
        return;
    }
  });
  tell({ type: 'ready' });
}
