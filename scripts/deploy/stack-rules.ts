/**
 * The stack checker's production-hardening rules (issue 19): what an SRE reviewing a swarm stack would
 * refuse. Each takes the stack as `docker stack config` resolved it (and, where interpolation hides the
 * point, the raw file) and returns "where: what is wrong" lines.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

type Dict = Record<string, unknown>;

export interface RuleService {
  image?: string;
  hostname?: string;
  user?: string;
  command?: string[] | string;
  environment?: Record<string, string | null> | string[];
  secrets?: (string | { source: string; target?: string; mode?: number | string })[];
  configs?: (string | { source: string; target?: string })[];
  networks?: string[] | Record<string, { aliases?: string[] } | null>;
  volumes?: (
    | string
    | {
        type?: string;
        source?: string;
        target: string;
        read_only?: boolean;
        tmpfs?: { size?: number | string };
      }
  )[];
  ports?: (string | { target: number; published?: number | string; protocol?: string; mode?: string })[];
  healthcheck?: { test?: unknown; disable?: boolean };
  deploy?: {
    replicas?: number;
    mode?: string;
    update_config?: { order?: string; failure_action?: string };
    rollback_config?: { order?: string };
    restart_policy?: { condition?: string };
    resources?: { limits?: { memory?: string | number; cpus?: string } };
    placement?: {
      constraints?: string[];
      max_replicas_per_node?: number;
      preferences?: { spread?: string }[];
    };
  };
}

export interface RuleStack {
  services: Record<string, RuleService>;
  networks?: Record<string, { driver?: string; driver_opts?: Record<string, string> } | null>;
  configs?: Record<string, { file?: string; name?: string } | null>;
  secrets?: Record<string, { name?: string } | null>;
}

export interface RuleContext {
  /** Folder the stack file's relative paths (config files) start from. */
  stackDir: string;
  /** The file as written (anchors merged, variables not interpolated). */
  raw?: Dict;
}

/** Images allowed to mount the Docker socket: a filtering proxy that others read the API through. */
export const dockerApiProxyImages = ['wollomatic/socket-proxy'];

export const dockerSocket = '/var/run/docker.sock';

const units: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Bytes in "512MB", "2G", "640MiB", 268435456. PostgreSQL's and Docker's units are powers of 1024;
 * RabbitMQ's "KB/MB/GB" are powers of 1000 (`decimalSuffixes`), its "kiB/MiB/GiB" of 1024.
 */
export function bytes(value: string | number | undefined, decimalSuffixes = false): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!match) return undefined;
  const unit = match[2]!.toLowerCase();
  if (decimalSuffixes && /^[kmgt]b$/.test(unit)) {
    return Number(match[1]) * 1000 ** ('kmgt'.indexOf(unit[0]!) + 1);
  }
  const factor = units[unit];
  return factor === undefined ? undefined : Number(match[1]) * factor;
}

const mib = (n: number) => `${Math.round(n / 1024 ** 2)} MiB`;

const list = (value: string[] | Record<string, unknown> | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : Object.keys(value);

function env(service: RuleService): Record<string, string> {
  const e = service.environment;
  if (!e) return {};
  if (Array.isArray(e))
    return Object.fromEntries(e.map((l) => [l.split('=')[0]!, l.split('=').slice(1).join('=')]));
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v ?? '']));
}

const rawSection = (raw: Dict | undefined, section: string): Record<string, Dict | undefined> =>
  (raw?.[section] as Record<string, Dict> | undefined) ?? {};
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

const isVeche = (service: RuleService) => /\/veche-[a-z0-9-]+:[^/]+$/.test(service.image ?? '');
const namedVolumes = (service: RuleService) =>
  (service.volumes ?? []).filter((v) =>
    typeof v === 'string'
      ? !/^[./]/.test(v.split(':')[0] ?? '') && v.includes(':')
      : (v.type ?? 'volume') === 'volume',
  );

/** A config's name as `scripts/deploy/env` derives it: the first 12 hex digits of the file's SHA-256. */
export function contentHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
}

