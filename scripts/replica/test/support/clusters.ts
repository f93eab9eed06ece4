/**
 * Two (or more) private PostgreSQL clusters on this machine for the replication, failover and backup
 * tests: each in a temporary folder with its own port, configured with the production replication
 * settings (replica/conf/veche-replication.conf), a standby made by the production program
 * (replica/bin/veche-pg-standby-prepare). Never the shared server on 5432.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export const root = path.resolve(import.meta.dirname, '../../../..');
const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort() : [];
export const pgBin = versions.length > 0 ? `/usr/lib/postgresql/${versions.at(-1)}/bin` : '';

import { freePort } from '../../../fleet/processes.ts';

export { freePort };

const asRoot = process.getuid?.() === 0;
const ids = asRoot
  ? {
      uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
    }
  : undefined;

/** Runs a PostgreSQL program as the postgres user (initdb refuses root). */
export function asPostgres(
  program: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; output: string } {
  const command = program.includes('/') ? program : path.join(pgBin, program);
  const full = asRoot
    ? [
        'runuser',
        '-u',
        'postgres',
        '--',
        'env',
        ...Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`),
        command,
        ...args,
      ]
    : [command, ...args];
  const result = spawnSync(full[0]!, full.slice(1), {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, ...env, PATH: `${pgBin}:${process.env['PATH'] ?? ''}` },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

function must(result: { status: number | null; output: string }, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (${result.status}):\n${result.output}`);
  return result.output;
}

/** A folder owned by postgres that the test removes at the end. */
export function postgresDir(prefix: string, parent = '/tmp'): string {
  const dir = mkdtempSync(path.join(parent, `veche-${prefix}-`));
  if (ids) chownSync(dir, ids.uid, ids.gid);
  chmodSync(dir, 0o755);
  return dir;
}

export interface Node {
  name: string;
  dir: string;
  data: string;
  port: number;
  socketDir: string;
  /** `name=data:port`, one entry of VECHE_PG_LOCAL_NODES. */
  spec: string;
  url(database?: string): string;
}

export function node(name: string, parent: string, port: number): Node {
  const dir = path.join(parent, name);
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  if (ids) {
    chownSync(dir, ids.uid, ids.gid);
    chownSync(path.join(dir, 'run'), ids.uid, ids.gid);
  }
  const data = path.join(dir, 'data');
  return {
    name,
    dir,
    data,
    port,
    socketDir: path.join(dir, 'run'),
    spec: `${name}=${data}:${port}`,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
  };
}

/** Server options the tests add on the command line (archive_command, speed-ups). */
export function startNode(n: Node, extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}): void {
  const options = [`-p ${n.port}`, `-k ${n.socketDir}`, '-c listen_addresses=127.0.0.1', ...extra].join(' ');
  const result = asPostgres(
    'pg_ctl',
    ['-D', n.data, '-l', path.join(n.dir, 'postgres.log'), '-w', '-t', '120', '-o', options, 'start'],
    env,
  );
  if (result.status !== 0) {
    // The server's own words say why (a port taken meanwhile, memory, a bad setting).
    const log = existsSync(path.join(n.dir, 'postgres.log'))
      ? readFileSync(path.join(n.dir, 'postgres.log'), 'utf8')
      : '';
    throw new Error(`start ${n.name} (port ${n.port}) failed:\n${result.output}\n${log.slice(-3000)}`);
  }
}

export function stopNode(n: Node, mode: 'fast' | 'immediate' = 'fast'): void {
  asPostgres('pg_ctl', ['-D', n.data, '-m', mode, '-w', 'stop']);
}

export function nodeRunning(n: Node): boolean {
  return asPostgres('pg_ctl', ['-D', n.data, 'status']).status === 0;
}

