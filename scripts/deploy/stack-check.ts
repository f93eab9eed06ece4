/**
 * Checks stack.yml for what `docker stack config` lets through: references to undefined secrets,
 * configs, networks and volumes; images neither built here nor pinned; clashing published ports;
 * nginx upstreams that are not services; the database reachable from nginx; secrets as plain
 * variables; Veche services without health checks, rolling updates with rollback or limits; and the
 * hardening rules of stack-rules.ts.
 * Usage: node scripts/deploy/stack-check.ts [--help] [--config-env] [stack.yml]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import {
  checkHardening,
  configVariable,
  contentHash,
  secretVariable,
  type RuleService,
  type RuleStack,
} from './stack-rules.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** Images that publish no version tags, with the reason they are accepted unpinned. */
export const unpinnedAllowed: Record<string, string> = {
  'dockersamples/visualizer:stable':
    'the visualizer publishes only floating tags; pin a digest with `docker service update --image` if needed',
};

/**
 * The seed's PostgreSQL settings (001) kept as they are; its max_connections=1000 and work_mem=40MB
 * could not fit the container's memory (ADR 0011): the memory budget rule checks those instead.
 */
export const postgresSettings = ['shared_buffers=512MB', 'effective_cache_size=1024MB'];

/** Example values for the variables stack.yml interpolates, used when the caller's are unset. */
export const exampleEnv: Record<string, string> = {
  VECHE_DOMAIN: 'veche.example.org',
  VECHE_ACME_EMAIL: 'operators@example.org',
  VECHE_REGISTRY: '127.0.0.1:5000',
  VECHE_VERSION: 'check',
  VECHE_NGINX_VERSION: 'check',
  VECHE_DATA_NODE: 'check-node-1',
  VECHE_NODE_2: 'check-node-2',
  VECHE_NODE_3: 'check-node-3',
  // The PostgreSQL standby on the second node, as the multi-node layout has it.
  VECHE_STANDBY_NODE: 'check-node-2',
  VECHE_STANDBY_REPLICAS: '1',
};

/** One file or several (overlays, as `docker stack config -c a -c b`). */
type Files = string | readonly string[];
const filesOf = (files: Files): string[] => (typeof files === 'string' ? [files] : [...files]);

/** Later files' keys over earlier ones', mappings merged, lists replaced (as docker's loader does). */
function mergeRaw(target: Dict, source: Dict): Dict {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    const bothMaps =
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      existing !== null &&
      typeof existing === 'object' &&
      !Array.isArray(existing);
    target[key] = bothMaps ? mergeRaw({ ...(existing as Dict) }, value as Dict) : value;
  }
  return target;
}

export const rawStack = (files: Files): Dict =>
  filesOf(files).reduce<Dict>(
    (merged, file) => mergeRaw(merged, parse(readFileSync(file, 'utf8'), { merge: true }) as Dict),
    {},
  );

/**
 * The variables naming each config by its content (`VECHE_CONFIG_<KEY>` = the first 12 hex digits of
 * the file's SHA-256), which scripts/deploy/env exports, for the stack file `file`.
 */
export function configEnv(file: string): Record<string, string> {
  const raw = parse(readFileSync(file, 'utf8'), { merge: true }) as Dict;
  const configs = (raw['configs'] ?? {}) as Record<string, { file?: string } | null>;
  const result: Record<string, string> = {};
  for (const [key, config] of Object.entries(configs)) {
    const source = config?.file ? path.resolve(path.dirname(file), config.file) : undefined;
    if (source && existsSync(source)) result[configVariable(key)] = contentHash(source);
  }
  return result;
}

/** Every variable the stack needs, for a check without a swarm: examples, config hashes, first secrets. */
export function checkEnv(files: Files): Record<string, string> {
  const secrets = Object.keys(rawStack(files)['secrets'] ?? {});
  const hashes: Record<string, string> = {};
  for (const file of filesOf(files)) Object.assign(hashes, configEnv(file));
  return {
    ...exampleEnv,
    ...Object.fromEntries(secrets.map((key) => [secretVariable(key), ''])),
    ...hashes,
  };
}

type Dict = Record<string, unknown>;

type Service = RuleService;

export interface Stack extends RuleStack {
  volumes?: Record<string, unknown>;
}

export interface CheckOptions {
  /** Where services/ and the Dockerfile are; also where relative paths start unless `stackDir`. */
  root: string;
  /** Folder the stack file's relative paths (config files) start from (default `root`). */
  stackDir?: string;
  /** The file as written (anchors merged, variables not interpolated), for the rules that need it. */
  raw?: Dict;
  /** Extension fields of the raw file: `x-veche-pending-upstreams` lists services nginx may name before they exist. */
  pendingUpstreams?: readonly string[];
}