/** `crossbar_config` → `VECHE_CONFIG_CROSSBAR_CONFIG`; secrets likewise with `VECHE_SECRET_`. */
export const configVariable = (key: string) => `VECHE_CONFIG_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
export const secretVariable = (key: string) => `VECHE_SECRET_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** Health checks: liveness only (a dependency outage must not kill tasks or roll an update back). */
export function livenessRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (!isVeche(service) || /veche-(nginx|postgres):/.test(service.image ?? '')) continue;
    const test = JSON.stringify(service.healthcheck?.test ?? '');
    const healthPath = env(service)['VECHE_HEALTH_PATH'] ?? '';
    if (/ready/i.test(test) || /ready/i.test(healthPath)) {
      problems.push(
        `service ${name}: its health check asks readiness (${healthPath || test}); a PostgreSQL, RabbitMQ or router outage would kill every task: check liveness (/health)`,
      );
    }
  }
  return problems;
}

/** Configs named by their content, so an upgrade touches only what changed and a rollback finds its own. */
export function configNamingRule(stack: RuleStack, context: RuleContext): string[] {
  const problems: string[] = [];
  const raw = rawSection(context.raw, 'configs');
  for (const [key, config] of Object.entries(stack.configs ?? {})) {
    const rawName = text(raw[key]?.['name']);
    const variable = configVariable(key);
    if (!rawName.includes(`\${${variable}`)) {
      problems.push(
        `config ${key}: its name does not carry the hash of its content (\${${variable}}, set by scripts/deploy/env)${/VECHE_VERSION/.test(rawName) ? '; VECHE_VERSION restarts its services on every upgrade' : ''}`,
      );
      continue;
    }
    const file = config?.file ? path.resolve(context.stackDir, config.file) : undefined;
    if (file && existsSync(file) && !String(config?.name ?? '').endsWith(contentHash(file))) {
      problems.push(
        `config ${key}: name ${config?.name} is not the hash of ${config?.file} (${contentHash(file)})`,
      );
    }
  }
  return problems;
}

/** Secrets with a version in their name: rotation is a new name and a rolling update. */
export function secretVersionRule(stack: RuleStack, context: RuleContext): string[] {
  const raw = rawSection(context.raw, 'secrets');
  return Object.keys(stack.secrets ?? {})
    .filter((key) => !text(raw[key]?.['name']).includes(`\${${secretVariable(key)}`))
    .map(
      (key) =>
        `secret ${key}: its name has no version (\${${secretVariable(key)}}): rotating it would need docker stack rm`,
    );
}

/** No image falls back to `latest` (never built, never the release one meant). */
export function latestRule(stack: RuleStack, context: RuleContext): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (/:latest$/.test(service.image ?? ''))
      problems.push(`service ${name}: image ${service.image} is :latest`);
  }
  for (const [name, service] of Object.entries(rawSection(context.raw, 'services'))) {
    const image = text(service?.['image']);
    if (/:-\s*latest\s*\}/.test(image)) {
      problems.push(`service ${name}: its image defaults to :latest when a variable is unset (${image})`);
    }
  }
  return problems;
}

/**
 * Update order: what must never run twice at once updates stop-first: Crossbar (two routers split
 * the sessions), and every single-replica service holding a volume or a host port.
 */
export function stopFirstRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    const single = (service.deploy?.replicas ?? 1) <= 1 && service.deploy?.mode !== 'global';
    const holds =
      namedVolumes(service).length > 0 ||
      (service.ports ?? []).some((p) => typeof p !== 'string' && p.mode === 'host');
    const router = /crossbar/.test(service.image ?? '');
    if (!router && !(single && holds)) continue;
    const why = router
      ? 'two WAMP routers at once would split the sessions'
      : 'it holds a volume or a host port';
    // Swarm's default order is stop-first.
    if ((service.deploy?.update_config?.order ?? 'stop-first') !== 'stop-first') {
      problems.push(`service ${name}: update_config.order is not stop-first (${why})`);
    }
    const rollback = service.deploy?.rollback_config?.order;
    if (rollback !== undefined && rollback !== 'stop-first') {
      problems.push(`service ${name}: rollback_config.order is not stop-first (${why})`);
    }
  }
  return problems;
}

