/**
 * Throughput through the wrapped local router (libs/wamp-router, run as the fleet runs it: a child
 * process) with the service client services use (libs/wamp): event deliveries per second (one
 * publisher, several subscribers) and RPC calls per second (one caller, one callee, calls pipelined,
 * kwargs validated by a TypeBox schema on the callee).
 *
 * Usage: node bench/wamp-rpc.ts [--events 20000] [--subscribers 5] [--calls 20000] [--window 256]
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../libs/log/src/index.ts';
import type { WampService } from '../libs/wamp/src/index.ts';
import { echoCalls, registerEcho, startBenchRouter } from './wamp-support.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    subscribers: { type: 'string', default: '5' },
    calls: { type: 'string', default: '20000' },
    window: { type: 'string', default: '256' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node bench/wamp-rpc.ts [--events 20000] [--subscribers 5] [--calls 20000] [--window 256]
  Throughput through the local WAMP router (a child process, as the fleet runs it) with the
  services' WAMP client: event deliveries per second (one publisher, --subscribers subscribers)
  and RPC calls per second (one caller, one callee, --window calls pipelined).
  -h, --help this text`);
  process.exit(0);
}
const events = Number(values.events);
const subscriberCount = Number(values.subscribers);
const calls = Number(values.calls);
const window = Number(values.window);

const log = createLogger({ service: 'bench', level: 'warn' });
const router = await startBenchRouter(log);
const { connect } = router;
const sessions: WampService[] = [];

try {
  // Deliveries: every subscriber receives every event.
  const publisher = await connect('publisher');
  sessions.push(publisher);
  let delivered = 0;
  let allDelivered: () => void = () => {};
  const done = new Promise<void>((resolve) => (allDelivered = resolve));
  for (let i = 0; i < subscriberCount; i++) {
    const subscriber = await connect(`subscriber-${i}`);
    sessions.push(subscriber);
    await subscriber.subscribe('veche.user.1.rooms', () => {
      delivered += 1;
      if (delivered === events * subscriberCount) allDelivered();
    });
  }
  const payload = { type: 'message_posted', roomId: 'room-1', seq: 0, text: 'x'.repeat(100) };
  const started = performance.now();
  for (let i = 0; i < events; i++) {
    void publisher.publish('veche.user.1.rooms', { ...payload, seq: i + 1 });
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve)); // let the socket drain
  }
  await done;
  let seconds = (performance.now() - started) / 1000;
  console.log(
    `deliveries: ${events} events × ${subscriberCount} subscribers in ${seconds.toFixed(2)} s = ` +
      `${Math.round((events * subscriberCount) / seconds)} deliveries/s`,
  );

  // RPC: one caller, one callee, `window` calls in flight.
  const callee = await connect('callee');
  const caller = await connect('caller');
  sessions.push(callee, caller);
  await registerEcho(callee);
  seconds = await echoCalls(caller, calls, window);
  console.log(
    `rpc: ${calls} calls (${window} in flight) in ${seconds.toFixed(2)} s = ${Math.round(calls / seconds)} calls/s`,
  );
} finally {
  for (const session of sessions) await session.close();
  router.stop();
}
