/**
 * The presence-router's `/pubsub` fan-out (issue 15): one replica as its own process (`src/server.ts`,
 * as deployed) on real PostgreSQL, RabbitMQ and the local WAMP router; `--connections` seed-style
 * clients (plain `ws`, one user each) each SUBSCRIBE to the same `--targets` users, which makes
 * connections × targets subscriptions; then the targets publish `--changes` status changes one after
 * another, and each change is timed from the publisher's send to its arrival at every subscriber.
 *
 * Prints: connections opened per second, subscriptions set up per second (SUBSCRIBE frames sent until
 * every immediate answer arrived), and the change → subscriber latency p50/p90/p99/max over every
 * delivery. The subscribers run in `--client-processes` processes of their own (`presence-clients.ts`,
 * forked, each holding a share of the connections), as they would on other machines: reading 1,000
 * frames does not run on the event loop that sends the changes and takes the times. Each delivery is
 * stamped on arrival in its client process with `process.hrtime.bigint()` (CLOCK_MONOTONIC, one clock
 * for all processes of the machine) and compared with the send time taken the same way here. The
 * clients still share the machine's cores with the replica and PostgreSQL.
 *
 * It also prints the replica's CPU time (user + system, from /proc) per change: the fair comparison on a
 * loaded machine, where wall-clock latencies move with the neighbours.
 *
 * Usage: node bench/presence.ts [--connections 1000] [--targets 10] [--changes 30] [--warmup 3]
 *          [--client-processes 2] [--cpu-prof DIR] [--help]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startHarness, tokenOf } from '../services/presence-router/test/support/harness.ts';
import { connectPubsub } from '../services/presence-router/test/support/pubsub-client.ts';
import { spawnReplica } from '../services/presence-router/test/support/replica-process.ts';
import { monotonicMs, type FromClients, type ToClients } from './presence-clients.ts';

const usage = `Usage: node bench/presence.ts [options]

Times the presence-router's /pubsub fan-out: --connections seed-style clients each subscribe to the
same --targets users, then the targets publish --changes status changes one after another; prints
connections/s, subscriptions/s, change -> subscriber latency p50/p90/p99/max (target p99 < 50 ms) and
the replica's CPU time per change (user + system, from /proc: compare these on a loaded machine).
The subscribers run in --client-processes processes of their own, each holding a share of the
connections and stamping each frame on arrival (CLOCK_MONOTONIC, comparable across processes).
Needs PostgreSQL and RabbitMQ as the tests do (TEST_DATABASE_URL, AMQP_URL).

Options:
  --connections N   /pubsub connections, one user each (default 1000)
  --targets N       users each connection subscribes to (default 10)
  --changes N       timed status changes (default 30)
  --warmup N        untimed changes first (default 3)
  --client-processes N
                    processes the subscribers' connections are shared among (default 2)
  --cpu-prof DIR    run the replica under node --cpu-prof, profiles written to DIR
  -h, --help        this text
`;
const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    targets: { type: 'string', default: '10' },
    changes: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    'client-processes': { type: 'string', default: '2' },
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
const processCount = Math.max(1, Math.min(connectionCount, Number(values['client-processes'])));

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const ms = (value: number) => `${value.toFixed(1)} ms`;

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

/** The subscribers' processes, each with its share of `watchers`. */
const clientProcesses: { child: ChildProcess; watchers: string[] }[] = [];
const tellAll = (message: ToClients | ((watchers: string[]) => ToClients)) => {
  for (const { child, watchers: mine } of clientProcesses)
    child.send(typeof message === 'function' ? message(mine) : message);
};
/** The next message of `type` (and matching `wanted`) from every client process, in process order. */
const fromAll = <T extends FromClients['type']>(
  type: T,
  wanted: (message: Extract<FromClients, { type: T }>) => boolean = () => true,
) =>
  Promise.all(
    clientProcesses.map(
      ({ child }) =>
        new Promise<Extract<FromClients, { type: T }>>((resolve, reject) => {
          const onMessage = (message: FromClients) => {
            if (message.type === 'error') reject(new Error(`a client process failed: ${message.message}`));
            else if (message.type === type && wanted(message as Extract<FromClients, { type: T }>))
              resolve(message as Extract<FromClients, { type: T }>);
            else return;
            child.off('message', onMessage);
          };
          child.on('message', onMessage);
        }),
    ),
  );

