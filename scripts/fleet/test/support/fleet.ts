/**
 * The real local fleet for whole-fleet tests: the development SMTP sink as its own process (the tests
 * read the mails from its HTTP API), then `scripts/fleet/main.ts` on a free port with its own database
 * and its own RabbitMQ virtual host and names, so it shares nothing with other fleets running at the
 * same time.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { scaledMs } from '@veche/testing';
import { freePorts } from '../../processes.ts';

const root = path.resolve(import.meta.dirname, '../../../..');

export { freePort } from '../../processes.ts';

async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface SinkMail {
  envelopeTo: string[];
  subject: string;
  text: string;
}

export interface Fleet {
  origin: string;
  /** The fleet's own database (dropped by stop). */
  databaseUrl: string;
  /** The fleet's RabbitMQ (its own virtual host when one could be made). */
  amqpUrl: string;
  /** The prefix of the fleet's own RabbitMQ names: `<names>.events`, `<names>.mailer`, … */
  names: string;
  /** The fleet's process, in a process group of its own (signal `-child.pid` as a terminal does). */
  child: ChildProcess;
  /** Resolves with the fleet's exit code. */
  exited: Promise<number | null>;
  output: () => string;
  /** Every mail the sink holds for `address`, as it is now. */
  mails(address: string): Promise<SinkMail[]>;
  /** The first link to `path` in a mail to `address`, waiting for the mail to arrive. */
  mailLink(address: string, linkPath: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function track(child: ChildProcess): { output: () => string; exited: Promise<number | null> } {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { output: () => output, exited };
}

/**
 * A RabbitMQ virtual host for this run, when `rabbitmqctl` can make one (a local broker, as here and
 * in CI): deleting it at the end removes every queue and exchange the fleet declared. Without it the
 * fleet still gets names of its own (below), which are left behind.
 */
function createVhost(name: string, amqpUrl: URL): { url: string; remove: () => void } | undefined {
  const ctl = (...args: string[]) =>
    spawnSync('rabbitmqctl', args, { stdio: 'ignore', timeout: 20_000 }).status === 0;
  const user = decodeURIComponent(amqpUrl.username || 'guest');
  if (!ctl('add_vhost', name) || !ctl('set_permissions', '-p', name, user, '.*', '.*', '.*'))
    return undefined;
  const url = new URL(amqpUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return { url: url.toString(), remove: () => void ctl('delete_vhost', name) };
}

export async function startFleet(options: { env?: Record<string, string> } = {}): Promise<Fleet> {
  const [port, smtpPort, sinkWebPort] = (await freePorts(3)) as [number, number, number];
  const sink = spawn(process.execPath, [path.join(root, 'services/mailer/src/dev-sink/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      MAIL_SINK_SMTP_PORT: String(smtpPort),
      MAIL_SINK_WEB_PORT: String(sinkWebPort),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const sinkLog = track(sink);
  const sinkUrl = `http://127.0.0.1:${sinkWebPort}`;
  // A sink that never answers must not outlive the test (its pipes would keep the test process alive).
  await waitFor(
    async () => ((await fetch(`${sinkUrl}/messages.json`).catch(() => undefined))?.ok ? true : undefined),
    // A TypeScript process starting on a loaded machine (load 40 on 2 cores) took over 20 s.
    60_000,
    'the mail sink',
  ).catch((error: unknown) => {
    sink.kill('SIGKILL');
    throw error;
  });

  const databaseUrl = new URL(
    process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
  );
  const names = `webtest_${randomBytes(4).toString('hex')}`;
  // A database of its own, dropped at the end: every run starts from no accounts and no rooms.
  databaseUrl.pathname = `/veche_${names}`;
  const vhost = createVhost(names, new URL(process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672'));
  const fleet = spawn(process.execPath, [path.join(root, 'scripts/fleet/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      VECHE_PORT: String(port),
      DATABASE_URL: databaseUrl.toString(),
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      ...(vhost ? { AMQP_URL: vhost.url } : {}),
      NO_COLOR: '1',
      // Short-lived access tokens, so a browser test sees the client refresh them while it runs.
      ACCESS_TOKEN_TTL_SECONDS: process.env['ACCESS_TOKEN_TTL_SECONDS'] ?? '20',
      LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
      // This fleet's own RabbitMQ exchanges and queues: a fleet started by another test at the same
      // time must not consume our events (and send our mails to its sink).
      GATEWAY_EXCHANGE: `${names}.events`,
      CHAT_EXCHANGE: `${names}.events`,
      MAILER_EXCHANGE: `${names}.events`,
      MAILER_QUEUE: `${names}.mailer`,
      CHAT_ACCOUNTS_QUEUE: `${names}.chat-accounts`,
      CHAT_BOT_EXCHANGE: `${names}.bots`,
      CHAT_BOT_QUEUE: `${names}.chat-bot-replies`,
      PRESENCE_EXCHANGE: `${names}.events`,
      PRESENCE_ACCOUNTS_QUEUE: `${names}.presence-accounts`,
      LOGS_EXCHANGE: `${names}.events`,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const fleetLog = track(fleet);
  await waitFor(
    () => (fleetLog.output().includes('Veche is running at') ? true : undefined),
    // Inside the test's own limit (a `before` hook counts against it), so that a fleet that does not
    // start fails with its output, which names the process it waits for, not with a bare timeout.
    Math.max(60_000, Number(process.env['TEST_TIMEOUT_MS'] ?? 180_000) - 35_000),
    'the fleet',
  ).catch((error: unknown) => {
    if (fleet.exitCode === null) process.kill(-fleet.pid!, 'SIGKILL');
    sink.kill('SIGKILL');
    vhost?.remove();
    throw new Error(`the fleet did not start:\n${fleetLog.output()}`, { cause: error });
  });

  return {
    origin: `http://127.0.0.1:${port}`,
    databaseUrl: databaseUrl.toString(),
    amqpUrl: vhost?.url ?? process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672',
    names,
    child: fleet,
    exited: fleetLog.exited,
    output: fleetLog.output,
    async mails(address) {
      const mails = (await (await fetch(`${sinkUrl}/messages.json`)).json()) as SinkMail[];
      return mails.filter((m) => m.envelopeTo.includes(address));
    },
    async mailLink(address, linkPath, timeoutMs = 30_000) {
      // × TEST_TIME_SCALE: the mail comes by the gateway's relay (held back by any long transaction
      // on the shared server), RabbitMQ, the mailer and the sink.
      return waitFor(
        async () => {
          const mails = (await (await fetch(`${sinkUrl}/messages.json`)).json()) as SinkMail[];
          for (const mail of mails.filter((m) => m.envelopeTo.includes(address)).reverse()) {
            const match = new RegExp(`https?://\\S+${linkPath}\\?token=[A-Za-z0-9_%-]+`).exec(mail.text);
            if (match) return match[0];
          }
          return undefined;
        },
        scaledMs(timeoutMs),
        `a mail to ${address} with a ${linkPath} link`,
      );
    },
    async stop() {
      if (fleet.exitCode === null) {
        process.kill(-fleet.pid!, 'SIGINT');
        await Promise.race([fleetLog.exited, new Promise((r) => setTimeout(r, 15_000))]);
        if (fleet.exitCode === null) process.kill(-fleet.pid!, 'SIGKILL');
      }
      sink.kill('SIGTERM');
      await Promise.race([sinkLog.exited, new Promise((r) => setTimeout(r, 5_000))]);
      vhost?.remove();
      const admin = new URL(databaseUrl);
      admin.pathname = '/postgres';
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      try {
        await client.query(`drop database if exists "veche_${names}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