/** Overlay networks encrypted: credentials, tickets and SQL cross nodes. */
export function encryptedNetworksRule(stack: RuleStack): string[] {
  return Object.entries(stack.networks ?? {})
    .filter(
      ([, network]) =>
        (network?.driver ?? 'overlay') === 'overlay' && !('encrypted' in (network?.driver_opts ?? {})),
    )
    .map(([name]) => `network ${name}: overlay not encrypted (driver_opts: { encrypted: 'true' })`);
}

/** A service with a named volume is pinned to one node by id or host name, which no other node shares. */
export function pinnedStateRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    const volumes = namedVolumes(service);
    if (volumes.length === 0) continue;
    // One task per node reading its node's own volume (metrics files): no state to start empty.
    const readOnly = volumes.every((v) =>
      typeof v === 'string' ? /:ro(,|$)/.test(v.split(':').slice(2).join(':')) : v.read_only === true,
    );
    if (service.deploy?.mode === 'global' && readOnly) continue;
    const constraints = service.deploy?.placement?.constraints ?? [];
    if (!constraints.some((c) => /^\s*node\.(id|hostname)\s*==\s*\S+/.test(c))) {
      problems.push(
        `service ${name}: holds a volume but is not pinned by node.id or node.hostname (${constraints.join(', ') || 'no constraint'}): another node could start it on an empty volume`,
      );
    }
  }
  return problems;
}

/** key = value lines of a RabbitMQ (cuttlefish) configuration file. */
export function parseRabbitConf(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([a-z0-9_.]+)\s*=\s*(.*?)\s*$/.exec(line.replace(/#.*$/, ''));
    if (match) settings[match[1]!] = match[2]!;
  }
  return settings;
}

/** The files of the configs a service mounts under `dir`, in the order of their targets (conf.d). */
function mountedConfigFiles(stack: RuleStack, service: RuleService, context: RuleContext, dir: string) {
  return (service.configs ?? [])
    .map((ref) => ({
      target: typeof ref === 'string' ? `/${ref}` : (ref.target ?? ''),
      file: stack.configs?.[typeof ref === 'string' ? ref : ref.source]?.file,
    }))
    .filter((c) => c.target.startsWith(dir) && c.file)
    .sort((a, b) => a.target.localeCompare(b.target))
    .map((c) => path.resolve(context.stackDir, c.file!));
}

/** RabbitMQ's memory alarm must fire below its container's limit, not at a fraction of the host's memory. */
export function rabbitMemoryRule(stack: RuleStack, context: RuleContext): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (!/(^|\/)rabbitmq:/.test(service.image ?? '')) continue;
    const limit = bytes(service.deploy?.resources?.limits?.memory);
    if (!limit) {
      problems.push(`service ${name}: no memory limit`);
      continue;
    }
    const files = mountedConfigFiles(stack, service, context, '/etc/rabbitmq/').filter((f) => existsSync(f));
    if (files.length === 0) {
      problems.push(`service ${name}: no RabbitMQ configuration file to read its memory alarm from`);
      continue;
    }
    const conf = Object.assign({}, ...files.map((f) => parseRabbitConf(readFileSync(f, 'utf8')))) as Record<
      string,
      string
    >;
    const override = bytes(conf['total_memory_available_override_value'], true);
    const absolute = bytes(conf['vm_memory_high_watermark.absolute'], true);
    const relative = Number(conf['vm_memory_high_watermark.relative'] ?? '0.6');
    if (override !== undefined && override > limit) {
      problems.push(
        `service ${name}: total_memory_available_override_value ${mib(override)} exceeds its limit ${mib(limit)}`,
      );
    }
    if (absolute === undefined && override === undefined) {
      problems.push(
        `service ${name}: memory watermark relative to the host's memory (vm_memory_high_watermark.relative = ${relative}) while the container may use ${mib(limit)}: it is killed before its alarm fires; set vm_memory_high_watermark.absolute or total_memory_available_override_value`,
      );
      continue;
    }
    const alarm = absolute ?? relative * override!;
    if (alarm > 0.8 * limit) {
      problems.push(
        `service ${name}: memory alarm at ${mib(alarm)} leaves less than 20% of its ${mib(limit)} limit to the Erlang VM`,
      );
    }
  }
  return problems;
}

