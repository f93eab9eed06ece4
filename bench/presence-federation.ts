/**
 * Federation latency (issue 20): two presence-router deployments on this machine (their own WAMP
 * routers, PostgreSQL schemas and RabbitMQ names, through the presence tests' harness), domains
 * a.test and b.test, linked both ways. `--viewers` users of A each watch `--targets` users of B on
 * `/pubsub` (`<userId>@b.test`): viewers × targets federated subscriptions (1,000 by default). Users
 * of B change status on their own `/pubsub`, one change every `--pause` ms; the time from sending the
 * frame on B to each frame arriving on A is one sample. Prints p50, p90, p99 and the maximum.
 *
 * Usage: node bench/presence-federation.ts [--viewers 20] [--targets 50] [--changes 300] [--pause 20]
 *        [--batch 100] [--help]
 */
import { parseArgs } from 'node:util';
import { eventually } from '../libs/testing/src/index.ts';
import { startHarness, type Harness } from '../services/presence-router/test/support/harness.ts';
import type { PubsubClient } from '../services/presence-router/test/support/pubsub-client.ts';

const usage = `Usage: node bench/presence-federation.ts [options]

Two presence-router deployments (a.test, b.test) linked both ways; viewers on a.test watch users of
b.test on /pubsub; users of b.test change status; prints the latency from the frame sent on b.test to
the frame arriving on a.test (p50, p90, p99, max) and how many deliveries arrived. Needs PostgreSQL and
RabbitMQ as the tests do (TEST_DATABASE_URL, AMQP_URL). Results: bench/RESULTS.md ("Presence federation").

Options:
  --viewers N   users of a.test, each watching every target (default 20)
  --targets N   users of b.test watched (default 50; viewers × targets federated subscriptions)
  --changes N   status changes sent on b.test (default 300)
  --pause MS    pause between two changes (default 20, i.e. 50 changes/s)
  --batch N     FEDERATION_BATCH_MAX of both deployments (default 100; no pause between batches)
  -h, --help    this text
`;
const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '20' },
    targets: { type: 'string', default: '50' },
    changes: { type: 'string', default: '300' },
    pause: { type: 'string', default: '20' },
    batch: { type: 'string', default: '100' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const viewerCount = Number(values.viewers);
const targetCount = Number(values.targets);
const changes = Number(values.changes);
const pauseMs = Number(values.pause);
const secret = 'bench federation secret 0123456789';

const overrides = (domain: string) => ({
  PRESENCE_DOMAIN: domain,
  FEDERATION_BATCH_MAX: values.batch,
  FEDERATION_BATCH_PAUSE_MS: '0',
  PUBSUB_FRAMES_PER_SECOND: '1000',
  PUBSUB_FRAME_BURST: '1000',
});

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

let a: Harness | undefined;
let b: Harness | undefined;
try {
  a = await startHarness('bench-federation-a', { overrides: overrides('a.test') });
  b = await startHarness('bench-federation-b', { overrides: overrides('b.test') });
  const endpoint = (h: Harness) => h.url.replace(/\/pubsub$/, '/pubsub/federation');
  await a.app.federation.link('b.test', { url: endpoint(b), secret });
  await b.app.federation.link('a.test', { url: endpoint(a), secret });

  const targets = Array.from({ length: targetCount }, (_, i) => `target${i}`);
  const viewers = Array.from({ length: viewerCount }, (_, i) => `viewer${i}`);
  const phones: PubsubClient[] = [];
  for (const target of targets) {
    const phone = await b.connect(target);
    phone.send('{"status":1}');
    phones.push(phone);
  }
  /** When each change was sent, by its marker (the publication's timestamp). */
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  let delivered = 0;
  for (const viewer of viewers) {
    const client = await a.connect(viewer);
    client.socket.on('message', (data) => {
      const at = performance.now();
      const text = (data as Buffer).toString('utf8');
      const marker = /"timestamp":"(m[0-9]+)"/.exec(text)?.[1];
      const sent = marker === undefined ? undefined : sentAt.get(marker);
      if (sent !== undefined) {
        samples.push(at - sent);
        delivered++;
      }
    });
    client.send(JSON.stringify({ events: Object.fromEntries(targets.map((t) => [`${t}@b.test`, 9])) }));
  }
  // Every subscription answered with B's status before measuring.
  await eventually(
    async () => {
      const links = await a!.app.federation.list();
      return links[0]?.watches === viewerCount * targetCount;
    },
    { timeoutMs: 60_000, message: 'every watch reached B' },
  );
  await new Promise((resolve) => setTimeout(resolve, 2_000));

  const started = performance.now();
  // Both deployments and the clients run in this process: its CPU time is theirs together.
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < changes; i++) {
    const marker = `m${i}`;
    sentAt.set(marker, performance.now());
    phones[i % phones.length]!.send(JSON.stringify({ status: i % 2 === 0 ? 2 : 1, timestamp: marker }));
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  const expected = changes * viewerCount;
  await eventually(() => delivered >= expected, {
    timeoutMs: 120_000,
    message: 'every change delivered',
  }).catch(() => undefined);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const sorted = [...samples].sort((x, y) => x - y);
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  process.stdout.write(
    [
      `federated subscriptions: ${viewerCount * targetCount} (${viewerCount} viewers on a.test × ${targetCount} users of b.test)`,
      `changes: ${changes} (one every ${pauseMs} ms), deliveries: ${delivered} of ${expected} in ${elapsed.toFixed(1)} s`,
      `latency B /pubsub frame → A /pubsub frame: p50 ${ms(percentile(sorted, 50))}, p90 ${ms(
        percentile(sorted, 90),
      )}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) ?? 0)}`,
      `CPU of this process (both deployments and the clients) meanwhile: ${cpuSeconds.toFixed(2)} s, ${(
        (1000 * cpuSeconds) /
        changes
      ).toFixed(1)} ms a change`,
      '',
    ].join('\n'),
  );
} finally {
  await a?.close();
  await b?.close();
}