const list = <T>(value: T[] | Record<string, unknown> | undefined): string[] =>
  value === undefined
    ? []
    : Array.isArray(value)
      ? value.map((v) => (typeof v === 'string' ? v : String(v)))
      : Object.keys(value);

function environment(service: Service): Record<string, string> {
  const env = service.environment;
  if (!env) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((line) => [line.split('=')[0] ?? '', line.split('=').slice(1).join('=')]),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? '']));
}

const refName = (ref: string | { source: string }) => (typeof ref === 'string' ? ref : ref.source);
const refTarget = (ref: string | { source: string; target?: string }) =>
  typeof ref === 'string' ? ref : (ref.target ?? ref.source);

function builtServices(rootDir: string): Set<string> {
  const dir = path.join(rootDir, 'services');
  if (!existsSync(dir)) return new Set();
  return new Set(
    readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'package.json')))
      .map((d) => d.name),
  );
}

/** Returns every problem found, as "service: what is wrong" lines; empty when the stack is sound. */
export function checkStack(stack: Stack, options: CheckOptions): string[] {
  const problems: string[] = [];
  const services = stack.services ?? {};
  const defined = {
    networks: new Set(Object.keys(stack.networks ?? {})),
    volumes: new Set(Object.keys(stack.volumes ?? {})),
    secrets: new Set(Object.keys(stack.secrets ?? {})),
    configs: new Set(Object.keys(stack.configs ?? {})),
  };
  const built = builtServices(options.root);
  const dockerfile = existsSync(path.join(options.root, 'Dockerfile'))
    ? readFileSync(path.join(options.root, 'Dockerfile'), 'utf8')
    : '';
  const published = new Map<string, string>();

  for (const [name, service] of Object.entries(services)) {
    const where = `service ${name}`;
    for (const ref of service.secrets ?? []) {
      if (!defined.secrets.has(refName(ref)))
        problems.push(`${where}: secret ${refName(ref)} is not defined`);
    }
    for (const ref of service.configs ?? []) {
      if (!defined.configs.has(refName(ref)))
        problems.push(`${where}: config ${refName(ref)} is not defined`);
    }
    const networks = list(service.networks);
    if (networks.length === 0)
      problems.push(`${where}: joins no network of the stack (the default one is not isolated)`);
    for (const network of networks) {
      if (!defined.networks.has(network)) problems.push(`${where}: network ${network} is not defined`);
    }
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
      const type =
        typeof volume === 'string'
          ? source?.startsWith('/') || source?.startsWith('.')
            ? 'bind'
            : 'volume'
          : volume.type;
      if (type === 'volume' && source && !defined.volumes.has(source)) {
        problems.push(`${where}: volume ${source} is not defined`);
      }
    }

    // Images: a Veche image built by the Dockerfile here, or a third-party image pinned to a version.
    const image = service.image ?? '';
    const veche = /\/veche-([a-z0-9-]+):[^/]+$/.exec(image);
    if (!image) {
      problems.push(`${where}: has no image`);
    } else if (veche) {
      const target = veche[1]!;
      const ok =
        target === 'nginx' || target === 'postgres'
          ? new RegExp(`\\bAS ${target}\\b`).test(dockerfile)
          : built.has(target) && /\bAS service\b/.test(dockerfile);
      if (!ok)
        problems.push(`${where}: image ${image} is not built by the Dockerfile (no services/${target})`);
    } else if (!(image in unpinnedAllowed)) {
      // An exact release (major.minor.patch somewhere in the tag: v0.28.1, 4.1.4-alpine,
      // cpy-amd64-21.2.1) or a digest; `4.1`, `v3`, `latest` or no tag move under the same name.
      const digest = /@sha256:[0-9a-f]{64}$/.test(image);
      const tag = /:([^/:@]+)(?:@sha256:[0-9a-f]{64})?$/.exec(image)?.[1];
      if (!digest && (!tag || !/(^|[^0-9.])v?\d+\.\d+\.\d+([^0-9.]|$)/.test(tag))) {
        problems.push(
          `${where}: image ${image} is not pinned to a version (an exact x.y.z tag, or a digest)`,
        );
      }
    }

    // Ports: each published once; 8080 is Crossbar's inside the stack and never published.
    for (const port of service.ports ?? []) {
      const spec = typeof port === 'string' ? { published: port.split(':')[0], protocol: 'tcp' } : port;
      if (spec.published === undefined) continue;
      const key = `${String(spec.published)}/${spec.protocol ?? 'tcp'}`;
      const owner = published.get(key);
      if (owner) problems.push(`${where}: port ${key} is already published by ${owner}`);
      else published.set(key, name);
      if (String(spec.published) === '8080')
        problems.push(`${where}: publishes 8080, the WAMP router's port`);
    }

    // Secrets arrive as files: every *_FILE under /run/secrets/ must be mounted, and no variable that
    // names a secret may carry its value in the file.
    const env = environment(service);
    const mounted = new Set((service.secrets ?? []).map(refTarget));
    for (const [key, value] of Object.entries(env)) {
      const secretPath = /^\/run\/secrets\/(.+)$/.exec(value);
      if (key.endsWith('_FILE') && secretPath && !mounted.has(secretPath[1]!)) {
        problems.push(`${where}: ${key} points at secret ${secretPath[1]} which the service does not mount`);
      }
      if (/(PASSWORD|SECRET|_TOKEN|PRIVATE_KEY|_PASS)$/.test(key) && value !== '') {
        problems.push(
          `${where}: ${key} carries a secret in the stack file; use ${key}_FILE and a Docker secret`,
        );
      }
      if (/^[a-z]+:\/\/[^/@\s]+:[^/@\s]+@/.test(value)) {
        problems.push(`${where}: ${key} has a password in its URL; use ${key}_FILE and a Docker secret`);
      }
    }

    // URLs to other services (WAMP_URL, SMTP_URL, VECHE_INTERNAL_URL_*): a service it can reach.
    for (const [key, value] of Object.entries(env)) {
      const host = /^[a-z]+:\/\/(?:[^@/]*@)?([a-z0-9-]+)(?::\d+)?(?:\/|$)/.exec(value)?.[1];
      if (!host || host === 'localhost' || host === 'postgres' || host === 'rabbitmq' || host === 'amqp')
        continue;
      const target = services[host];
      if (!target) problems.push(`${where}: ${key} names ${host}, which is not a service of the stack`);
      else if (!list(target.networks).some((n) => networks.includes(n))) {
        problems.push(`${where}: ${key} names ${host}, which shares no network with it`);
      }
    }

    // Veche's own services: replicated, health-checked, rolled with automatic rollback, limited.
    // veche-nginx and veche-postgres are infrastructure built here, not Veche services.
    if (veche && veche[1] !== 'nginx' && veche[1] !== 'postgres') {
      const deploy = service.deploy ?? {};
      // A service publishing host-mode ports (the log-listener: senders' own addresses) runs one task
      // per node and updates stop-first instead (stopFirstRule checks that).
      const hostPorts = (service.ports ?? []).some((p) => typeof p !== 'string' && p.mode === 'host');
      if ((deploy.replicas ?? 1) < 2 && !hostPorts) problems.push(`${where}: runs fewer than 2 replicas`);
      if (deploy.update_config?.order !== 'start-first' && !hostPorts)
        problems.push(`${where}: update_config.order is not start-first`);
      if (deploy.update_config?.failure_action !== 'rollback') {
        problems.push(`${where}: update_config.failure_action is not rollback`);
      }
      if (!deploy.restart_policy) problems.push(`${where}: has no restart_policy`);
      if (!deploy.resources?.limits) problems.push(`${where}: has no resource limits`);
      if (!service.healthcheck?.test || service.healthcheck.disable)
        problems.push(`${where}: has no health check`);
    }
  }

  const stackDir = options.stackDir ?? options.root;
  for (const [name, config] of Object.entries(stack.configs ?? {})) {
    const file = config?.file;
    if (file && !existsSync(path.resolve(stackDir, file)))
      problems.push(`config ${name}: file ${file} does not exist`);
  }

  // nginx: the services it proxies to exist and share a network with it; the data tier does not.
  const nginx = services['nginx'];
  if (!nginx) {
    problems.push('service nginx: missing');
  } else {
    const nginxNetworks = new Set(list(nginx.networks));
    for (const [key, value] of Object.entries(environment(nginx))) {
      if (!key.startsWith('VECHE_UPSTREAM_')) continue;
      const host = value.split(':')[0] ?? '';
      const target = services[host];
      if (!target) {
        if (!(options.pendingUpstreams ?? []).includes(host)) {
          problems.push(`service nginx: ${key} names ${host}, which is not a service of the stack`);
        }
        continue;
      }
      if (!list(target.networks).some((n) => nginxNetworks.has(n))) {
        problems.push(`service nginx: shares no network with ${host} (${key})`);
      }
    }
    for (const isolated of ['postgres', 'rabbitmq']) {
      const shared = list(services[isolated]?.networks).filter((n) => nginxNetworks.has(n));
      if (shared.length > 0)
        problems.push(`service nginx: can reach ${isolated} through ${shared.join(', ')}`);
    }
    const ports = new Set(
      (nginx.ports ?? []).map((p) => String(typeof p === 'string' ? p.split(':')[0] : p.published)),
    );
    for (const port of ['80', '443'])
      if (!ports.has(port)) problems.push(`service nginx: does not publish ${port}`);
  }

  const postgres = services['postgres'];
  const command = Array.isArray(postgres?.command) ? postgres.command.join(' ') : (postgres?.command ?? '');
  for (const setting of postgresSettings) {
    if (!command.includes(setting)) problems.push(`service postgres: ${setting} is not set`);
  }
  const visualizer = services['visualizer'];
  if (visualizer) {
    if (!(visualizer.deploy?.placement?.constraints ?? []).includes('node.role == manager')) {
      problems.push('service visualizer: not placed on a manager');
    }
    if ((visualizer.ports ?? []).length > 0)
      problems.push('service visualizer: publishes a port (reach it through nginx)');
  }
  problems.push(...checkHardening(stack, { stackDir, ...(options.raw ? { raw: options.raw } : {}) }));
  return problems;
}