/** `-c name=value` settings from a postgres command line. */
export function postgresSettingsOf(command: string[] | string | undefined): Record<string, string> {
  const words = Array.isArray(command) ? command : (command ?? '').split(/\s+/);
  const settings: Record<string, string> = {};
  words.forEach((word, i) => {
    const setting = word === '-c' ? words[i + 1] : /^--([a-z_]+=.*)$/.exec(word)?.[1];
    if (setting?.includes('=')) settings[setting.split('=')[0]!] = setting.split('=').slice(1).join('=');
  });
  return settings;
}

/**
 * PostgreSQL's worst case within its container: shared_buffers + max_connections × work_mem +
 * autovacuum_max_workers × maintenance_work_mem + /dev/shm must fit the memory limit; and /dev/shm must
 * be a sized tmpfs (swarm's default is 64 MB, and shm_size is ignored by stacks).
 */
export function postgresMemoryRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (!/(^|\/)(veche-)?postgres:/.test(service.image ?? '') || !service.command) continue;
    const limit = bytes(service.deploy?.resources?.limits?.memory);
    const s = postgresSettingsOf(service.command);
    const shm = (service.volumes ?? []).find(
      (v) => typeof v !== 'string' && v.type === 'tmpfs' && v.target === '/dev/shm',
    );
    const shmBytes = typeof shm === 'object' ? bytes(shm.tmpfs?.size) : undefined;
    if (!shmBytes || shmBytes < 128 * 1024 ** 2) {
      problems.push(
        `service ${name}: /dev/shm is swarm's 64 MB (mount a tmpfs of at least 128 MB at /dev/shm)`,
      );
    }
    if (!limit) {
      problems.push(`service ${name}: no memory limit`);
      continue;
    }
    const connections = Number(s['max_connections'] ?? 100);
    const workMem = bytes(s['work_mem'] ?? '4MB')!;
    const budget =
      bytes(s['shared_buffers'] ?? '128MB')! +
      connections * workMem +
      Number(s['autovacuum_max_workers'] ?? 3) * bytes(s['maintenance_work_mem'] ?? '64MB')! +
      (shmBytes ?? 64 * 1024 ** 2);
    if (budget > limit) {
      problems.push(
        `service ${name}: shared_buffers + max_connections (${connections}) × work_mem (${mib(workMem)}) + autovacuum × maintenance_work_mem + /dev/shm = ${mib(budget)}, over its ${mib(limit)} limit`,
      );
    }
  }
  return problems;
}

/** Outgoing mail is DKIM-signed and can authenticate to a smarthost, with both secrets as files. */
export function mailRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (!/(^|\/)boky\/postfix:/.test(service.image ?? '')) continue;
    const targets = (service.secrets ?? []).map((s) =>
      typeof s === 'string' ? `/run/secrets/${s}` : (s.target ?? `/run/secrets/${s.source}`),
    );
    const absolute = targets.map((t) => (t.startsWith('/') ? t : `/run/secrets/${t}`));
    if (!absolute.some((t) => t.startsWith('/etc/opendkim/keys/'))) {
      problems.push(
        `service ${name}: no DKIM key (a secret mounted in /etc/opendkim/keys/): mail goes out unsigned`,
      );
    }
    const e = env(service);
    const passwordFile = e['RELAYHOST_PASSWORD_FILE'];
    if (!('RELAYHOST_USERNAME' in e) || !passwordFile) {
      problems.push(
        `service ${name}: no way to pass relay credentials (RELAYHOST_USERNAME, RELAYHOST_PASSWORD_FILE)`,
      );
    } else if (!absolute.includes(passwordFile)) {
      problems.push(`service ${name}: RELAYHOST_PASSWORD_FILE ${passwordFile} is not a mounted secret`);
    }
  }
  return problems;
}

