/**
 * The presence-router's `/pubsub` fan-out (issue 15): one replica as its own process (`src/server.ts`,
 * as deployed) on real PostgreSQL, RabbitMQ and the local WAMP router; `--connections` seed-style
 * clients (plain `ws`, one user each) each SUBSCRIBE to the same `--targets` users, which makes
 * connections × targets subscriptions; then the targets publish `--changes` status changes one after
 * another, and each change is timed from the publisher's send to its arrival at every subscriber.
 *
 * Prints: connections opened per second, subscriptions set up per second (SUBSCRIBE frames sent until
 * every immediate answer arrived), and the change → subscriber latency p50/p90/p99/max over every
 * delivery. The clients share this process (and the machine's cores) with nothing else of ours: the
 * latency includes their own reading of the frames, so it overstates the server's part.
 *
 * It also prints the replica's CPU time (user + system, from /proc) per change: the fair comparison on a
 * loaded machine, where wall-clock latencies move with the neighbours.
 *
 * Usage: node bench/presence.ts [--connections 1000] [--targets 10] [--changes 30] [--warmup 3]
 *          [--cpu-prof DIR] [--help]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startHarness, tokenOf } from '../services/presence-router/test/support/harness.ts';
import { connectPubsub, type PubsubClient } from '../services/presence-router/test/support/pubsub-client.ts';
import { spawnReplica } from '../services/presence-router/test/support/replica-process.ts';

const usage = `Usage: node bench/presence.ts [options]

Times the presence-router's /pubsub fan-out: --connections seed-style clients each subscribe to the
same --targets users, then the targets publish --changes status changes one after another; prints
connections/s, subscriptions/s, change -> subscriber latency p50/p90/p99/max (target p99 < 50 ms) and
the replica's CPU time per change (user + system, from /proc: compare these on a loaded machine).
Needs PostgreSQL and RabbitMQ as the tests do (TEST_DATABASE_URL, AMQP_URL).

Options:
  --connections N   /pubsub connections, one user each (default 1000)
  --targets N       users each connection subscribes to (default 10)
  --changes N       timed status changes (default 30)
  --warmup N        untimed changes first (default 3)
  --cpu-prof DIR    run the replica under node --cpu-prof, profiles written to DIR
  -h, --help        this text
`;
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    targets: { type: 'string', default: '10' },
    changes: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const connectionCount = Number(values.connections);
const targetCount = Number(values.targets);
const changeCount = Number(values.changes);
const warmup = Number(values.warmup);

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const ms = (value: number) => `${value.toFixed(1)} ms`;

/** Runs `task` over `items`, at most `width` at a time. */
async function inWaves<T, R>(items: T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]!);
      }
    }),
  );
  return results;
}