/** `docker stack config`: the client's own validation, and the file with anchors and variables resolved. */
export function dockerStackConfig(
  files: Files,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; yaml: string } | { ok: false; error: string } {
  const args = filesOf(files).flatMap((file) => ['-c', file]);
  const result = spawnSync('docker', ['stack', 'config', ...args], {
    env: { ...checkEnv(files), ...process.env, ...env },
    encoding: 'utf8',
  });
  if (result.error) return { ok: false, error: `cannot run docker: ${result.error.message}` };
  if (result.status !== 0)
    return { ok: false, error: result.stderr.trim() || `docker stack config exited ${result.status}` };
  return { ok: true, yaml: result.stdout };
}

/** Validates with docker, then checks the resolved stack; returns the problems (empty when sound). */
export function checkStackFile(
  files: Files,
  env: NodeJS.ProcessEnv = process.env,
  options: { root?: string } = {},
): string[] {
  const file = filesOf(files)[0]!;
  const resolved = dockerStackConfig(files, env);
  if (!resolved.ok) return [`docker stack config: ${resolved.error}`];
  const raw = rawStack(files);
  const pending = raw['x-veche-pending-upstreams'];
  return checkStack(parse(resolved.yaml) as Stack, {
    root: options.root ?? path.dirname(path.resolve(file)),
    stackDir: path.dirname(path.resolve(file)),
    raw,
    pendingUpstreams: Array.isArray(pending) ? pending.map(String) : [],
  });
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`Usage: node scripts/deploy/stack-check.ts [stack.yml [overlay.yml…]]

Validates the stack file with \`docker stack config\` (the docker client alone; no engine needed) and
checks what that does not: every secret, config, network and volume a service uses is defined; each
image is built by the Dockerfile or pinned to a version; published ports are unique; nginx's upstreams
are services on its networks, and PostgreSQL and RabbitMQ are not; *_FILE variables point at mounted
secrets; Veche services have health checks, start-first updates with rollback, restart policies and
limits; and the hardening rules (stack-rules.ts): liveness health checks, configs named by content,
versioned secrets, no :latest, stop-first for what must not run twice, encrypted overlays, volumes
pinned to a node id, RabbitMQ's and PostgreSQL's memory within their limits, DKIM and relay
credentials, certbot alone on its network, the Docker socket behind a GET-only proxy. Unset variables
take example values (config hashes are computed from the files). Overlays (stack.cluster.yml,
stack.multinode.yml) are checked merged, as \`docker stack deploy -c stack.yml -c …\` would deploy them,
with the layout rules: RabbitMQ nodes on distinct nodes sharing the \`amqp\` alias, named in the
cluster configuration, with the Erlang cookie; stateless services spread one replica per node.
  --config-env   print VECHE_CONFIG_<KEY>=<hash> for each config file (scripts/deploy/env uses it)
Exit status: 0 sound, 1 problems found (listed), 2 usage.`);
    process.exit(0);
  }
  const given = args.filter((a) => !a.startsWith('-')).map((a) => path.resolve(a));
  const files = given.length > 0 ? given : [path.join(root, 'stack.yml')];
  if (args.includes('--config-env')) {
    for (const file of files)
      for (const [name, value] of Object.entries(configEnv(file))) console.log(`${name}=${value}`);
    process.exit(0);
  }
  for (const file of files) {
    if (!existsSync(file)) {
      console.error(`stack-check: no such file: ${file}`);
      process.exit(2);
    }
  }
  const problems = checkStackFile(files);
  const names = files.map((f) => path.relative(process.cwd(), f) || f).join(' + ');
  if (problems.length === 0) {
    console.log(`stack-check: ${names} is sound`);
    process.exit(0);
  }
  console.error(`stack-check: ${problems.length} problem(s) in ${names}:`);
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
