/**
 * The push0k scenario against the push0k-style peer (server.ts): N users in one room each post M
 * messages with a window of posts in flight; each message reaches the other N−1 users, each of whom
 * acknowledges it with a delivery receipt the server stores as a row. Done when every delivery has
 * arrived and every receipt has been acknowledged as stored. The same measurements as Veche's scenario:
 * total time, p50/p99 post → delivery, lost and duplicated deliveries.
 */
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import { loginProof } from './server.ts';

export interface PeerLoadResult {
  messages: number;
  deliveriesExpected: number;
  deliveries: number;
  lost: number;
  duplicated: number;
  receiptsAcknowledged: number;
  totalMs: number;
  postsDoneMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

async function connect(url: string, user: { id: string; password: string }): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false });
  const { uid } = await new Promise<{ uid: string }>((resolve, reject) => {
    socket.once('challenge', resolve);
    socket.once('connect_error', reject);
  });
  const ok: unknown = await socket.emitWithAck('login', {
    user: user.id,
    hash: loginProof(user.password, uid),
  });
  if (ok !== true) throw new Error(`login refused for ${user.id}`);
  return socket;
}

export async function runPeerLoad(options: {
  url: string;
  users: readonly { id: string; password: string }[];
  roomId: string;
  messagesPerUser: number;
  inFlight: number;
  timeoutMs?: number;
  onProgress?: (line: string) => void;
}): Promise<PeerLoadResult> {
  const { users, roomId, messagesPerUser: m } = options;
  const n = users.length;
  const index = new Map(users.map((user, i) => [user.id, i]));
  const sockets = await Promise.all(users.map((user) => connect(options.url, user)));
  const expected = n * (n - 1) * m;
  const seen = users.map(() => new Uint8Array(n * m));
  const latencies = new Float64Array(expected);
  let deliveries = 0;
  let duplicated = 0;
  let receiptsAcknowledged = 0;
  const failures: unknown[] = [];
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const check = () => {
    if (deliveries >= expected && receiptsAcknowledged >= expected) resolveDone();
  };

  sockets.forEach((socket, r) => {
    socket.on('message', (message: { id: string; roomId: string; text: string }) => {
      const now = performance.now();
      // Every delivery is acknowledged by a receipt the server stores as a row (push0k's way).
      socket.emit('delivered', { messageId: message.id }, (ok: boolean) => {
        if (ok) receiptsAcknowledged += 1;
        else failures.push(new Error(`receipt refused for ${message.id}`));
        check();
      });
      const [tag, sender, i, sentAt] = message.text.split(' ');
      const s = index.get(sender ?? '');
      if (message.roomId !== roomId || tag !== 'p' || s === undefined || s === r) return;
      const slot = s * m + Number(i);
      const count = seen[r]![slot]!;
      seen[r]![slot] = count + 1;
      if (count > 0) {
        duplicated += 1;
        return;
      }
      latencies[deliveries] = now - Number(sentAt);
      deliveries += 1;
      check();
    });
  });

  const started = performance.now();
  let postsDoneMs = 0;
  const progress = setInterval(() => {
    options.onProgress?.(
      `${((performance.now() - started) / 1000).toFixed(1)} s: ${deliveries.toLocaleString()} / ${expected.toLocaleString()} deliveries, ${receiptsAcknowledged.toLocaleString()} receipts stored`,
    );
  }, 2_000);
  try {
    await Promise.all(
      sockets.map(async (socket, s) => {
        let next = 0;
        const lane = async () => {
          while (next < m) {
            const i = next++;
            const answer = (await socket.emitWithAck('message', {
              roomId,
              text: `p ${users[s]!.id} ${i} ${performance.now()}`,
            })) as { id?: string; error?: string };
            if (!answer.id) throw new Error(`post refused: ${answer.error}`);
          }
        };
        await Promise.all(Array.from({ length: Math.min(options.inFlight, m) }, lane));
      }),
    );
    postsDoneMs = performance.now() - started;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.timeoutMs ?? 1_800_000);
      }),
    ]);
    clearTimeout(timer);
  } finally {
    clearInterval(progress);
    for (const socket of sockets) socket.close();
  }
  const totalMs = performance.now() - started;
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} receipts failed`);
  let lost = 0;
  seen.forEach((counts, r) => {
    counts.forEach((count, slot) => {
      if (count === 0 && Math.floor(slot / m) !== r) lost += 1;
    });
  });
  const sorted = latencies.slice(0, deliveries).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    messages: n * m,
    deliveriesExpected: expected,
    deliveries,
    lost,
    duplicated,
    receiptsAcknowledged,
    totalMs,
    postsDoneMs,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted.at(-1) ?? NaN,
  };
}
