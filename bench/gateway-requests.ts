/**
 * Authenticated requests per second through the gateway to a trivial procedure: the bench serves
 * `veche.chat.listRooms` itself (one line: an empty list) as a service on the router, and calls the
 * declared route `GET /api/rooms` with a bearer token over keep-alive HTTP. Each request: JWT check,
 * session lookup in PostgreSQL, schema validation, WAMP call and answer. `GET /api/me` (served by the
 * gateway, no WAMP) is measured too, for comparison.
 *
 * Usage: node bench/gateway-requests.ts [--requests 20000] [--concurrency 64]
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { createLogger } from '../libs/log/src/index.ts';
import { connectService, type WampService } from '../libs/wamp/src/index.ts';
import { fmt, load, request, secret, startFleet } from './gateway-support.ts';

if (process.argv.includes('--help')) {
  console.log('Usage: node bench/gateway-requests.ts [--requests 20000] [--concurrency 64]');
  process.exit(0);
}
type Schema = Parameters<WampService['register']>[1];
const { Type } = createRequire(new URL('../libs/wamp/package.json', import.meta.url))(
  '@sinclair/typebox',
) as {
  Type: { Object(properties: Record<string, Schema>): Schema; Unknown(): Schema };
};
const { values } = parseArgs({
  options: { requests: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '64' } },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);

const fleet = await startFleet({ ARGON2_MEMORY_KIB: '19456', ARGON2_PASSES: '2' });
const service = await connectService({
  url: fleet.routerUrl,
  authid: 'service:chat',
  secret,
  log: createLogger({ service: 'bench', level: 'warn' }),
});
try {
  await service.register(
    'veche.chat.listRooms',
    Type.Object({ actor: Type.Unknown(), input: Type.Unknown() }),
    () => ({ rooms: [] }),
  );
  await request(fleet.baseUrl, 'POST', '/api/auth/register', {
    email: 'rps@example.org',
    password: 'bench password of some length',
    displayName: 'Rps',
  });
  const login = await request(fleet.baseUrl, 'POST', '/api/auth/login', {
    email: 'rps@example.org',
    password: 'bench password of some length',
  });
  const { accessToken } = JSON.parse(login.body) as { accessToken: string };
  const headers = { authorization: `Bearer ${accessToken}` };
  const check = await request(fleet.baseUrl, 'GET', '/api/rooms', undefined, headers);
  if (check.status !== 200) throw new Error(`GET /api/rooms: ${check.status} ${check.body}`);
  // Warm up the JIT, the pools and the sockets.
  await load(
    2_000,
    concurrency,
    async () => (await request(fleet.baseUrl, 'GET', '/api/rooms', undefined, headers)).status === 200,
  );
  const forwarded = await load(
    total,
    concurrency,
    async () => (await request(fleet.baseUrl, 'GET', '/api/rooms', undefined, headers)).status === 200,
  );
  console.log(`GET /api/rooms → WAMP veche.chat.listRooms: ${fmt(forwarded)}`);
  const local = await load(
    total,
    concurrency,
    async () => (await request(fleet.baseUrl, 'GET', '/api/me', undefined, headers)).status === 200,
  );
  console.log(`GET /api/me (gateway only):              ${fmt(local)}`);
} finally {
  await service.close();
  await fleet.stop();
}