console.log(`load average before: ${load()}`);
// The production timings (the tests' harness shortens them to keep tests quick).
const h = await startHarness('bench_presence', {
  replicas: 0,
  overrides: {
    PRESENCE_SWEEP_MS: '1000',
    PRESENCE_REPLICA_LEASE_MS: '15000',
    PRESENCE_OFFLINE_GRACE_MS: '5000',
  },
});
const profileDir = values['cpu-prof'];
const replica = await spawnReplica(
  h.config,
  h.database.schema,
  'bench-replica',
  profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
);
/** The replica's CPU seconds so far (utime + stime of /proc/<pid>/stat, in clock ticks of 1/100 s). */
const replicaCpuSeconds = () => {
  const fields = readFileSync(`/proc/${replica.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const run = Math.random().toString(36).slice(2, 8);
const targets = Array.from({ length: targetCount }, (_, i) => `bench-${run}-t${i}`);
const watchers = Array.from({ length: connectionCount }, (_, i) => `bench-${run}-w${i}`);
const open = (userId: string) =>
  connectPubsub(replica.url, { headers: { authorization: `Bearer ${tokenOf(userId)}` } });

try {
  const publishers = await Promise.all(targets.map(open));

  let started = performance.now();
  const clients: PubsubClient[] = await inWaves(watchers, 50, open);
  const closes = new Map<string, number>();
  for (const client of [...clients, ...publishers]) {
    void client.closed.then(({ code, reason }) => {
      const key = `${code} ${reason}`;
      closes.set(key, (closes.get(key) ?? 0) + 1);
    });
  }
  process.on('exit', () => {
    if (closes.size > 0) console.log('connections closed by the server:', Object.fromEntries(closes));
  });
  const connectSeconds = (performance.now() - started) / 1000;
  console.log(
    `${connectionCount} /pubsub connections opened in ${connectSeconds.toFixed(2)} s ` +
      `(${Math.round(connectionCount / connectSeconds)}/s)`,
  );

  // Every delivery of a change, timed on arrival.
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  /** Per change: the first and the last subscriber's latency. */
  const perChange = new Map<string, [number, number]>();
  let arrived = 0;
  let wake: (() => void) | undefined;
  for (const client of clients) {
    client.socket.on('message', (data: Buffer) => {
      const now = performance.now();
      const frame = JSON.parse(data.toString('utf8')) as { timestamp?: string };
      const sent = frame.timestamp === undefined ? undefined : sentAt.get(frame.timestamp);
      if (sent === undefined) return;
      arrived += 1;
      if (frame.timestamp!.startsWith('warmup')) return;
      latencies.push(now - sent);
      const [first = Infinity, last = 0] = perChange.get(frame.timestamp!) ?? [];
      perChange.set(frame.timestamp!, [Math.min(first, now - sent), Math.max(last, now - sent)]);
      wake?.();
    });
  }

  // Subscriptions: every watcher subscribes to every target in one frame; each is answered at once.
  const events = Object.fromEntries(targets.map((t) => [t, 9]));
  started = performance.now();
  for (const client of clients) client.send({ events });
  await Promise.all(clients.map((c) => c.received(targetCount, 300_000)));
  const subscribeSeconds = (performance.now() - started) / 1000;
  const subscriptions = connectionCount * targetCount;
  console.log(
    `${subscriptions} subscriptions set up in ${subscribeSeconds.toFixed(2)} s ` +
      `(${Math.round(subscriptions / subscribeSeconds)}/s, every SUBSCRIBE answered with the current status)`,
  );

  // Changes, one at a time: each is timed until all its subscribers have it.
  const total = warmup + changeCount;
  let cpuAtFirstTimed = 0;
  for (let k = 0; k < total; k++) {
    if (k === warmup) cpuAtFirstTimed = replicaCpuSeconds();
    const label = k < warmup ? `warmup-${k}` : `change-${k}`;
    const publisher = publishers[k % targetCount]!;
    const expected = arrived + connectionCount;
    sentAt.set(label, performance.now());
    publisher.send({ status: k % 2 === 0 ? 2 : 5, timestamp: label });
    const deadline = performance.now() + 60_000;
    while (arrived < expected) {
      if (performance.now() > deadline)
        throw new Error(`change ${label}: ${expected - arrived} deliveries missing`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1_000);
      });
    }
  }
  const cpuPerChangeMs = ((replicaCpuSeconds() - cpuAtFirstTimed) * 1000) / changeCount;
  latencies.sort((a, b) => a - b);
  console.log(
    `one change → ${connectionCount} subscribers, ${changeCount} changes (${latencies.length} deliveries): ` +
      `p50 ${ms(percentile(latencies, 50))}, p90 ${ms(percentile(latencies, 90))}, ` +
      `p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? NaN)} (target p99 < 50 ms)`,
  );
  // Where the time goes: the first delivery of a change is the write path (frame, transaction with its
  // commit, NOTIFY, one send); first to last is the fan-out to every subscriber (and their reading).
  const firsts = [...perChange.values()].map(([first]) => first).sort((a, b) => a - b);
  const spreads = [...perChange.values()].map(([first, last]) => last - first).sort((a, b) => a - b);
  console.log(
    `  first subscriber of a change: p50 ${ms(percentile(firsts, 50))}, max ${ms(firsts.at(-1) ?? NaN)}; ` +
      `first → last subscriber: p50 ${ms(percentile(spreads, 50))}, max ${ms(spreads.at(-1) ?? NaN)}`,
  );
  console.log(
    `  replica CPU (user + system) per change: ${cpuPerChangeMs.toFixed(1)} ms ` +
      `(${((cpuPerChangeMs * 1000) / connectionCount).toFixed(1)} µs per subscriber)`,
  );
  console.log(`load average after: ${load()}`);
  for (const client of [...clients, ...publishers]) client.socket.terminate();
} catch (error) {
  const problems = replica
    .output()
    .split('\n')
    .filter((line) => /"level":(40|50|60|"warn"|"error"|"fatal")/.test(line));
  console.log(`the replica's warnings and errors (${problems.length}):\n${problems.slice(0, 5).join('\n')}`);
  throw error;
} finally {
  await replica.kill('SIGTERM');
  await h.close();
}