/** certbot reaches only the CA: a network of its own. */
export function certbotNetworkRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (!/(^|\/)certbot\/certbot:/.test(service.image ?? '')) continue;
    for (const network of list(service.networks)) {
      const others = Object.entries(stack.services)
        .filter(([other, s]) => other !== name && list(s.networks).includes(network))
        .map(([other]) => other);
      if (others.length > 0) {
        problems.push(
          `service ${name}: shares network ${network} with ${others.join(', ')} (it needs only the way out to the CA)`,
        );
      }
    }
  }
  return problems;
}

/**
 * The Docker socket is root on the node: only a filtering proxy mounts it, answering GETs it allows
 * (no other method, no blanket pattern) to services on a network of its own; nothing reaches the API
 * as root.
 */
export function dockerSocketRule(stack: RuleStack): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    const mountsSocket = (service.volumes ?? []).some((v) =>
      typeof v === 'string' ? v.split(':')[0] === dockerSocket : v.source === dockerSocket,
    );
    const proxy = dockerApiProxyImages.some((image) => (service.image ?? '').startsWith(`${image}:`));
    if (mountsSocket && !proxy) {
      problems.push(
        `service ${name}: mounts the Docker socket (root on the node); read the API through a filtering proxy`,
      );
    }
    if (proxy) {
      const args = Array.isArray(service.command)
        ? service.command
        : String(service.command ?? '').split(/\s+/);
      if (args.some((a) => /^-allow(POST|PUT|DELETE|PATCH|HEAD|CONNECT)/.test(a))) {
        problems.push(`service ${name}: the Docker API proxy allows more than GET`);
      }
      if (args.some((a) => /^-allowGET=\.\*/.test(a)) || !args.some((a) => a.startsWith('-allowGET='))) {
        problems.push(`service ${name}: the Docker API proxy does not restrict GET to the paths needed`);
      }
      if (!args.some((a) => /^-allowfrom=\S+/.test(a) && !/0\.0\.0\.0\/0/.test(a))) {
        problems.push(`service ${name}: the Docker API proxy accepts any client (-allowfrom)`);
      }
      for (const network of list(service.networks)) {
        for (const [other, s] of Object.entries(stack.services)) {
          if (other === name || !list(s.networks).includes(network)) continue;
          if (!(env(s)['DOCKER_HOST'] ?? '').includes(name)) {
            problems.push(
              `service ${name}: its network ${network} is shared with ${other}, which does not use it`,
            );
          }
        }
      }
    }
    const dockerHost = env(service)['DOCKER_HOST'];
    if ((dockerHost || mountsSocket) && !proxy) {
      const user = String(service.user ?? '');
      if (user === '' || /^(0|root)(:|$)/.test(user))
        problems.push(`service ${name}: reads the Docker API as root`);
    }
  }
  return problems;
}

const pinnedNode = (service: RuleService): string | undefined =>
  (service.deploy?.placement?.constraints ?? [])
    .map((c) => /^\s*node\.(?:id|hostname)\s*==\s*(\S+)/.exec(c)?.[1])
    .find((n) => n !== undefined);

/**
 * A RabbitMQ cluster: an odd number of nodes on distinct swarm nodes, all reachable as `amqp`, each
 * named in the cluster configuration by its host name, each with the shared Erlang cookie (0400).
 */
