/**
 * What the deployment tests run for real: Debian's nginx, certbot, pebble, shellcheck and the docker
 * client. A missing one fails the test with the command that installs it; never a silent skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const root = path.resolve(import.meta.dirname, '../../../..');
export const nginxBin = path.join(root, 'nginx/bin');

/** The Debian package that provides each command the deployment tests need. */
export const packageOf: Record<string, string> = {
  nginx: 'nginx',
  certbot: 'certbot',
  pebble: 'pebble',
  'pebble-challtestsrv': 'pebble',
  shellcheck: 'shellcheck',
  openssl: 'openssl',
  envsubst: 'gettext-base',
  promtool: 'prometheus',
  prometheus: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'prometheus-alertmanager': 'prometheus-alertmanager',
  docker: 'docker.io (or docker-ce-cli)',
};

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', env: withSbin() }).status === 0;
}

/** Throws, naming the apt command, when one of `commands` is not installed. */
export function requireCommands(...commands: string[]): void {
  const missing = commands.filter((c) => !commandExists(c));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((c) => packageOf[c] ?? c))];
  throw new Error(
    `missing ${missing.join(', ')}: install with\n  apt-get update && apt-get install -y ${packages.join(' ')}\n` +
      '(scripts/test installs them itself when it runs as root; see scripts/lib/preflight.ts)',
  );
}

/** nginx and certbot live in /usr/sbin and /usr/bin; a test's PATH may lack sbin. */
export function withSbin(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: `${env['PATH'] ?? ''}:/usr/sbin:/sbin:${nginxBin}` };
}

const tempDirs: string[] = [];
process.on('exit', () => {
  if (process.env['VECHE_KEEP_TEST_DIRS'] === '1') return;
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary folder removed when the test process exits (kept with VECHE_KEEP_TEST_DIRS=1). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `veche-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, {
    env: withSbin({ ...process.env, ...env }),
    encoding: 'utf8',
    ...(cwd ? { cwd } : {}),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function runOrThrow(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): string {
  const result = run(command, args, env);
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

export interface NginxSite {
  dir: string;
  httpPort: number;
  httpsPort: number;
  confDir: string;
  tlsDir: string;
  acmeRoot: string;
  webRoot: string;
  letsencryptDir: string;
  env: NodeJS.ProcessEnv;
  /** The graceful reload veche-tls-sync runs. */
  reloadCommand: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  errorLog(): string;
  /** The master's worker processes now. */
  workers(): number[];
  /**
   * Resolves once none of `pids` runs any more. After a reload the master starts new workers before
   * it tells the old ones to stop, so for a moment a new connection may still reach an old worker
   * (and its old certificate): wait for the workers of before the reload to be gone.
   */
  workersGone(pids: readonly number[]): Promise<void>;
}

/** Children of `parent`, from /proc. */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/**
 * Renders nginx/templates with the production renderer into a temporary prefix (ports, paths and
 * upstreams of the test's choosing) and runs Debian's nginx on it in the foreground.
 */
export function nginxSite(options: {
  httpPort: number;
  httpsPort: number;
  domain?: string;
  upstreams: {
    api: string;
    ws: string;
    pubsub: string;
    visualizer: string;
    /** Default: the visualizer's. */
    grafana?: string;
    prometheus?: string;
    jaeger?: string;
    alertmanager?: string;
  };
  uploadMax?: string;
}): NginxSite {
  const dir = tempDir('nginx');
  const confDir = path.join(dir, 'conf');
  const tlsDir = path.join(dir, 'tls');
  const acmeRoot = path.join(dir, 'acme');
  const webRoot = path.join(dir, 'web');
  const letsencryptDir = path.join(dir, 'letsencrypt');
  for (const d of [confDir, tlsDir, acmeRoot, webRoot, letsencryptDir]) mkdirSync(d, { recursive: true });
  const conf = path.join(confDir, 'nginx.conf');
  const reloadCommand = `nginx -c ${conf} -s reload`;
  const env: NodeJS.ProcessEnv = {
    VECHE_DOMAIN: options.domain ?? 'localhost',
    VECHE_HTTP_PORT: String(options.httpPort),
    VECHE_HTTPS_PORT: String(options.httpsPort),
    VECHE_UPSTREAM_API: options.upstreams.api,
    VECHE_UPSTREAM_WS: options.upstreams.ws,
    VECHE_UPSTREAM_PUBSUB: options.upstreams.pubsub,
    VECHE_UPSTREAM_VISUALIZER: options.upstreams.visualizer,
    VECHE_UPSTREAM_GRAFANA: options.upstreams.grafana ?? options.upstreams.visualizer,
    VECHE_UPSTREAM_PROMETHEUS: options.upstreams.prometheus ?? options.upstreams.visualizer,
    VECHE_UPSTREAM_JAEGER: options.upstreams.jaeger ?? options.upstreams.visualizer,
    VECHE_UPSTREAM_ALERTMANAGER: options.upstreams.alertmanager ?? options.upstreams.visualizer,
    VECHE_RESOLVER: '127.0.0.1',
    VECHE_IPV6: 'on',
    VECHE_UPLOAD_MAX: options.uploadMax ?? '25m',
    VECHE_WEB_ROOT: webRoot,
    VECHE_ACME_ROOT: acmeRoot,
    VECHE_TLS_DIR: tlsDir,
    VECHE_LETSENCRYPT_DIR: letsencryptDir,
    VECHE_VISUALIZER_HTPASSWD: path.join(dir, 'htpasswd'),
    // Root runs the workers too, so they can read the test's private temporary folders.
    VECHE_NGINX_USER: 'root',
    VECHE_NGINX_RUN_DIR: path.join(dir, 'run'),
    VECHE_NGINX_ACCESS_LOG: path.join(dir, 'access.log'),
    VECHE_NGINX_ERROR_LOG: path.join(dir, 'error.log'),
    VECHE_NGINX_RELOAD: reloadCommand,
  };
  let child: ChildProcess | undefined;
  let output = '';
  const site: NginxSite = {
    dir,
    httpPort: options.httpPort,
    httpsPort: options.httpsPort,
    confDir,
    tlsDir,
    acmeRoot,
    webRoot,
    letsencryptDir,
    env,
    reloadCommand,
    errorLog: () => output,
    async start() {
      // The container's start: a certificate first (self-signed until certbot's exists), then the config.
      runOrThrow(path.join(nginxBin, 'veche-tls-sync'), ['--once', '--no-reload'], env);
      runOrThrow(
        path.join(nginxBin, 'veche-nginx-render'),
        ['--templates', path.join(root, 'nginx/templates'), '--out', confDir],
        env,
      );
      child = spawn('nginx', ['-c', conf, '-g', 'daemon off;'], {
        env: withSbin(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`nginx exited: ${output}`);
        const ok = await fetch(`http://127.0.0.1:${options.httpPort}/nginx-health`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`nginx did not answer within 10 s: ${output}`);
    },
    workers() {
      return child?.pid === undefined ? [] : childrenOf(child.pid);
    },
    async workersGone(pids) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const alive = new Set(site.workers());
        if (!pids.some((pid) => alive.has(pid))) return;
        if (Date.now() > deadline) throw new Error(`nginx workers ${pids.join(', ')} still run after 30 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
  return site;
}

export function writeFile(file: string, content: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}
