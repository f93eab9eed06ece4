/**
 * Run as a child process with NODE_EXTRA_CA_CERTS (Node's global WebSocket, which autobahn uses, takes
 * no per-connection CA): joins the WAMP realm at argv[2] as two service sessions, publishes one event
 * from one to the other, and prints {"received": …} or {"error": …} as one JSON line.
 */
import { connectWampClient } from '@veche/testing';

const [url = '', secret = ''] = process.argv.slice(2);

const open = async (authid: string) => (await connectWampClient(url, authid, secret)).session;

try {
  const publisher = await open('service:nginx-probe-a');
  const subscriber = await open('service:nginx-probe-b');
  const received = new Promise<unknown>((resolve) => {
    void subscriber.subscribe('veche.test.nginx', (args) => resolve(args?.[0]));
  });
  let value: unknown;
  for (let i = 0; i < 50 && value === undefined; i += 1) {
    await publisher.publish(
      'veche.test.nginx',
      [{ through: 'nginx' }],
      {},
      { acknowledge: true, exclude_me: true },
    );
    value = await Promise.race([received, new Promise((r) => setTimeout(() => r(undefined), 200))]);
  }
  console.log(JSON.stringify({ received: value }));
  publisher.leave('wamp.close.normal', '');
  subscriber.leave('wamp.close.normal', '');
  setTimeout(() => process.exit(0), 100);
} catch (error) {
  console.log(JSON.stringify({ error: String(error) }));
  process.exit(1);
}