export function rabbitClusterRule(stack: RuleStack, context: RuleContext): string[] {
  const nodes = Object.entries(stack.services).filter(([, s]) => /(^|\/)rabbitmq:/.test(s.image ?? ''));
  if (nodes.length < 2) return [];
  const problems: string[] = [];
  if (nodes.length % 2 === 0) {
    problems.push(
      `rabbitmq cluster: ${nodes.length} nodes (an odd number keeps a majority when one is lost)`,
    );
  }
  const where = new Map<string, string>();
  for (const [name, service] of nodes) {
    const node = pinnedNode(service);
    if (!node) problems.push(`service ${name}: a RabbitMQ node not pinned to a swarm node`);
    else if (where.has(node))
      problems.push(`service ${name}: on the same node (${node}) as ${where.get(node)}`);
    else where.set(node, name);
    const networks = service.networks && !Array.isArray(service.networks) ? service.networks : {};
    if (!Object.values(networks).some((n) => n?.aliases?.includes('amqp'))) {
      problems.push(`service ${name}: not reachable as amqp (the services' address of the cluster)`);
    }
    const cookie = (service.secrets ?? []).find(
      (ref) => typeof ref !== 'string' && ref.target === '/var/lib/rabbitmq/.erlang.cookie',
    );
    if (!cookie || typeof cookie === 'string' || Number(cookie.mode) !== 0o400) {
      problems.push(
        `service ${name}: no Erlang cookie secret at /var/lib/rabbitmq/.erlang.cookie (mode 0400)`,
      );
    }
    const conf = Object.assign(
      {},
      ...mountedConfigFiles(stack, service, context, '/etc/rabbitmq/')
        .filter((f) => existsSync(f))
        .map((f) => parseRabbitConf(readFileSync(f, 'utf8'))),
    ) as Record<string, string>;
    const members = Object.entries(conf)
      .filter(([key]) => key.startsWith('cluster_formation.classic_config.nodes.'))
      .map(([, value]) => value);
    const own = `rabbit@${service.hostname ?? name}`;
    if (!members.includes(own)) problems.push(`service ${name}: ${own} is not in the cluster configuration`);
  }
  return problems;
}

/**
 * Several nodes (three or more distinct pins): Veche's stateless services run one replica per node,
 * so a node's loss takes one replica, not all.
 */
export function spreadRule(stack: RuleStack): string[] {
  // Pins of services that run (a standby with no node runs 0 replicas).
  const running = Object.values(stack.services).filter((service) => service.deploy?.replicas !== 0);
  const nodes = new Set(running.map(pinnedNode).filter((n) => n !== undefined));
  if (nodes.size < 3) return [];
  const problems: string[] = [];
  for (const [name, service] of Object.entries(stack.services)) {
    if (!isVeche(service) || namedVolumes(service).length > 0 || pinnedNode(service)) continue;
    const placement = service.deploy?.placement;
    if ((service.deploy?.replicas ?? 1) < nodes.size || placement?.max_replicas_per_node !== 1) {
      problems.push(`service ${name}: not spread one replica per node over the ${nodes.size} nodes`);
    }
  }
  return problems;
}

const imageIs = (service: RuleService, name: string) => new RegExp(`(^|/)${name}:`).test(service.image ?? '');
const sharesNetwork = (a: RuleService, b: RuleService) =>
  list(a.networks).some((n) => list(b.networks).includes(n));

interface PrometheusConfig {
  rule_files?: string[];
  alerting?: {
    alertmanagers?: { dns_sd_configs?: { names?: string[] }[]; static_configs?: { targets?: string[] }[] }[];
  };
  scrape_configs?: {
    job_name: string;
    static_configs?: { targets?: string[] }[];
    dns_sd_configs?: { names?: string[] }[];
    relabel_configs?: { target_label?: string; replacement?: string }[];
  }[];
}

/** The exporter each family of metrics in an alert rule comes from (an image in the stack). */
const metricSources: [RegExp, string, string][] = [
  [/\bpg_[a-z_]+/, 'postgres-exporter', 'PostgreSQL exporter'],
  [/\bnode_[a-z_]+/, 'node-exporter', 'node exporter'],
  [/\bprobe_[a-z_]+/, 'blackbox-exporter', 'blackbox exporter'],
];

/**
 * Monitoring: Prometheus in the stack scrapes every Veche service; each address its configuration
 * names is a service of the stack on one of its networks; every RabbitMQ node enables the
 * rabbitmq_prometheus plugin; what the alert rules read has an exporter; and Prometheus and Grafana
 * publish no port (operators reach them through nginx, behind its authentication).
 */
