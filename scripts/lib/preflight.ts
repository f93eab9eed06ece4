/**
 * Finds PostgreSQL and RabbitMQ before tests or the fleet start: the configured (or default local)
 * servers when they answer; containers started by testcontainers when they don't and a Docker engine
 * is there; otherwise a clear message and exit within seconds. Never a hang, never a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

export interface Servers {
  databaseUrl: string;
  amqpUrl: string;
  /** Stops containers this preflight started (nothing when the servers were already there). */
  stop(): Promise<void>;
}

const timeoutMs = 3_000;

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

async function postgresProblem(url: string): Promise<string | undefined> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/** An AMQP 0-9-1 server answers the protocol header with its Connection.Start frame (type 1). */
function amqpProblem(url: string): Promise<string | undefined> {
  const parsed = new URL(url);
  const port = Number(parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672));
  return new Promise((resolve) => {
    const socket = net.connect({ host: parsed.hostname, port });
    const done = (problem: string | undefined) => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.on('error', (error) => done(error.message));
    socket.on('connect', () => socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
    socket.once('data', (data) => done(data[0] === 1 ? undefined : 'the server does not speak AMQP 0-9-1'));
  });
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

export async function ensureServers(options: {
  databaseUrl: string;
  amqpUrl: string;
  log: (line: string) => void;
  /** Start missing servers in containers when a Docker engine is there (default: yes, unless VECHE_NO_CONTAINERS=1). */
  allowContainers?: boolean;
}): Promise<Servers> {
  const { log } = options;
  let { databaseUrl, amqpUrl } = options;
  const [pgProblem, mqProblem] = await Promise.all([postgresProblem(databaseUrl), amqpProblem(amqpUrl)]);
  if (!pgProblem && !mqProblem) {
    log(`PostgreSQL at ${redact(databaseUrl)}, RabbitMQ at ${redact(amqpUrl)}`);
    return { databaseUrl, amqpUrl, stop: async () => {} };
  }
  const missing = [
    pgProblem ? `PostgreSQL at ${redact(databaseUrl)} (${pgProblem})` : undefined,
    mqProblem ? `RabbitMQ at ${redact(amqpUrl)} (${mqProblem})` : undefined,
  ].filter(Boolean);
  log(`not reachable: ${missing.join('; ')}`);
  const allowContainers = options.allowContainers ?? process.env['VECHE_NO_CONTAINERS'] !== '1';
  if (!allowContainers || !(await dockerAvailable())) {
    throw new PreflightError(
      [
        `Cannot reach ${missing.join(' and ')}, and no Docker engine is available to start them${allowContainers ? '' : ' (containers disabled by VECHE_NO_CONTAINERS)'}.`,
        'Provide them in one of these ways:',
        '  - point the variables at running servers: DATABASE_URL / TEST_DATABASE_URL (postgres://user@host:5432/db)',
        '    and AMQP_URL (amqp://user:pass@host:5672);',
        '  - install them locally: apt-get install postgresql rabbitmq-server (then start both);',
        '  - or start a Docker engine, and they will be started in containers (testcontainers).',
      ].join('\n'),
    );
  }
  const stops: (() => Promise<unknown>)[] = [];
  if (pgProblem) {
    log('starting PostgreSQL 15 in a container (testcontainers)…');
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15-alpine')
      .withDatabase(new URL(databaseUrl).pathname.slice(1) || 'veche')
      .withUsername('postgres')
      .withPassword('postgres')
      .start();
    databaseUrl = container.getConnectionUri();
    stops.push(() => container.stop());
  }
  if (mqProblem) {
    log('starting RabbitMQ 3 in a container (testcontainers)…');
    const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
    const container = await new RabbitMQContainer('rabbitmq:3-management-alpine').start();
    amqpUrl = container.getAmqpUrl();
    stops.push(() => container.stop());
  }
  log(`using PostgreSQL at ${redact(databaseUrl)}, RabbitMQ at ${redact(amqpUrl)}`);
  return {
    databaseUrl,
    amqpUrl,
    stop: async () => {
      await Promise.allSettled(stops.map((stop) => stop()));
    },
  };
}

export class PreflightError extends Error {
  override name = 'PreflightError';
}

/** Where Debian's rsyslog keeps its loadable modules (multiarch). */
const rsyslogModules = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/rsyslog`;

/**
 * Debian packages the deployment tests run for real (nginx, certbot, pebble, shellcheck…), by the
 * command each provides. The docker client is only checked: its package would bring an engine too.
 */
export const systemCommands: Record<string, string> = {
  nginx: 'nginx',
  certbot: 'certbot',
  pebble: 'pebble',
  'pebble-challtestsrv': 'pebble',
  shellcheck: 'shellcheck',
  openssl: 'openssl',
  envsubst: 'gettext-base',
  // The monitoring test: promtool checks the Prometheus configuration and runs the alert rules' tests.
  promtool: 'prometheus',
  // The Alertmanager test: amtool checks its rendered configuration; a real Prometheus and Alertmanager
  // take a down target to a webhook.
  prometheus: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'prometheus-alertmanager': 'prometheus-alertmanager',
  // The replica tests (scripts/replica/test): backups over SFTP, the uploads sync, the Vagrantfile and
  // its provisioning in a debootstrap root file system.
  pgbackrest: 'pgbackrest',
  restic: 'restic',
  sshd: 'openssh-server',
  'ssh-keygen': 'openssh-client',
  sshfs: 'sshfs',
  lsyncd: 'lsyncd',
  rsync: 'rsync',
  vagrant: 'vagrant',
  debootstrap: 'debootstrap',
  // The Kerberos test (issue 20): a real MIT KDC in a throw-away realm, its admin tool, kinit.
  krb5kdc: 'krb5-kdc',
  kdb5_util: 'krb5-kdc',
  'kadmin.local': 'krb5-admin-server',
  kinit: 'krb5-user',
  // The web client's browser test (clients/web/test/browser.e2e.spec.ts) drives Debian's Chromium;
  // without it that test would be skipped.
  chromium: 'chromium',
  // The log-listener's tests and bench: a real rsyslog forwarding over TCP and TLS (the gtls stream
  // driver is its own package), and rsyslog's PostgreSQL output the bench compares against.
  rsyslogd: 'rsyslog',
  [`${rsyslogModules}/lmnsd_gtls.so`]: 'rsyslog-gnutls',
  [`${rsyslogModules}/ompgsql.so`]: 'rsyslog-pgsql',
};

/** A command on the PATH (or in sbin), or a file given by its absolute path (a module of a package). */
function onPath(command: string): boolean {
  if (path.isAbsolute(command)) return existsSync(command);
  const dirs = `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`.split(':');
  return dirs.some((dir) => dir !== '' && existsSync(path.join(dir, command)));
}

/**
 * Installs the missing system packages with apt-get when running as root (as CI does on this kind of
 * machine), unless VECHE_NO_APT=1; otherwise fails with the command to run. Never skips silently.
 */
export function ensureSystemCommands(options: {
  log: (line: string) => void;
  commands?: Record<string, string>;
}): void {
  const commands = options.commands ?? systemCommands;
  const missing = () => Object.keys(commands).filter((c) => !onPath(c));
  const packagesFor = (names: string[]) => [...new Set(names.map((c) => commands[c]!))];
  let absent = missing();
  if (!onPath('docker')) {
    options.log('the docker client is not installed: the stack tests need `docker stack config` (no engine)');
  }
  if (absent.length === 0) return;
  const packages = packagesFor(absent);
  const command = `apt-get update && apt-get install -y ${packages.join(' ')}`;
  const canInstall = process.getuid?.() === 0 && onPath('apt-get') && process.env['VECHE_NO_APT'] !== '1';
  if (canInstall) {
    options.log(`installing ${packages.join(', ')} (for ${absent.join(', ')}) with apt-get…`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install =
      update.status === 0
        ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
            stdio: 'inherit',
            env,
          })
        : update;
    absent = missing();
    if (install.status === 0 && absent.length === 0) return;
  }
  throw new PreflightError(
    `Missing ${absent.join(', ')} (Debian packages ${packagesFor(absent).join(', ')}), needed by the deployment tests.\n` +
      `Install them with:\n  ${command}${canInstall ? '\n(the automatic install above failed)' : ''}`,
  );
}
