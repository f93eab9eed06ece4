/**
 * The push0k scenario (seed 000): N users in one room each post M messages; every message reaches the
 * other N−1 in real time on their `veche.user.<id>.rooms` topic; every delivery is acknowledged with a
 * persisted delivery receipt (a high-water mark: one call acknowledges every delivery up to its seq).
 * Used at full size by bench/push0k.ts and at a small size by the CI test.
 */
import { performance } from 'node:perf_hooks';
import type { RoomEvent, UserClient } from './clients.ts';

export interface Push0kOptions {
  users: UserClient[];
  roomId: string;
  messagesPerUser: number;
  /** Posts each user keeps in flight. */
  inFlight: number;
  /**
   * When set, posts are paced at this many per second in all (spread evenly over the users, each on
   * its own schedule) instead of as fast as the window allows: latency at a moderate load.
   */
  postsPerSecond?: number;
  /** Calls a chat procedure as `userId` (through the router, as the gateway does). */
  call<T>(userId: string, procedure: string, input: Record<string, unknown>): Promise<T>;
  /** The persisted delivery marks, read from the database at the end. */
  persistedMarks(): Promise<Map<string, number>>;
  timeoutMs?: number;
  onProgress?: (line: string) => void;
}

export interface Push0kResult {
  users: number;
  messages: number;
  deliveriesExpected: number;
  deliveries: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  receiptCalls: number;
  receiptsPersisted: boolean;
  lastSeq: number;
  totalMs: number;
  postsDoneMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function runPush0k(options: Push0kOptions): Promise<Push0kResult> {
  const { users, roomId, messagesPerUser: m } = options;
  const n = users.length;
  const index = new Map(users.map((user, i) => [user.userId, i]));
  const expected = n * (n - 1) * m;
  // seen[receiver][sender * m + i]: deliveries of each message to each receiver.
  const seen = users.map(() => new Uint8Array(n * m));
  const latencies = new Float64Array(expected);
  let deliveries = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let receiptCalls = 0;
  let finalSeq = 0;
  const acked = users.map(() => 0);
  const highest = users.map(() => 0);
  const lastSeqSeen = users.map(() => 0);
  const sending = users.map(() => false);
  const failures: unknown[] = [];
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const check = () => {
    if (deliveries >= expected && finalSeq > 0 && acked.every((a) => a >= finalSeq)) resolveDone();
  };

  const ack = (r: number) => {
    if (sending[r] || highest[r]! <= acked[r]!) return;
    sending[r] = true;
    const upTo = highest[r]!;
    receiptCalls += 1;
    options
      .call<{ deliveredUpTo: number }>(users[r]!.userId, 'postReceipts', { roomId, deliveredUpTo: upTo })
      .then(
        (marks) => {
          acked[r] = Math.max(acked[r]!, marks.deliveredUpTo);
        },
        (error: unknown) => failures.push(error),
      )
      .finally(() => {
        sending[r] = false;
        ack(r);
        check();
      });
  };

  users.forEach((user, r) => {
    user.onPublication = (events: RoomEvent[]) => {
      const now = performance.now();
      for (const event of events) {
        if (event.roomId !== roomId || typeof event.seq !== 'number') continue;
        if (event.seq <= lastSeqSeen[r]!) outOfOrder += 1;
        lastSeqSeen[r] = Math.max(lastSeqSeen[r]!, event.seq);
        highest[r] = Math.max(highest[r]!, event.seq);
        if (event.type !== 'message_posted') continue;
        const [tag, sender, i, sentAt] = String(event['text']).split(' ');
        const s = index.get(sender ?? '');
        if (tag !== 'p' || s === undefined || s === r) continue;
        const slot = s * m + Number(i);
        const count = seen[r]![slot]!;
        seen[r]![slot] = count + 1;
        if (count > 0) {
          duplicated += 1;
          continue;
        }
        latencies[deliveries] = now - Number(sentAt);
        deliveries += 1;
      }
      ack(r);
      check();
    };
  });

  const started = performance.now();
  let postsDoneMs = 0;
  const progress = setInterval(() => {
    options.onProgress?.(
      `${((performance.now() - started) / 1000).toFixed(1)} s: ${deliveries.toLocaleString()} / ${expected.toLocaleString()} deliveries, receipts up to ${acked.join(',')}`,
    );
  }, 2_000);
  try {
    const perUserInterval = options.postsPerSecond ? (1000 * n) / options.postsPerSecond : 0;
    const posters = users.map(async (user, s) => {
      let next = 0;
      let last = 0;
      const lane = async () => {
        while (next < m) {
          const i = next++;
          if (perUserInterval > 0) {
            // Each user's i-th post is due at a fixed time from the start, offset so users interleave.
            const due = started + (i + s / n) * perUserInterval;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          }
          const posted = await options.call<{ seq: number }>(user.userId, 'postMessage', {
            roomId,
            text: `p ${user.userId} ${i} ${performance.now()}`,
            idempotencyKey: `${s}-${i}`,
          });
          last = Math.max(last, posted.seq);
        }
      };
      await Promise.all(Array.from({ length: Math.min(options.inFlight, m) }, lane));
      return last;
    });
    finalSeq = Math.max(...(await Promise.all(posters)));
    postsDoneMs = performance.now() - started;
    check();
    const timeoutMs = options.timeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  } finally {
    clearInterval(progress);
  }
  const totalMs = performance.now() - started;
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} receipt calls failed`);
  let lost = 0;
  seen.forEach((counts, r) => {
    counts.forEach((count, slot) => {
      if (count === 0 && Math.floor(slot / m) !== r) lost += 1;
    });
  });
  const marks = await options.persistedMarks();
  const sorted = latencies.slice(0, deliveries).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    users: n,
    messages: n * m,
    deliveriesExpected: expected,
    deliveries,
    lost,
    duplicated,
    outOfOrder,
    receiptCalls,
    receiptsPersisted: users.every((user) => (marks.get(user.userId) ?? 0) >= finalSeq),
    lastSeq: finalSeq,
    totalMs,
    postsDoneMs,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: sorted.at(-1) ?? NaN,
  };
}