/** initdb, the shared replication settings, a replication role, trust on loopback. */
export function initPrimary(n: Node): void {
  must(asPostgres('initdb', ['-D', n.data, '-A', 'trust', '-U', 'postgres', '--no-sync']), 'initdb');
  appendFileSync(
    path.join(n.data, 'postgresql.conf'),
    `\ninclude '${path.join(root, 'replica/conf/veche-replication.conf')}'\n`,
  );
  appendFileSync(path.join(n.data, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\n');
}

/** The settings that make the tests' clusters quick without changing what replication does. */
export const quick = ['-c fsync=off', '-c shared_buffers=32MB', '-c max_connections=60'];

/**
 * A primary as the tests use it: initialised with the shared settings, started quick, with the
 * replication role and the `veche` database the chat service migrates into.
 */
export function startPrimary(n: Node, env: NodeJS.ProcessEnv = {}): void {
  initPrimary(n);
  startNode(n, quick, env);
  must(
    asPostgres('psql', [
      '-X',
      '-q',
      '-h',
      n.socketDir,
      '-p',
      String(n.port),
      '-U',
      'postgres',
      '-c',
      'create role replicator replication login',
      '-c',
      'create database veche',
    ]),
    'create the role and database',
  );
}

export function prepareStandby(n: Node, primary: Node, args: readonly string[] = []): string {
  mkdirSync(n.data, { recursive: true, mode: 0o700 });
  if (ids) chownSync(n.data, ids.uid, ids.gid);
  return must(
    asPostgres(path.join(root, 'replica/bin/veche-pg-standby-prepare'), args, {
      PGDATA: n.data,
      VECHE_PG_PRIMARY_HOST: '127.0.0.1',
      VECHE_PG_PRIMARY_PORT: String(primary.port),
    }),
    `standby ${n.name}`,
  );
}

/** The socket folder the services connect through, linked to a node's socket (as scripts/failover does). */
export function endpoint(parent: string, to: Node): { dir: string; url(database: string): string } {
  const dir = path.join(parent, 'endpoint');
  mkdirSync(dir, { recursive: true });
  symlinkSync(path.join(to.socketDir, `.s.PGSQL.${to.port}`), path.join(dir, '.s.PGSQL.5432'));
  return { dir, url: (database) => `postgres://postgres@localhost:5432/${database}?host=${dir}` };
}

export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

export function removeDir(dir: string): void {
  if (process.env['VECHE_KEEP_TEST_DIRS'] !== '1') rmSync(dir, { recursive: true, force: true });
}

/** The replication-scripts' environment for these nodes. */
export function driverEnv(nodes: readonly Node[], endpointDir: string): NodeJS.ProcessEnv {
  return {
    VECHE_PG_DRIVER: 'local',
    VECHE_PG_LOCAL_NODES: nodes.map((n) => n.spec).join(' '),
    VECHE_PG_ENDPOINT: endpointDir,
    VECHE_PG_BIN: pgBin,
  };
}

/**
 * What the failover test and bench/replica.ts run on: a primary `a` streaming to its standby `b` over
 * a slot, in one temporary folder, the failover endpoint pointing at the primary, and the environment
 * scripts/failover and scripts/failback need to drive them.
 */
export interface FailoverPair {
  dir: string;
  nodes: [Node, Node];
  /** A database through the endpoint (follows a failover). */
  url(database: string): string;
  env: NodeJS.ProcessEnv;
  /** Stops both clusters at once and removes the folder. */
  stop(): void;
}

export async function startFailoverPair(prefix: string): Promise<FailoverPair> {
  const dir = postgresDir(prefix);
  const nodes: [Node, Node] = [node('a', dir, await freePort()), node('b', dir, await freePort())];
  const stop = () => {
    for (const n of nodes)
      if (nodeRunning(n)) asPostgres('pg_ctl', ['-D', n.data, '-m', 'immediate', 'stop']);
    removeDir(dir);
  };
  try {
    const [a, b] = nodes;
    startPrimary(a);
    prepareStandby(b, a);
    startNode(b, quick);
    const ep = endpoint(dir, a);
    return { dir, nodes, url: (database) => ep.url(database), env: driverEnv(nodes, ep.dir), stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/** The machine dies under the cluster: SIGKILL to its postmaster. */
export function killPostmaster(n: Node): void {
  const pid = Number(readFileSync(path.join(n.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGKILL');
}

/** `PATH` with the production replica programs (replica/bin) first, as on a database host. */
export const replicaPath = `${path.join(root, 'replica/bin')}:${process.env['PATH'] ?? ''}`;

/** Runs `scripts/<script>` as an operator does, with `env` (e.g. {@link FailoverPair.env}); `timeoutMs` 0: no limit. */
export function runReplicaScript(
  script: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 150_000,
): { status: number | null; output: string } {
  const result: SpawnSyncReturns<string> = spawnSync(path.join(root, 'scripts', script), args, {
    encoding: 'utf8',
    env: { ...process.env, ...env, PATH: replicaPath },
    timeout: timeoutMs,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * What scripts/backup and scripts/restore-drill need to back up primary `n` to an SFTP account: its
 * data folder and socket, the scripts' state folder (holding `restic-password`), the account, and the
 * folder the drill restores into.
 */
export function backupEnv(
  n: Node,
  state: string,
  sftp: { host: string; port: number; user: string; keyFile: string },
  drillDir: string,
): NodeJS.ProcessEnv {
  return {
    PGDATA: n.data,
    VECHE_PG_SOCKET_DIR: n.socketDir,
    VECHE_PG_PORT: String(n.port),
    VECHE_BACKUP_STATE: state,
    VECHE_BACKUP_SFTP_HOST: sftp.host,
    VECHE_BACKUP_SFTP_PORT: String(sftp.port),
    VECHE_BACKUP_SFTP_USER: sftp.user,
    VECHE_BACKUP_SSH_KEY_FILE: sftp.keyFile,
    RESTIC_PASSWORD_FILE: path.join(state, 'restic-password'),
    VECHE_DRILL_DIR: drillDir,
  };
}