export function monitoringRule(stack: RuleStack, context: RuleContext): string[] {
  const problems: string[] = [];
  const services = Object.entries(stack.services);
  const prometheus = services.find(([, s]) => imageIs(s, 'prom/prometheus'));
  const vecheServices = services.filter(
    ([, s]) => isVeche(s) && !/veche-(nginx|postgres):/.test(s.image ?? ''),
  );
  if (!prometheus) {
    if (vecheServices.length > 0)
      problems.push("monitoring: no Prometheus service: nothing scrapes the services' /metrics");
    return problems;
  }
  const [promName, promService] = prometheus;
  const configFile = mountedConfigFiles(stack, promService, context, '/etc/prometheus/').find((f) =>
    f.endsWith('prometheus.yml'),
  );
  if (!configFile || !existsSync(configFile)) {
    problems.push(`service ${promName}: mounts no prometheus.yml`);
    return problems;
  }
  const config = parse(readFileSync(configFile, 'utf8')) as PrometheusConfig;
  const scraped = new Set<string>();
  for (const job of config.scrape_configs ?? []) {
    const hosts = [
      ...(job.dns_sd_configs ?? []).flatMap((sd) => (sd.names ?? []).map((n) => n.replace(/^tasks\./, ''))),
      ...(job.relabel_configs ?? [])
        .filter((r) => r.target_label === '__address__' && r.replacement)
        .map((r) => r.replacement!),
      ...((job.relabel_configs ?? []).some((r) => r.target_label === '__address__')
        ? []
        : (job.static_configs ?? []).flatMap((c) => c.targets ?? [])),
    ].map((h) => h.replace(/:\d+$/, ''));
    for (const host of hosts) {
      scraped.add(host);
      const target = stack.services[host];
      // The cluster overlay's nodes (rabbitmq-2, -3) are named whether or not it is deployed.
      if (!target) {
        if (!/^rabbitmq-\d+$/.test(host))
          problems.push(
            `service ${promName}: job ${job.job_name} scrapes ${host}, which is not a service of the stack`,
          );
      } else if (!sharesNetwork(promService, target)) {
        problems.push(
          `service ${promName}: job ${job.job_name} scrapes ${host}, which shares no network with it`,
        );
      }
    }
  }
  // Alerts need somewhere to go: an Alertmanager of the stack that Prometheus reaches.
  const alertmanagers = (config.alerting?.alertmanagers ?? []).flatMap((am) => [
    ...(am.dns_sd_configs ?? []).flatMap((sd) => sd.names ?? []),
    ...(am.static_configs ?? []).flatMap((c) => c.targets ?? []),
  ]);
  if ((config.rule_files ?? []).length > 0 && alertmanagers.length === 0)
    problems.push(`service ${promName}: evaluates alert rules but sends them to no Alertmanager (alerting:)`);
  for (const address of alertmanagers) {
    const host = address.replace(/^tasks\./, '').replace(/:\d+$/, '');
    const target = stack.services[host];
    if (!target)
      problems.push(`service ${promName}: sends alerts to ${host}, which is not a service of the stack`);
    else if (!sharesNetwork(promService, target))
      problems.push(`service ${promName}: sends alerts to ${host}, which shares no network with it`);
  }
  for (const [name] of vecheServices) {
    if (!scraped.has(name))
      problems.push(`service ${name}: not scraped by Prometheus (${path.basename(configFile)})`);
  }
  for (const [name, service] of services) {
    if (!imageIs(service, 'rabbitmq')) continue;
    const plugins = mountedConfigFiles(stack, service, context, '/etc/rabbitmq/enabled_plugins').filter((f) =>
      existsSync(f),
    );
    if (!plugins.some((f) => /\brabbitmq_prometheus\b/.test(readFileSync(f, 'utf8'))))
      problems.push(
        `service ${name}: does not enable the rabbitmq_prometheus plugin (/etc/rabbitmq/enabled_plugins)`,
      );
  }
  const ruleText = mountedConfigFiles(stack, promService, context, '/etc/prometheus/')
    .filter((f) => !f.endsWith('prometheus.yml') && existsSync(f))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const [metric, image, what] of metricSources) {
    const used = metric.exec(ruleText)?.[0];
    if (!used) continue;
    const exporters = services.filter(([, s]) => imageIs(s, `[a-z0-9./-]*${image}`));
    if (exporters.length === 0)
      problems.push(`monitoring: the alert rules read ${used}, but the stack runs no ${what} (${image})`);
  }
  problems.push(...tracingProblems(stack, context, vecheServices));
  for (const [name, service] of services) {
    if (
      (imageIs(service, 'prom/prometheus') || imageIs(service, 'grafana/grafana')) &&
      (service.ports ?? []).length > 0
    )
      problems.push(
        `service ${name}: publishes a port (operators reach it through nginx, behind its authentication)`,
      );
  }
  return problems;
}