try {
  const publishers = await Promise.all(targets.map(open));
  const closes = new Map<string, number>();
  let closing = false;
  for (const publisher of publishers) {
    void publisher.closed.then(({ code, reason }) => {
      if (!closing) closes.set(`${code} ${reason}`, (closes.get(`${code} ${reason}`) ?? 0) + 1);
    });
  }
  for (let i = 0; i < processCount; i++) {
    const child = fork(path.join(import.meta.dirname, 'presence-clients.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) console.log(`a client process exited with ${code}`);
    });
    clientProcesses.push({ child, watchers: watchers.filter((_, n) => n % processCount === i) });
  }
  await fromAll('ready');

  // 50 connections opening at a time in all, shared among the processes.
  let started = monotonicMs();
  tellAll((mine) => ({
    type: 'connect',
    url: replica.url,
    tokens: mine.map(tokenOf),
    width: Math.ceil(50 / processCount),
  }));
  await fromAll('connected');
  const connectSeconds = (monotonicMs() - started) / 1000;
  console.log(
    `${connectionCount} /pubsub connections opened in ${connectSeconds.toFixed(2)} s ` +
      `(${Math.round(connectionCount / connectSeconds)}/s; ${processCount} client process${processCount === 1 ? '' : 'es'})`,
  );

  // Subscriptions: every watcher subscribes to every target in one frame; each is answered at once.
  const events = Object.fromEntries(targets.map((t) => [t, 9]));
  started = monotonicMs();
  tellAll({ type: 'subscribe', events, answers: targetCount });
  await fromAll('subscribed');
  const subscribeSeconds = (monotonicMs() - started) / 1000;
  const subscriptions = connectionCount * targetCount;
  console.log(
    `${subscriptions} subscriptions set up in ${subscribeSeconds.toFixed(2)} s ` +
      `(${Math.round(subscriptions / subscribeSeconds)}/s, every SUBSCRIBE answered with the current status)`,
  );

  // Changes, one at a time: each is timed until all its subscribers have it.
  const latencies: number[] = [];
  /** Per change: the first and the last subscriber's latency. */
  const perChange = new Map<string, [number, number]>();
  const total = warmup + changeCount;
  let cpuAtFirstTimed = 0;
  for (let k = 0; k < total; k++) {
    if (k === warmup) cpuAtFirstTimed = replicaCpuSeconds();
    const label = k < warmup ? `warmup-${k}` : `change-${k}`;
    const publisher = publishers[k % targetCount]!;
    const reports = fromAll('delivered', (message) => message.label === label);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`change ${label}: not every subscriber had it within 60 s`)),
        60_000,
      );
    });
    const sentAt = monotonicMs();
    publisher.send({ status: k % 2 === 0 ? 2 : 5, timestamp: label });
    const times = (await Promise.race([reports, deadline])).flatMap((report) => report.times);
    clearTimeout(timer);
    if (k < warmup) continue;
    let first = Infinity;
    let last = 0;
    for (const at of times) {
      const latency = at - sentAt;
      latencies.push(latency);
      first = Math.min(first, latency);
      last = Math.max(last, latency);
    }
    perChange.set(label, [first, last]);
  }
  const cpuPerChangeMs = ((replicaCpuSeconds() - cpuAtFirstTimed) * 1000) / changeCount;
  latencies.sort((a, b) => a - b);
  console.log(
    `one change → ${connectionCount} subscribers, ${changeCount} changes (${latencies.length} deliveries): ` +
      `p50 ${ms(percentile(latencies, 50))}, p90 ${ms(percentile(latencies, 90))}, ` +
      `p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? NaN)} (target p99 < 50 ms)`,
  );
  // Where the time goes: the first delivery of a change is the write path (frame, transaction with its
  // commit, NOTIFY, one send); first to last is the fan-out to every subscriber (and their reading, in
  // the client processes).
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
  // Connections the server closed before this point (not the bench's own closing below).
  closing = true;
  const reports = fromAll('closes');
  tellAll({ type: 'close' });
  for (const report of await reports)
    for (const [key, count] of Object.entries(report.closes)) closes.set(key, (closes.get(key) ?? 0) + count);
  for (const publisher of publishers) publisher.socket.terminate();
  if (closes.size > 0) console.log('connections closed by the server:', Object.fromEntries(closes));
} catch (error) {
  const problems = replica
    .output()
    .split('\n')
    .filter((line) => /"level":(40|50|60|"warn"|"error"|"fatal")/.test(line));
  console.log(`the replica's warnings and errors (${problems.length}):\n${problems.slice(0, 5).join('\n')}`);
  throw error;
} finally {
  for (const { child } of clientProcesses) if (child.connected) child.kill('SIGTERM');
  await replica.kill('SIGTERM');
  await h.close();
}
