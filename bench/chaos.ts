/**
 * Chaos run with a ledger (issue 21): the whole local fleet (scripts/fleet/main.ts) with two replicas
 * of every service, on a PRIVATE PostgreSQL cluster and a PRIVATE RabbitMQ node started here (never
 * the shared servers), under a steady mixed load (users posting messages with idempotency keys,
 * marking receipts, changing their presence, each with a WAMP session on its own topic; new accounts
 * registering, each owed one verification mail; numbered syslog lines sent over TCP to a log source),
 * while a scheduler with a fixed seed SIGKILLs each replica of each service in turn (the other one
 * serving), restarts the WAMP router, PostgreSQL and RabbitMQ, and cuts client WebSockets, PostgreSQL
 * backends and AMQP connections. Every client keeps a ledger of what it was acknowledged and what it
 * received; at the end the ledgers are compared with the database, the mail sink and the clients'
 * views: 0 acknowledged messages or log lines lost, 0 duplicated messages, mails or stored log lines,
 * receipts and statuses as last acknowledged, every realtime gap caught up, every process back.
 * Prints a table of the faults (when, how long the API went unanswered, recovery time, outcome) and
 * the outcome counts; exits 1 on any loss, duplicate or unrecovered fault.
 *
 * Usage: node bench/chaos.ts [--minutes 10] [--seed 1] [--users 4] [--replicas 2] [--faults-per-minute 3.5]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { connectWampClient, type TestWampClient } from '../libs/testing/src/wamp-client.ts';
import { freePortRange } from '../libs/testing/src/ports.ts';
import {
  createPrivatePostgres,
  privatePostgresUnavailable,
  type PrivatePostgres,
} from '../services/gateway/test/support/private-postgres.ts';
import { freePort } from '../scripts/fleet/test/support/fleet.ts';

const root = path.resolve(import.meta.dirname, '..');

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    users: { type: 'string', default: '4' },
    replicas: { type: 'string', default: '2' },
    'faults-per-minute': { type: 'string', default: '3.5' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`Usage: node bench/chaos.ts [--minutes 10] [--seed 1] [--users 4] [--replicas 2] [--faults-per-minute 3.5]
  Runs the local fleet on a private PostgreSQL cluster and a private RabbitMQ node (started here, in
  temporary directories, on free ports; the shared servers are never touched) under mixed load:
  users posting, marking receipts, changing presence and listening over WAMP; new accounts
  registering (one verification mail each); numbered syslog lines over TCP to a log source. Faults
  come on a seeded schedule: SIGKILL of each replica of each service in turn, WAMP router restart,
  PostgreSQL restart, RabbitMQ restart, and cuts of client WebSockets, PostgreSQL backends and AMQP
  connections. At the end the ledgers are compared with the database, the mail sink and the
  clients' realtime views. Prints the fault table and the outcome counts; exits 1 on any loss,
  duplicate or unrecovered fault, 2 on bad arguments, 3 when the private servers cannot run here.
  --minutes             how long faults are injected (decimals allowed; CI runs 1)
  --seed                the scheduler's seed: the same seed, the same order and timing of faults
  --users               simulated users (each posts, marks receipts, changes presence, listens)
  --replicas            processes per service (VECHE_REPLICAS, 1-3); a SIGKILL takes one replica
  --faults-per-minute   how often a fault is injected
  -h, --help            this text`);
  process.exit(0);
}
const minutes = Number(values.minutes);
const seed = Number(values.seed);
const userCount = Number(values.users);
const replicas = Number(values.replicas);
const faultsPerMinute = Number(values['faults-per-minute']);
if (
  !(minutes > 0) ||
  !Number.isSafeInteger(seed) ||
  !Number.isSafeInteger(userCount) ||
  userCount < 2 ||
  !Number.isSafeInteger(replicas) ||
  replicas < 1 ||
  replicas > 3 ||
  !(faultsPerMinute > 0)
) {
  console.error('bad arguments: see --help');
  process.exit(2);
}

/** mulberry32: a small seeded generator, so a seed replays the same schedule. */
function seeded(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
// The schedule of faults has a generator of its own: the load's draws (which depend on how fast the
// fleet answers) do not change which fault comes next, or when.
const faultRandom = seeded(seed);
const loadRandom = seeded(seed ^ 0x5bd1e995);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started = Date.now();
const at = () => ((Date.now() - started) / 1000).toFixed(1);
const note = (line: string) => console.log(`[chaos ${at().padStart(6)} s] ${line}`);

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------- private RabbitMQ

interface PrivateRabbit {
  url: string;
  node: string;
  start(): Promise<void>;
  stop(): void;
  destroy(): void;
}

async function createPrivateRabbit(): Promise<PrivateRabbit> {
  const dir = mkdtempSync(path.join(tmpdir(), 'veche-chaos-rabbit-'));
  const [port, distPort] = [await freePort(), await freePort()];
  const node = `chaos${process.pid}${randomBytes(2).toString('hex')}@localhost`;
  writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  // rabbitmq-server run as root switches to the rabbitmq user, which must own the directory.
  if (process.getuid?.() === 0) {
    const ids = (flag: string) => Number(execFileSync('id', [flag, 'rabbitmq'], { encoding: 'utf8' }).trim());
    chownSync(dir, ids('-u'), ids('-g'));
    chownSync(path.join(dir, 'enabled_plugins'), ids('-u'), ids('-g'));
  }
  chmodSync(dir, 0o755);
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: path.join(dir, 'pid'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
  };
  let child: ChildProcess | undefined;
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const ctl = (...args: string[]) =>
    spawnSync('rabbitmqctl', ['-n', node, ...args], { env, stdio: 'ignore', timeout: 60_000 });
  const rabbit: PrivateRabbit = {
    url,
    node,
    async start() {
      child = spawn('rabbitmq-server', [], { env, stdio: 'ignore', detached: true });
      await until('the private RabbitMQ', 240_000, async () => {
        const connection = await amqp.connect(url);
        await connection.close();
        return true;
      });
    },
    stop() {
      ctl('stop');
      if (child?.pid && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
    destroy() {
      rabbit.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await rabbit.start();
  return rabbit;
}

// ---------------------------------------------------------------- the fleet

interface ProcessState {
  name: string;
  pid: number | undefined;
  status: string;
  restarts: number;
}

async function startMailSink() {
  const [smtpPort, webPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [path.join(root, 'services/mailer/src/dev-sink/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      MAIL_SINK_SMTP_PORT: String(smtpPort),
      MAIL_SINK_WEB_PORT: String(webPort),
      // Every mail of the run is counted at the end: none may be forgotten.
      MAIL_SINK_KEEP: '1000000',
      LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  const web = `http://127.0.0.1:${webPort}`;
  await until('the mail sink', 60_000, async () =>
    (await fetch(`${web}/messages.json`)).ok ? true : undefined,
  );
  return { child, smtpUrl: `smtp://127.0.0.1:${smtpPort}`, web };
}

async function startFleetProcess(databaseUrl: string, amqpUrl: string, smtpUrl: string) {
  const port = await freePort();
  const { min: syslogPorts } = await freePortRange(4);
  const child = spawn(process.execPath, [path.join(root, 'scripts/fleet/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      VECHE_PORT: String(port),
      DATABASE_URL: databaseUrl,
      AMQP_URL: amqpUrl,
      SMTP_URL: smtpUrl,
      NO_COLOR: '1',
      LOG_LEVEL: 'error',
      REQUIRE_VERIFIED_EMAIL: 'false',
      ACCESS_TOKEN_TTL_SECONDS: '3600',
      VECHE_SERVICE_SECRET: randomBytes(24).toString('base64url'),
      VECHE_REPLICAS: String(replicas),
      // The log sources' ports: a free range on the loopback only, not the shared default range.
      LOGS_BIND_HOST: '127.0.0.1',
      LOGS_PORT_MIN: String(syslogPorts),
      LOGS_PORT_MAX: String(syslogPorts + 3),
      // A mail whose mailer was SIGKILLed mid-send stays `sending` for this long, then goes again
      // (same Message-ID). The default (10 min) would outlast the run's wait for the mails.
      MAIL_SENDING_LEASE_MS: '60000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail: string[] = [];
  let ready = false;
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        if (line.includes('Veche is running at')) ready = true;
        tail.push(line);
        if (tail.length > 300) tail.shift();
      }
    });
  }
  await until('the fleet', 240_000, async () => (ready ? true : undefined)).catch((error: unknown) => {
    throw new Error(`the fleet did not start:\n${tail.join('\n')}`, { cause: error });
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    child,
    tail,
    async processes(): Promise<ProcessState[]> {
      const response = await fetch(`${origin}/_fleet/status`, { signal: AbortSignal.timeout(5_000) });
      return ((await response.json()) as { processes: ProcessState[] }).processes;
    },
    async stop() {
      if (child.exitCode !== null || !child.pid) return;
      process.kill(-child.pid, 'SIGINT');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(20_000)]);
      if (child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    },
  };
}

// ---------------------------------------------------------------- clients and their ledgers

interface Acked {
  key: string;
  text: string;
  messageId: string;
  seq: number;
}

interface User {
  name: string;
  email: string;
  password: string;
  userId: string;
  token: string;
  acked: Acked[];
  attempts: number;
  retries: number;
  readUpTo: number;
  status: number | undefined;
  /** Message seqs of the room this user saw: live over WAMP, or fetched after a reconnect or a gap. */
  seen: Set<number>;
  live: number;
  caughtUp: number;
  reconnects: number;
  connectFailures: number;
  wamp: TestWampClient | undefined;
}

async function main(): Promise<number> {
  const why = privatePostgresUnavailable();
  if (why || spawnSync('rabbitmq-server', ['--help'], { stdio: 'ignore' }).error) {
    console.error(`cannot run the private servers here: ${why ?? 'no rabbitmq-server'}`);
    return 3;
  }
  note(
    `seed ${seed}, ${minutes} min of faults, ${userCount} users; load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  let postgres: PrivatePostgres | undefined;
  let rabbit: PrivateRabbit | undefined;
  let sink: Awaited<ReturnType<typeof startMailSink>> | undefined;
  let fleet: Awaited<ReturnType<typeof startFleetProcess>> | undefined;
  const users: User[] = [];
  let stopping = false;
  const cleanup = async () => {
    stopping = true;
    for (const user of users) user.wamp?.close();
    await fleet?.stop().catch(() => {});
    sink?.child.kill('SIGTERM');
    rabbit?.destroy();
    postgres?.destroy();
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    postgres = await createPrivatePostgres();
    const databaseUrl = new URL(postgres.url);
    databaseUrl.pathname = '/veche_chaos';
    note(`private PostgreSQL at ${databaseUrl.host}`);
    rabbit = await createPrivateRabbit();
    note(`private RabbitMQ ${rabbit.node} at ${new URL(rabbit.url).host}`);
    sink = await startMailSink();
    fleet = await startFleetProcess(databaseUrl.toString(), rabbit.url, sink.smtpUrl);
    const { origin } = fleet;
    note(`fleet at ${origin}`);
    const liveFleet = fleet;
    const liveRabbit = rabbit;
    const livePostgres = postgres;
    const liveSink = sink;

    const api = async <T>(method: string, url: string, body?: unknown, token?: string) => {
      const response = await fetch(`${origin}/api${url}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      return { status: response.status, json: (text ? JSON.parse(text) : {}) as T };
    };
    /** Retries a call until it is answered with `ok` (the client's side of at-least-once). */
    const retried = async <T>(
      what: string,
      call: () => Promise<{ status: number; json: T }>,
      ok: number[],
      user?: User,
    ) => {
      for (let attempt = 0; ; attempt += 1) {
        const answer = await call().catch(() => ({ status: 0, json: {} as T }));
        if (ok.includes(answer.status)) return answer.json;
        if (answer.status === 401 && user) await logIn(user).catch(() => {});
        if (user && attempt > 0) user.retries += 1;
        if (attempt > 600) throw new Error(`${what}: still ${answer.status} after ${attempt} tries`);
        await sleep(200 + Math.min(attempt, 10) * 100);
      }
    };
    const logIn = async (user: User) => {
      const login = await retried(
        'log in',
        () =>
          api<{ accessToken: string; userId: string }>('POST', '/auth/login', {
            email: user.email,
            password: user.password,
          }),
        [200],
      );
      user.token = login.accessToken;
      user.userId = login.userId;
    };

    // Every account registered is owed exactly one verification mail. A registration whose answer was
    // lost is retried: a 409 then says the first attempt created it (and the gateway mails the owner
    // of the address about the second attempt).
    interface Registration {
      email: string;
      conflicts: number;
    }
    const registrations: Registration[] = [];
    const register = async (email: string, password: string, displayName: string) => {
      const registration: Registration = { email, conflicts: 0 };
      registrations.push(registration);
      await retried(
        'register',
        async () => {
          const answer = await api('POST', '/auth/register', { email, password, displayName });
          if (answer.status === 409) registration.conflicts += 1;
          return answer;
        },
        [201, 409],
      );
    };

    for (let i = 0; i < userCount; i += 1) {
      const user: User = {
        name: `user${i}`,
        email: `chaos-${seed}-${i}@example.org`,
        password: 'a long enough password',
        userId: '',
        token: '',
        acked: [],
        attempts: 0,
        retries: 0,
        readUpTo: 0,
        status: undefined,
        seen: new Set(),
        live: 0,
        caughtUp: 0,
        reconnects: 0,
        connectFailures: 0,
        wamp: undefined,
      };
      await register(user.email, user.password, user.name);
      await logIn(user);
      users.push(user);
    }
    const owner = users[0]!;
    const { roomId } = await retried(
      'create the room',
      () =>
        api<{ roomId: string }>(
          'POST',
          '/rooms',
          { name: `chaos ${seed}`, visibility: 'public' },
          owner.token,
        ),
      [201],
      owner,
    );
    for (const user of users.slice(1))
      await retried('join', () => api('POST', `/rooms/${roomId}/join`, {}, user.token), [200], user);
    note(`${users.length} users in room ${roomId}`);

    // Syslog: numbered lines over TCP to a log source of the owner's. A line is acknowledged once it is
    // committed, which the sender learns from the owner's live tail (published only after the commit)
    // or from /api. TCP itself acknowledges nothing: the listener's FIN after ours says it read every
    // line, but a SIGKILLed replica's kernel sends the same FIN, and its uncommitted lines are gone
    // (services/log-listener/README.md, "Guarantee"). Each connection carries a few lines and is
    // closed, so what was sent sits in a replica, not in a socket buffer, when a fault comes.
    const source = await retried(
      'create the log source',
      () =>
        api<{ sourceId: string; port: number }>(
          'POST',
          '/logs/sources',
          { name: `chaos ${seed}`, timeZone: 'UTC' },
          owner.token,
        ),
      [201],
      owner,
    );
    interface SyslogConnection {
      first: number;
      count: number;
      openedAt: number;
      closedAt: number;
      /** The listener closed after us, with no error: it read every line. */
      clean: boolean;
      /** Why it did not close cleanly (ECONNRESET, a timeout…). */
      error?: string;
    }
    const syslog = {
      next: 0,
      connections: [] as SyslogConnection[],
      refused: 0,
      acked: new Set<number>(),
      live: 0,
      caughtUp: 0,
      /** The highest line id seen; a catch-up pages from somewhat below it. */
      lastId: 0,
    };
    const syslogText = (n: number) => `chaos ${seed} line ${n}`;
    const syslogNumber = (message: string | undefined) => {
      const match = /^chaos (\d+) line (\d+)$/.exec(message ?? '');
      return match && Number(match[1]) === seed ? Number(match[2]) : undefined;
    };
    const ackLine = (line: { id?: string; message?: string }, how: 'live' | 'caughtUp') => {
      syslog.lastId = Math.max(syslog.lastId, Number(line.id ?? 0));
      const n = syslogNumber(line.message);
      if (n === undefined || syslog.acked.has(n)) return;
      syslog.acked.add(n);
      syslog[how] += 1;
    };
    const sendSyslogLines = (count: number) =>
      new Promise<void>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: source.port });
        let ended = false;
        let failed = false;
        let record: SyslogConnection | undefined;
        // A listener that never closes counts as a connection that failed.
        socket.setTimeout(60_000, () => socket.destroy(new Error('no close from the listener in 60 s')));
        socket.on('connect', () => {
          record = { first: syslog.next, count, openedAt: Date.now(), closedAt: 0, clean: false };
          syslog.next += count;
          syslog.connections.push(record);
          let frames = '';
          for (let n = record.first; n < record.first + count; n += 1)
            frames += `<13>chaos: ${syslogText(n)}\n`;
          socket.end(frames);
        });
        socket.on('end', () => (ended = true));
        socket.on('error', (error: NodeJS.ErrnoException) => {
          failed = true;
          if (record) record.error = error.code ?? error.message;
        });
        socket.on('close', () => {
          if (record) {
            record.closedAt = Date.now();
            record.clean = ended && !failed;
          } else syslog.refused += 1;
          resolve();
        });
      });
    const catchUpLogs = async () => {
      let after = Math.max(0, syslog.lastId - 5_000);
      for (;;) {
        const page = await api<{ events: { id: string; message: string }[] }>(
          'GET',
          `/logs/sources/${source.sourceId}/events?after=${after}&limit=1000`,
          undefined,
          owner.token,
        );
        if (page.status === 401) await logIn(owner);
        if (page.status !== 200) throw new Error(`log catch-up: ${page.status}`);
        for (const line of page.json.events) {
          ackLine(line, 'caughtUp');
          after = Math.max(after, Number(line.id));
        }
        if (page.json.events.length < 1000) return;
      }
    };
    note(`log source ${source.sourceId} on port ${source.port}`);

    // Realtime: a WAMP session per user on its own topic; a reconnect catches up over /api.
    const wsUrl = `${origin.replace('http', 'ws')}/ws`;
    const catchUp = async (user: User) => {
      let after = 0;
      for (;;) {
        const page = await api<{ messages: { seq: number }[]; hasMore: boolean }>(
          'GET',
          `/rooms/${roomId}/messages?after=${after}&limit=200`,
          undefined,
          user.token,
        );
        if (page.status === 401) await logIn(user);
        if (page.status !== 200) throw new Error(`catch-up: ${page.status}`);
        for (const message of page.json.messages) {
          if (!user.seen.has(message.seq)) user.caughtUp += 1;
          user.seen.add(message.seq);
          after = Math.max(after, message.seq);
        }
        if (!page.json.hasMore) return;
      }
    };
    const listen = async (user: User): Promise<void> => {
      while (!stopping) {
        try {
          const client = await connectWampClient(wsUrl, user.userId, user.token);
          user.wamp = client;
          await client.session.subscribe(`veche.user.${user.userId}.rooms`, (args, kwargs) => {
            // Services publish the event as kwargs.
            const payload = (kwargs ?? args?.[0]) as
              { type?: string; seq?: number; events?: { type?: string; seq?: number }[] } | undefined;
            const events = payload?.type === 'batch' ? (payload.events ?? []) : payload ? [payload] : [];
            for (const event of events) {
              if (
                event.type === 'message_posted' &&
                typeof event.seq === 'number' &&
                !user.seen.has(event.seq)
              ) {
                user.seen.add(event.seq);
                user.live += 1;
              }
            }
          });
          if (user === owner) {
            await client.session.subscribe(`veche.user.${user.userId}.logs`, (_args, kwargs) => {
              const event = kwargs as
                | { type?: string; sourceId?: string; events?: { id?: string; message?: string }[] }
                | undefined;
              if (event?.type !== 'lines' || event.sourceId !== source.sourceId) return;
              for (const line of event.events ?? []) ackLine(line, 'live');
            });
          }
          await catchUp(user).catch(() => {});
          if (user === owner) await catchUpLogs().catch(() => {});
          await client.closed;
          user.wamp = undefined;
          if (!stopping) user.reconnects += 1;
        } catch (error) {
          user.connectFailures += 1;
          if (user.connectFailures === 1)
            note(
              `${user.name}: WAMP connect failed: ${String((error as Error).message ?? error).slice(0, 200)}`,
            );
          await logIn(user).catch(() => {});
        }
        await sleep(300);
      }
    };
    const listeners = users.map((user) => listen(user));

    // Load: posts with idempotency keys (retried with the same key until acknowledged), receipts and
    // presence changes, each acknowledged answer written to the user's ledger.
    let loadOn = true;
    const work = async (user: User) => {
      let n = 0;
      while (loadOn) {
        n += 1;
        const key = `${user.name}-${n}`;
        const text = `chaos ${seed} ${key} ${randomBytes(4).toString('hex')}`;
        user.attempts += 1;
        const posted = await retried(
          'post',
          () =>
            api<{ messageId: string; seq: number }>(
              'POST',
              `/rooms/${roomId}/messages`,
              { text, idempotencyKey: key },
              user.token,
            ),
          [201],
          user,
        );
        user.acked.push({ key, text, messageId: posted.messageId, seq: posted.seq });
        if (n % 4 === 0) {
          const readUpTo = posted.seq;
          await retried(
            'receipts',
            () => api('POST', `/rooms/${roomId}/receipts`, { readUpTo }, user.token),
            [200, 204],
            user,
          );
          user.readUpTo = Math.max(user.readUpTo, readUpTo);
        }
        if (n % 6 === 0) {
          const status = 1 + Math.floor(loadRandom() * 7);
          await retried(
            'presence',
            () => api('PUT', '/presence/status', { status }, user.token),
            [200, 204],
            user,
          );
          user.status = status;
        }
        await sleep(150 + Math.floor(loadRandom() * 250));
      }
    };
    const workers = users.map((user) => work(user));
    const syslogSender = (async () => {
      while (loadOn) {
        await sendSyslogLines(20);
        await sleep(200);
      }
    })();
    const registrar = (async () => {
      for (let i = 1; loadOn; i += 1) {
        await register(`chaos-${seed}-mail-${i}@example.org`, 'a long enough password', `mail ${i}`);
        await sleep(2_000 + Math.floor(loadRandom() * 2_000));
      }
    })();

    // Faults, on a seeded schedule.
    interface Fault {
      at: string;
      kind: string;
      target: string;
      /** Until an authenticated /api read answered again (0: another replica answered at once). */
      apiGapSeconds: number | undefined;
      /** Until what was taken down runs again and the API answers. */
      recoverySeconds: number | undefined;
      outcome: string;
    }
    const faults: Fault[] = [];
    const probe = async () => {
      const user = owner;
      const answer = await api('GET', `/rooms/${roomId}/messages?limit=1`, undefined, user.token);
      if (answer.status === 401) await logIn(user);
      return answer.status === 200 ? true : undefined;
    };
    const processes = await liveFleet.processes();
    const services = processes.map((p) => p.name).filter((name) => name !== 'wamp-router');
    const kinds = [
      ...services.map((name) => ({ kind: 'SIGKILL', target: name })),
      { kind: 'restart', target: 'wamp-router' },
      { kind: 'restart', target: 'postgresql' },
      { kind: 'restart', target: 'rabbitmq' },
      { kind: 'cut', target: 'client websockets' },
      { kind: 'cut', target: 'postgresql backends' },
      { kind: 'cut', target: 'amqp connections' },
    ];
    const order: typeof kinds = [];
    const refill = () => {
      const round = [...kinds];
      for (let i = round.length - 1; i > 0; i -= 1) {
        const j = Math.floor(faultRandom() * (i + 1));
        [round[i], round[j]] = [round[j]!, round[i]!];
      }
      order.push(...round);
    };
    /** When each log-listener replica was SIGKILLed: the lines it had read and not committed die with it. */
    const logListenerKills: number[] = [];
    /** SIGKILLs a process; `back` settles once the supervisor has it running again. */
    const killProcess = async (name: string) => {
      const before = (await liveFleet.processes()).find((p) => p.name === name);
      if (!before?.pid) throw new Error(`${name} has no pid`);
      if (name.split('#')[0] === 'log-listener') logListenerKills.push(Date.now());
      process.kill(before.pid, 'SIGKILL');
      return {
        back: until(`${name} to run again`, 180_000, async () => {
          const now = (await liveFleet.processes()).find((p) => p.name === name);
          return now?.pid && now.pid !== before.pid && now.status === 'running' ? true : undefined;
        }),
      };
    };
    /**
     * Starts the fault: `detail` says what it hit, when there is something to count; `back` settles
     * once what was taken down runs again (the API may answer before that: another replica serves).
     */
    const inject = async (
      fault: (typeof kinds)[number],
    ): Promise<{ detail?: string; back?: Promise<unknown> }> => {
      switch (`${fault.kind} ${fault.target}`) {
        case 'restart wamp-router':
          return killProcess('wamp-router');
        case 'restart postgresql':
          livePostgres.stop();
          return { back: sleep(1_000).then(() => livePostgres.start()) };
        case 'restart rabbitmq':
          liveRabbit.stop();
          return { back: sleep(1_000).then(() => liveRabbit.start()) };
        case 'cut client websockets': {
          const open = users.filter((user) => user.wamp);
          for (const user of open) user.wamp?.close();
          return { detail: `${open.length} sessions` };
        }
        case 'cut postgresql backends': {
          const admin = new pg.Client({ connectionString: databaseUrl.toString() });
          await admin.connect();
          try {
            const cut = await admin.query(
              'select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and datname = current_database()',
            );
            return { detail: `${cut.rowCount} backends` };
          } finally {
            await admin.end().catch(() => {});
          }
        }
        case 'cut amqp connections': {
          const ctl = (...args: string[]) =>
            spawnSync('rabbitmqctl', ['-n', liveRabbit.node, '-q', ...args], {
              encoding: 'utf8',
              timeout: 60_000,
            });
          const count = ctl('list_connections', 'pid')
            .stdout.split('\n')
            .filter((line) => line.trim()).length;
          const closed = ctl('close_all_connections', 'chaos');
          if (closed.status !== 0)
            throw new Error(`rabbitmqctl close_all_connections: ${closed.stderr.slice(0, 200)}`);
          return { detail: `${count} connections` };
        }
        default:
          return killProcess(fault.target);
      }
    };
    const faultCount = Math.max(1, Math.round(minutes * faultsPerMinute));
    const interval = (minutes * 60_000) / faultCount;
    note(`injecting ${faultCount} faults, one every ${(interval / 1000).toFixed(1)} s (seeded)`);
    const faultsEnd = Date.now() + minutes * 60_000;
    // What is still coming back, by what it hit (a service, whichever replica, or a server): the
    // next fault injects once the API answers again, but a fault on the same waits for it, so a
    // replica is killed only while its sibling serves.
    const comingBack = new Map<string, Promise<void>>();
    for (let i = 0; i < faultCount && Date.now() < faultsEnd; i += 1) {
      const slot = Date.now() + interval * (0.6 + faultRandom() * 0.4);
      if (order.length === 0) refill();
      const fault = order.shift()!;
      const family = fault.target.split('#')[0]!;
      await comingBack.get(family);
      const record: Fault = {
        at: at(),
        kind: fault.kind,
        target: fault.target,
        apiGapSeconds: undefined,
        recoverySeconds: undefined,
        outcome: '',
      };
      faults.push(record);
      const report = () =>
        note(
          `${fault.kind} ${fault.target}: ${record.outcome}; API answered after ${record.apiGapSeconds?.toFixed(1) ?? '-'} s, back after ${record.recoverySeconds?.toFixed(1) ?? '-'} s`,
        );
      try {
        const { detail, back } = await inject(fault);
        // Timed from the fault's taking effect: the signal sent, the connections cut (rabbitmqctl alone
        // takes seconds to start), the server stopped.
        const t0 = Date.now();
        const settled = (back ?? Promise.resolve()).then(
          () => undefined,
          (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
        );
        await until('the API to answer again', 180_000, probe);
        record.apiGapSeconds = (Date.now() - t0) / 1000;
        comingBack.set(
          family,
          (async () => {
            try {
              const failure = await settled;
              if (failure) throw failure;
              await until('the API to answer again', 180_000, probe);
              record.recoverySeconds = (Date.now() - t0) / 1000;
              record.outcome = detail ? `recovered (${detail} cut)` : 'recovered';
            } catch (error) {
              record.outcome = `NOT RECOVERED: ${(error as Error).message.slice(0, 80)}`;
            }
            report();
          })(),
        );
      } catch (error) {
        record.outcome = `NOT RECOVERED: ${(error as Error).message.slice(0, 80)}`;
        report();
      }
      await sleep(Math.max(0, slot - Date.now()));
    }
    await Promise.all(comingBack.values());

    note('faults over; draining the load');
    loadOn = false;
    await Promise.all([...workers, syslogSender, registrar]);
    const allRunning = async () =>
      (await liveFleet.processes()).every((p) => p.pid !== undefined && p.status === 'running')
        ? true
        : undefined;
    // Every process back: each runs (answers its readiness probe) and the API answers.
    await until('every process running', 180_000, allRunning).catch(() => {});
    await until('the API', 60_000, probe).catch(() => {});
    // The log-listener replicas stop gracefully (SIGTERM: every line read is committed, then they
    // exit; the supervisor starts them again), so what is not stored after that never will be.
    for (const replica of (await liveFleet.processes()).filter(
      (p) => p.name.split('#')[0] === 'log-listener',
    )) {
      if (!replica.pid) continue;
      process.kill(replica.pid, 'SIGTERM');
      await until(`${replica.name} to run again after SIGTERM`, 180_000, async () => {
        const now = (await liveFleet.processes()).find((p) => p.name === replica.name);
        return now?.pid && now.pid !== replica.pid && now.status === 'running' ? true : undefined;
      }).catch((error: unknown) => note(String(error)));
    }
    await until('every process running', 180_000, allRunning).catch(() => {});
    for (const user of users)
      await catchUp(user).catch((error: unknown) => note(`catch-up failed: ${String(error)}`));
    // Mails are sent after the registration's answer: every account's verification mail in the sink.
    const verifyMail = /confirm your e-mail address/i;
    const attemptMail = /tried to sign up/i;
    type SinkMail = { envelopeTo: string[]; text: string; messageId?: string };
    const sinkMails = async () => (await (await fetch(`${liveSink.web}/messages.json`)).json()) as SinkMail[];
    const mailsTo = (mails: SinkMail[], email: string, kind: RegExp) =>
      mails.filter((mail) => mail.envelopeTo.includes(email) && kind.test(mail.text)).length;
    await until('every verification mail', 180_000, async () => {
      const mails = await sinkMails();
      return registrations.every((r) => mailsTo(mails, r.email, verifyMail) > 0) ? true : undefined;
    }).catch(() => note('some verification mails did not come within 180 s'));

    // The ledgers against the database, the mail sink and the views.
    const db = new pg.Client({ connectionString: databaseUrl.toString() });
    await db.connect();
    const rows = (
      await db.query<{ id: string; text: string; seq: number }>(
        'select id, text, seq from chat.messages where room_id = $1',
        [roomId],
      )
    ).rows;
    const storedLines = (
      await db.query<{ message: string }>('select message from logs.log_lines where source_id = $1', [
        source.sourceId,
      ])
    ).rows;
    await db.end();
    const byText = new Map<string, number>();
    for (const row of rows) byText.set(row.text, (byText.get(row.text) ?? 0) + 1);
    const allAcked = users.flatMap((user) => user.acked);
    const lost = allAcked.filter(
      (a) => !rows.some((row) => row.id === a.messageId && row.text === a.text),
    ).length;
    const duplicated = [...byText.values()].filter((count) => count > 1).length;
    const ackedTwice = allAcked.length - new Set(allAcked.map((a) => a.messageId)).size;
    const unseen = users.reduce((sum, user) => sum + allAcked.filter((a) => !user.seen.has(a.seq)).length, 0);
    const receipts = await api<{ receipts?: { userId: string; readUpTo: number }[] }>(
      'GET',
      `/rooms/${roomId}/receipts`,
      undefined,
      owner.token,
    );
    const receiptRows = receipts.json.receipts ?? [];
    const wrongReceipts = users.filter(
      (user) =>
        user.readUpTo > 0 && receiptRows.find((r) => r.userId === user.userId)?.readUpTo !== user.readUpTo,
    ).length;
    let wrongStatuses = 0;
    for (const user of users.filter((u) => u.status !== undefined)) {
      const mine = await api<{ chosen: number | null }>('GET', '/presence/status', undefined, user.token);
      if (mine.json.chosen !== user.status) wrongStatuses += 1;
    }
    const mails = await sinkMails();
    const verifyPer = registrations.map((r) => mailsTo(mails, r.email, verifyMail));
    // A mail missing: what the gateway and the mailer know of it, so the cause can be told.
    const missing = registrations.filter((_, i) => verifyPer[i] === 0);
    if (missing.length > 0) {
      const inspect = new pg.Client({ connectionString: databaseUrl.toString() });
      await inspect.connect();
      for (const r of missing) {
        const account = await inspect
          .query<{ user_id: string }>('select user_id from gateway.accounts where lower(email) = lower($1)', [
            r.email,
          ])
          .catch((error: unknown) => ({ rows: [{ user_id: `? ${String(error)}` }] }));
        const rows = await inspect
          .query(
            `select kind, state, attempts, sending_since, next_attempt_at, sent_at, last_error, history
             from mailer.mails where lower(to_address) = lower($1)`,
            [r.email],
          )
          .catch((error: unknown) => ({ rows: [String(error)] }));
        note(
          `no verification mail for ${r.email}: account ${account.rows[0]?.user_id ?? 'none'}; mailer rows ${JSON.stringify(rows.rows).slice(0, 600)}`,
        );
      }
      await inspect.end();
    }
    const lostMails = verifyPer.filter((count) => count === 0).length;
    const duplicatedMails = verifyPer.reduce((sum, count) => sum + Math.max(0, count - 1), 0);
    // A retried registration answered 409 is owed at most one "someone tried to sign up" mail.
    const attemptMails = registrations.reduce((sum, r) => sum + mailsTo(mails, r.email, attemptMail), 0);
    const extraAttemptMails = registrations.reduce(
      (sum, r) => sum + Math.max(0, mailsTo(mails, r.email, attemptMail) - r.conflicts),
      0,
    );

    // Syslog lines: each stored once; every acknowledged one stored; a line sent and not stored must
    // have been read by a log-listener replica SIGKILLed before it committed it.
    const storedTimes = new Map<number, number>();
    let storedStrangers = 0;
    for (const row of storedLines) {
      const n = syslogNumber(row.message);
      if (n === undefined || n >= syslog.next) storedStrangers += 1;
      else storedTimes.set(n, (storedTimes.get(n) ?? 0) + 1);
    }
    const linesSent = syslog.connections.reduce((sum, c) => sum + c.count, 0);
    const ackedLinesLost = [...syslog.acked].filter((n) => !storedTimes.has(n)).length;
    const linesDuplicated = [...storedTimes.values()].reduce((sum, times) => sum + times - 1, 0);
    // A kill explains a connection open at that moment: lines read and not committed die with the
    // replica. Up to 5 s after the signal counts too: a connection accepted by the kernel on the
    // dying process's listening socket (SO_REUSEPORT gives each replica its own accept queue) is reset
    // with it, unread. Every connection that did not close cleanly is listed below with the nearest
    // kill, so the rule can be checked against what happened.
    const killWindowMs = 60_000;
    const killSlackMs = 5_000;
    let notStoredExplained = 0;
    let notStoredUnexplained = 0;
    let notStoredCleanClose = 0;
    for (const connection of syslog.connections) {
      for (let n = connection.first; n < connection.first + connection.count; n += 1) {
        if (storedTimes.has(n)) continue;
        if (connection.clean) notStoredCleanClose += 1;
        const killed = logListenerKills.some(
          (at) => at + killSlackMs >= connection.openedAt && at <= connection.closedAt + killWindowMs,
        );
        if (killed) notStoredExplained += 1;
        else notStoredUnexplained += 1;
      }
    }
    const unclean = syslog.connections.filter((c) => !c.clean);
    const uncleanConnections = unclean.length;
    const since = (ms: number) => ((ms - started) / 1000).toFixed(1);
    for (const c of unclean) {
      const stored = Array.from({ length: c.count }, (_, i) => c.first + i).filter((n) => storedTimes.has(n));
      const nearest = logListenerKills
        .map((killAt) => killAt - c.openedAt)
        .sort((a, b) => Math.abs(a) - Math.abs(b))[0];
      note(
        `syslog connection not closed cleanly: opened ${since(c.openedAt)} s, closed ${since(c.closedAt)} s (${c.error ?? 'no FIN'}), ${stored.length}/${c.count} lines stored; nearest log-listener SIGKILL ${nearest === undefined ? 'none' : `${(-nearest / 1000).toFixed(2)} s before it opened`}`,
      );
    }
    const finalProcesses = await liveFleet.processes().catch(() => [] as ProcessState[]);
    const unhealthy = finalProcesses
      .filter((p) => p.pid === undefined || p.status !== 'running')
      .map((p) => p.name);
    const unrecovered = faults.filter((f) => !f.outcome.startsWith('recovered')).length;

    console.log('\nFaults');
    console.log('| # | at (s) | fault | target | API gap (s) | recovery (s) | outcome |');
    console.log('| ---: | ---: | --- | --- | ---: | ---: | --- |');
    faults.forEach((f, i) =>
      console.log(
        `| ${i + 1} | ${f.at} | ${f.kind} | ${f.target} | ${f.apiGapSeconds?.toFixed(1) ?? '-'} | ${f.recoverySeconds?.toFixed(1) ?? '-'} | ${f.outcome} |`,
      ),
    );
    const live = users.reduce((sum, u) => sum + u.live, 0);
    const caughtUp = users.reduce((sum, u) => sum + u.caughtUp, 0);
    const outcome: [string, number | string, boolean][] = [
      ['replicas per service', replicas, true],
      ['faults injected', faults.length, true],
      ['faults not recovered', unrecovered, unrecovered === 0],
      ['messages acknowledged', allAcked.length, true],
      ['post retries (same idempotency key)', users.reduce((s, u) => s + u.retries, 0), true],
      ['acknowledged messages lost', lost, lost === 0],
      ['messages duplicated in the database', duplicated, duplicated === 0],
      ['acknowledgements naming one message twice', ackedTwice, ackedTwice === 0],
      ['realtime deliveries (live)', live, live > 0],
      ['realtime gaps caught up over /api', caughtUp, true],
      ['acknowledged messages missing from a client view', unseen, unseen === 0],
      ['receipts not as last acknowledged', wrongReceipts, wrongReceipts === 0],
      ['statuses not as last acknowledged', wrongStatuses, wrongStatuses === 0],
      ['accounts registered (each owed one verification mail)', registrations.length, true],
      ['registrations answered 409 on a retry', registrations.reduce((s, r) => s + r.conflicts, 0), true],
      ['verification mails lost', lostMails, lostMails === 0],
      ['verification mails duplicated', duplicatedMails, duplicatedMails === 0],
      ['"tried to sign up" mails (one per 409 at most)', attemptMails, true],
      ['"tried to sign up" mails beyond the 409s', extraAttemptMails, extraAttemptMails === 0],
      ['syslog lines sent', `${linesSent} on ${syslog.connections.length} connections`, linesSent > 0],
      ['syslog connections refused (no listener)', syslog.refused, true],
      ['syslog connections not closed cleanly by the listener', uncleanConnections, true],
      [
        'syslog lines acknowledged (committed: live tail or /api)',
        `${syslog.acked.size} (${syslog.live} live, ${syslog.caughtUp} caught up)`,
        syslog.acked.size > 0,
      ],
      ['acknowledged syslog lines lost', ackedLinesLost, ackedLinesLost === 0],
      ['stored syslog lines duplicated', linesDuplicated, linesDuplicated === 0],
      ['stored syslog lines never sent', storedStrangers, storedStrangers === 0],
      [
        'syslog lines not stored, read by a replica SIGKILLed before its commit',
        `${notStoredExplained} (${notStoredCleanClose} of all not stored had a clean close)`,
        true,
      ],
      [
        'syslog lines not stored, no log-listener SIGKILL near',
        notStoredUnexplained,
        notStoredUnexplained === 0,
      ],
      ['WAMP reconnects', users.reduce((s, u) => s + u.reconnects, 0), true],
      ['WAMP connect failures (retried)', users.reduce((s, u) => s + u.connectFailures, 0), true],
      [
        'processes not running at the end',
        unhealthy.length ? unhealthy.join(', ') : 0,
        unhealthy.length === 0,
      ],
    ];
    console.log('\nOutcome');
    console.log('| what | count | |');
    console.log('| --- | ---: | --- |');
    for (const [what, count, ok] of outcome) console.log(`| ${what} | ${count} | ${ok ? 'ok' : 'FAIL'} |`);
    console.log(
      `\nseed ${seed}, ${minutes} min, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    stopping = true;
    for (const user of users) user.wamp?.close();
    await Promise.race([Promise.all(listeners), sleep(5_000)]);
    const failed = outcome.some(([, , ok]) => !ok);
    if (failed) console.log(`\nFAILED. The fleet's last lines:\n${liveFleet.tail.slice(-40).join('\n')}`);
    return failed ? 1 : 0;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(error);
  return 1;
});
process.exit();