/**
 * Traces (ADR 0016): every Veche service sends to a collector of the stack it can reach, and the
 * collector's pipelines use only components its configuration defines, exporting to services it can
 * reach.
 */
function tracingProblems(
  stack: RuleStack,
  context: RuleContext,
  vecheServices: [string, RuleService][],
): string[] {
  const problems: string[] = [];
  for (const [name, service] of vecheServices) {
    const endpoint = env(service)['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '';
    const host = /^https?:\/\/([a-z0-9-]+)(?::\d+)?\/?$/.exec(endpoint)?.[1];
    if (!host || !stack.services[host]) {
      problems.push(
        `service ${name}: sends no traces (OTEL_EXPORTER_OTLP_ENDPOINT ${endpoint || 'unset'} is not a collector of the stack)`,
      );
    }
  }
  for (const [name, service] of Object.entries(stack.services)) {
    if (!imageIs(service, 'otel/opentelemetry-collector[a-z-]*')) continue;
    const file = mountedConfigFiles(stack, service, context, '/etc/otelcol').find((f) => existsSync(f));
    if (!file) {
      problems.push(`service ${name}: mounts no collector configuration`);
      continue;
    }
    type Pipeline = { receivers?: string[]; processors?: string[]; exporters?: string[] };
    const config = parse(readFileSync(file, 'utf8')) as {
      receivers?: Dict;
      processors?: Dict;
      exporters?: Record<string, { endpoint?: string } | null>;
      service?: { pipelines?: Record<string, Pipeline> };
    };
    const pipelines = Object.entries(config.service?.pipelines ?? {});
    if (!pipelines.some(([key]) => key.split('/')[0] === 'traces'))
      problems.push(`service ${name}: the collector has no traces pipeline`);
    for (const [pipeline, spec] of pipelines) {
      for (const kind of ['receivers', 'processors', 'exporters'] as const) {
        for (const component of spec[kind] ?? []) {
          if (!(component in (config[kind] ?? {})))
            problems.push(
              `service ${name}: pipeline ${pipeline} uses ${kind.slice(0, -1)} ${component}, which is not defined`,
            );
        }
      }
    }
    for (const [exporter, spec] of Object.entries(config.exporters ?? {})) {
      const host = /^(?:[a-z]+:\/\/)?([a-z0-9-]+)(?::\d+)?/.exec(spec?.endpoint ?? '')?.[1];
      if (!host) continue;
      const target = stack.services[host];
      if (!target)
        problems.push(
          `service ${name}: exporter ${exporter} sends to ${host}, which is not a service of the stack`,
        );
      else if (!sharesNetwork(service, target))
        problems.push(
          `service ${name}: exporter ${exporter} sends to ${host}, which shares no network with it`,
        );
    }
  }
  return problems;
}

export const hardeningRules = [
  livenessRule,
  configNamingRule,
  secretVersionRule,
  latestRule,
  stopFirstRule,
  encryptedNetworksRule,
  pinnedStateRule,
  rabbitMemoryRule,
  postgresMemoryRule,
  mailRule,
  certbotNetworkRule,
  dockerSocketRule,
  rabbitClusterRule,
  spreadRule,
  monitoringRule,
] as const;

export function checkHardening(stack: RuleStack, context: RuleContext): string[] {
  return hardeningRules.flatMap((rule) => rule(stack, context));
}
