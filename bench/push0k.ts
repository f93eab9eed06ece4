/**
 * The push0k benchmark (issue 5): 5 users in one room each post 50,000 messages (250,000); each message
 * is delivered in real time to the other 4 (1,000,000 deliveries) on their `veche.user.<id>.rooms`
 * topics, and every delivery is acknowledged with a persisted delivery receipt, all through the real
 * WAMP router (a child process, as the fleet runs it), the real chat service (a child process:
 * services/chat/src/server.ts) and PostgreSQL. Posts are `veche.chat.postMessage` calls with the
 * `{actor, input}` the gateway forwards; users join the router with tickets a stand-in for the
 * gateway's authenticator checks. Prints the total time, messages/s, deliveries/s, p50/p99 latency from
 * post to delivery, lost and duplicated deliveries, and the push0k-style operation count.
 *
 * With `--side-by-side`, first runs the same scenario (users, messages, posts in flight) against a
 * push0k-style server (bench/push0k-peer: socket.io + pg, a row per message and per receipt), then
 * Veche, and prints both times and the ratio (issue 18's target: Veche at least 5× faster).
 *
 * Usage: node bench/push0k.ts [--users 5] [--messages 50000] [--in-flight 200] [--side-by-side]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createBusConnection, deleteTopology } from '../libs/bus/src/index.ts';
import { signActor, verifyActor } from '../libs/contracts/src/index.ts';
import { createDatabase, ensureDatabaseExists, sql } from '../libs/db/src/index.ts';
import { createLogger } from '../libs/log/src/index.ts';
import { testAmqpUrl, testDatabaseUrl } from '../libs/testing/src/index.ts';
import { describePeer, runPeerBench, type PeerBenchResult } from './push0k-peer/main.ts';
import { connectService, type WampService } from '../libs/wamp/src/index.ts';
import { chatBusNames } from '../services/chat/src/app.ts';
import { loadChatConfig } from '../services/chat/src/env.ts';
import { connectUser } from '../services/chat/test/support/clients.ts';
import { runPush0k } from '../services/chat/test/support/push0k-scenario.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '5' },
    messages: { type: 'string', default: '50000' },
    'in-flight': { type: 'string', default: '200' },
    'side-by-side': { type: 'boolean', default: false },
    rate: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: node bench/push0k.ts [--users 5] [--messages 50000 per user] [--in-flight 200 posts per user] [--side-by-side]\n' +
      '  --side-by-side  first run the same scenario against a push0k-style server (bench/push0k-peer), then\n' +
      '                  Veche, and print both times and the ratio\n' +
      '  --rate N          pace posts at N per second in all (latency at a moderate load, e.g. 1000)\n',
  );
  process.exit(0);
}
const userCount = Number(values.users);
const perUser = Number(values.messages);
const inFlight = Number(values['in-flight']);

const secret = randomBytes(24).toString('base64url');
const log = createLogger({ service: 'bench', level: 'warn' });
const tag = `bench_push0k_${randomBytes(4).toString('hex')}`;
const databaseUrl = testDatabaseUrl();

let peer: PeerBenchResult | undefined;
if (values['side-by-side']) {
  process.stdout.write(
    `push0k-style peer (socket.io + pg, a row per message and per receipt): ${userCount} users × ${perUser.toLocaleString()} messages, ${inFlight} posts in flight per user\n`,
  );
  peer = await runPeerBench({
    databaseUrl,
    users: userCount,
    messagesPerUser: perUser,
    inFlight,
    onProgress: (line) => process.stdout.write(`  ${line}\n`),
  });
  process.stdout.write(`${describePeer(peer).join('\n')}\n\nVeche\n`);
}
const children: ChildProcess[] = [];
const childNames = new Map<ChildProcess, string>();

/** CPU seconds a process has used so far (user + system), from /proc. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const { readFile } = await import('node:fs/promises');
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function start(name: string, script: string, env: Record<string, string>, ready: RegExp): Promise<string> {
  // PUSH0K_PROFILE=<dir> writes a CPU profile of each child process there (where the time goes).
  const profile = process.env['PUSH0K_PROFILE']
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env['PUSH0K_PROFILE']}`]
    : [];
  const child = spawn(process.execPath, [...profile, new URL(script, import.meta.url).pathname], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  childNames.set(child, name);
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const match = ready.exec(buffer);
      if (match) resolve(match[1] ?? '');
      if (buffer.length > 1_000_000) buffer = buffer.slice(-10_000);
      for (const line of buffer.split('\n'))
        if (/"level":(50|60)/.test(line)) process.stderr.write(`${name}: ${line}\n`);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

const uploads = await mkdtemp(join(tmpdir(), 'push0k-'));
await ensureDatabaseExists(databaseUrl);
const routerUrl = await start(
  'router',
  '../libs/wamp-router/bin/wamp-router.ts',
  { VECHE_SERVICE_SECRET: secret, WAMP_ROUTER_PORT: '0', LOG_LEVEL: 'info' },
  /"url":"(ws:\/\/[^"]+)"/,
);

// The gateway's authenticator, standing in: a user's ticket is an actor assertion signed with the secret.
const autobahn = createRequire(import.meta.url)('autobahn') as {
  Connection: new (options: Record<string, unknown>) => {
    onopen: (session: { register(p: string, f: (args: unknown[]) => unknown): Promise<unknown> }) => void;
    open(): void;
    close(): void;
  };
};
const authenticator = new autobahn.Connection({
  url: routerUrl,
  realm: 'veche',
  authmethods: ['ticket'],
  authid: 'service:gateway',
  onchallenge: () => secret,
});
await new Promise<void>((resolve, reject) => {
  authenticator.onopen = (session) => {
    session
      .register('veche.gateway.authenticate', (args) => {
        const actor = verifyActor((args[2] as { ticket?: unknown } | undefined)?.ticket, secret);
        if (!actor || actor.userId !== args[1]) throw new Error('bad ticket');
        return 'user';
      })
      .then(() => resolve(), reject);
  };
  authenticator.open();
});

const chatEnv = {
  DATABASE_URL: databaseUrl,
  AMQP_URL: testAmqpUrl(),
  WAMP_URL: routerUrl,
  VECHE_SERVICE_SECRET: secret,
  CHAT_DB_SCHEMA: tag,
  CHAT_EXCHANGE: `${tag}.events`,
  CHAT_BOT_EXCHANGE: `${tag}.bots`,
  CHAT_ACCOUNTS_QUEUE: `${tag}.accounts`,
  CHAT_BOT_QUEUE: `${tag}.bot-replies`,
  UPLOADS_DIR: uploads,
  PORT: '0',
  LOG_LEVEL: 'info',
};
await start('chat', '../services/chat/src/server.ts', chatEnv, /"msg":"chat started"()/);

const ids = Array.from({ length: userCount }, (_, i) => `pushuser${i}`);
// One gateway-like session per user, as replicas of the gateway would each hold one.
const callers: WampService[] = await Promise.all(
  ids.map(() =>
    connectService({ url: routerUrl, authid: 'service:gateway', secret, log, defaultTimeoutMs: 120_000 }),
  ),
);
const callerOf = new Map(ids.map((id, i) => [id, callers[i]!]));
const call = <T>(userId: string, procedure: string, input: Record<string, unknown>) =>
  callerOf.get(userId)!.call<T>(`veche.chat.${procedure}`, { actor: { userId, role: 'user' }, input });

const { roomId } = await call<{ roomId: string }>(ids[0]!, 'createRoom', {
  name: 'push0k',
  visibility: 'public',
});
for (const id of ids.slice(1)) await call(id, 'joinRoom', { roomId });
const users = await Promise.all(
  ids.map((id) =>
    connectUser(routerUrl, id, signActor({ userId: id, role: 'user' }, secret, 3600), { keep: false }),
  ),
);
const database = createDatabase({ url: databaseUrl, schema: tag, poolSize: 2 });

process.stdout.write(
  `push0k: ${userCount} users × ${perUser.toLocaleString()} messages, ${inFlight} posts in flight per user${values.rate ? `, paced at ${values.rate} posts/s` : ''}\n`,
);
let exitCode = 0;
try {
  // The chat's PostgreSQL backends (opened after the bench started): their CPU is part of the cost.
  const { rows: backends } = await sql<{ pid: number }>`
    select pid from pg_stat_activity
    where application_name = 'chat' and backend_start > now() - make_interval(secs => ${process.uptime()})`.execute(
    database.db,
  );
  const backendsBefore = await Promise.all(backends.map((b) => cpuSeconds(b.pid).catch(() => 0)));
  const cpuBefore = await Promise.all(children.map((child) => cpuSeconds(child.pid)));
  const ownBefore = process.cpuUsage();
  const result = await runPush0k({
    users,
    roomId,
    messagesPerUser: perUser,
    inFlight,
    ...(values.rate ? { postsPerSecond: Number(values.rate) } : {}),
    call,
    timeoutMs: 900_000,
    onProgress: (line) => process.stdout.write(`  ${line}\n`),
    persistedMarks: async () => {
      const { rows } = await sql<{ user_id: string; delivered_up_to: number }>`
        select user_id, delivered_up_to from receipts where room_id = ${roomId}`.execute(database.db);
      return new Map(rows.map((row) => [row.user_id, row.delivered_up_to]));
    },
  });
  const seconds = result.totalMs / 1000;
  const cpuAfter = await Promise.all(children.map((child) => cpuSeconds(child.pid)));
  const own = process.cpuUsage(ownBefore);
  const backendsAfter = await Promise.all(backends.map((b) => cpuSeconds(b.pid).catch(() => 0)));
  const postgresCpu = backendsAfter.reduce((sum, value, i) => sum + value - (backendsBefore[i] ?? 0), 0);
  const cpu = [
    ...children.map((child, i) => `${childNames.get(child)} ${(cpuAfter[i]! - cpuBefore[i]!).toFixed(1)} s`),
    `bench clients ${((own.user + own.system) / 1e6).toFixed(1)} s`,
    `PostgreSQL (the chat's ${backends.length} connections) ${postgresCpu.toFixed(1)} s`,
  ];
  const operations = result.messages + 2 * result.deliveriesExpected + 2 * result.deliveriesExpected;
  const lines = [
    `total time                ${seconds.toFixed(1)} s (posts finished at ${(result.postsDoneMs / 1000).toFixed(1)} s)`,
    `messages                  ${result.messages.toLocaleString()} (${Math.round(result.messages / seconds).toLocaleString()}/s)`,
    `deliveries                ${result.deliveries.toLocaleString()} of ${result.deliveriesExpected.toLocaleString()} (${Math.round(result.deliveries / seconds).toLocaleString()}/s)`,
    `latency post→delivery     p50 ${result.p50Ms.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms, max ${result.maxMs.toFixed(0)} ms`,
    `lost / duplicated         ${result.lost} / ${result.duplicated} (out of order: ${result.outOfOrder})`,
    `receipts                  ${result.receiptCalls.toLocaleString()} receipt calls; every mark persisted at seq ${result.lastSeq}: ${result.receiptsPersisted}`,
    `push0k-style operations   ${operations.toLocaleString()} (posts + deliveries + receipts, each counted as push0k did) = ${Math.round(operations / seconds).toLocaleString()} ops/s`,
    `CPU used during the run    ${cpu.join(', ')} (load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)})`,
    values.rate
      ? `target                    p99 < 100 ms at ${values.rate} posts/s with nothing lost or duplicated: ${result.p99Ms < 100 && result.lost === 0 && result.duplicated === 0 && result.receiptsPersisted ? 'MET' : 'NOT MET'}`
      : `complete                  nothing lost, duplicated or unpersisted: ${result.lost === 0 && result.duplicated === 0 && result.receiptsPersisted ? 'yes' : 'NO'}`,
  ];
  if (peer) {
    const ratio = peer.totalMs / result.totalMs;
    const peerComplete =
      peer.lost === 0 &&
      peer.duplicated === 0 &&
      peer.messageRows === peer.messages &&
      peer.receiptRows === peer.deliveriesExpected;
    lines.push(
      `side by side              peer ${(peer.totalMs / 1000).toFixed(1)} s, Veche ${seconds.toFixed(1)} s: Veche ${ratio.toFixed(2)}× faster (target ≥ 5×: ${ratio >= 5 && result.lost === 0 && result.duplicated === 0 && result.receiptsPersisted ? 'MET' : 'NOT MET'})${peerComplete ? '' : ' — the peer lost, duplicated or did not store something'}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (result.lost > 0 || result.duplicated > 0 || !result.receiptsPersisted) exitCode = 1;
} finally {
  for (const user of users) user.close();
  for (const caller of callers) await caller.close();
  authenticator.close();
  for (const child of children.reverse()) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  await sql`drop schema if exists ${sql.id(tag)} cascade`.execute(database.db);
  await database.close();
  const connection = createBusConnection({ url: testAmqpUrl(), name: 'push0k-cleanup', log });
  await connection.start();
  await deleteTopology(connection, chatBusNames(loadChatConfig(chatEnv)));
  await connection.stop();
  await rm(uploads, { recursive: true, force: true });
}
process.exit(exitCode);
