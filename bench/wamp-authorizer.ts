/**
 * What a user subscription costs in production: Crossbar 21.x ignores the authorizer's `cache` flag,
 * so every subscribe (and call, and publish) of a user is one call of `veche.gateway.authorize`. This
 * measures that procedure as Crossbar calls it — positional `(session details, uri, action, options)`
 * over a WAMP router, pipelined — served by the gateway's own security session
 * (services/gateway/src/wamp-security.ts), with one and with two gateway replicas (round-robin), and
 * the policy decision alone in memory.
 *
 * Usage: node bench/wamp-authorizer.ts [--calls 20000] [--window 256]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createLogger } from '../libs/log/src/index.ts';
import { connectWampClient } from '../libs/testing/src/index.ts';
import { createWampPolicy } from '../libs/wamp-policy/src/index.ts';
import { serviceAuthenticator, startRouter } from '../libs/wamp-router/src/index.ts';
import { createWampSecurity, type WampSecurity } from '../services/gateway/src/wamp-security.ts';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    window: { type: 'string', default: '256' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node bench/wamp-authorizer.ts [--calls 20000] [--window 256]
  Authorizations per second of veche.gateway.authorize as Crossbar calls it (positional arguments,
  pipelined) through a local WAMP router, with one and with two gateway replicas, and the policy
  decision alone in memory.
  --calls    authorizations per measurement
  --window   calls in flight
  -h, --help this text`);
  process.exit(0);
}
const calls = Number(values.calls);
const window = Number(values.window);
const secret = randomBytes(24).toString('base64url');
const log = createLogger({ service: 'bench', level: 'warn' });

const router = await startRouter({ log, authenticate: serviceAuthenticator(secret) });
const gateways: WampSecurity[] = [];
const startGateway = async () => {
  const security = createWampSecurity({
    url: router.url,
    realm: 'veche',
    log,
    serviceSecret: secret,
    authenticateToken: () => Promise.reject(new Error('not used')),
  });
  security.start();
  await security.ready(10_000);
  gateways.push(security);
};
// Crossbar's side of the call: its router-internal session, here a service session.
const crossbar = await connectWampClient(router.url, 'service:crossbar', secret);

const details = (i: number) => ({
  session: 1_000_000 + i,
  authid: `0190c0de-0000-7000-8000-${String(i % 1000).padStart(12, '0')}`,
  authrole: 'user',
  authmethod: 'ticket',
  authextra: null,
  transport: { type: 'websocket' },
});

async function authorizeRun(label: string): Promise<void> {
  let next = 0;
  let allowed = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < calls) {
      const i = next++;
      const session = details(i);
      const answer = (await crossbar.session.call('veche.gateway.authorize', [
        session,
        `veche.user.${session.authid}.rooms`,
        'subscribe',
        { match: 'exact' },
      ])) as { allow: boolean };
      if (answer.allow) allowed += 1;
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (allowed !== calls) throw new Error(`${allowed} of ${calls} allowed`);
  console.log(
    `${label}: ${calls} authorizer calls in ${seconds.toFixed(2)} s = ${Math.round(calls / seconds)} subscriptions/s`,
  );
}

await startGateway();
await authorizeRun('authorizer over WAMP, 1 gateway replica');
await startGateway();
await authorizeRun('authorizer over WAMP, 2 gateway replicas (roundrobin)');

const policy = createWampPolicy();
const started = process.hrtime.bigint();
const decisions = 1_000_000;
for (let i = 0; i < decisions; i += 1) {
  const session = details(i);
  policy.isAllowed(session, 'subscribe', `veche.user.${session.authid}.rooms`);
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  `policy alone, in memory: ${decisions} decisions in ${seconds.toFixed(2)} s = ${Math.round(decisions / seconds)}/s`,
);

crossbar.close();
for (const security of gateways) await security.stop();
await router.close();
