/**
 * The local fleet (README, command 1): finds or starts PostgreSQL and RabbitMQ, starts the local WAMP
 * router and every service in services/, and serves them all behind one origin like nginx does in
 * production. Ctrl-C stops everything cleanly.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  amqpEnv,
  ConfigError,
  databaseEnv,
  env,
  envHelp,
  envSchema,
  loadConfig,
  runtimeEnv,
} from '@veche/config';
import { ensureDatabaseExists } from '@veche/db';
import { createLogger } from '@veche/log';
import { ensureServers, PreflightError } from '../lib/preflight.ts';
import { createLogRenderer } from './logs.ts';
import { createSupervisor, freePorts, type ProcessSpec, type ProcessState } from './processes.ts';
import { startProxy, type Route } from './proxy.ts';
import { ensureWebClientBuilt } from './web-client.ts';

const root = path.resolve(import.meta.dirname, '../..');

interface FleetEntry {
  /** The service's start file, relative to its folder. */
  entry: string;
  /** Prefixes of the origin this service serves. */
  routes?: { prefix: string; websocket?: boolean }[];
  /** Readiness path on the service's port (default /health). */
  health?: string;
}

interface ServiceInfo {
  name: string;
  dir: string;
  fleet: FleetEntry;
}

function discoverServices(): ServiceInfo[] {
  const dir = path.join(root, 'services');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'package.json')))
    .flatMap((d) => {
      const pkg = JSON.parse(readFileSync(path.join(dir, d.name, 'package.json'), 'utf8')) as {
        veche?: { fleet?: FleetEntry };
      };
      const fleet = pkg.veche?.fleet;
      return fleet ? [{ name: d.name, dir: path.join(dir, d.name), fleet }] : [];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

const fleetSchema = envSchema({
  VECHE_PORT: env.port({ default: 3000, description: 'port of the origin' }),
  VECHE_HOST: env.string({ default: '127.0.0.1', description: 'address the origin listens on' }),
  ...databaseEnv,
  ...amqpEnv,
  SMTP_URL: env.optional(
    env.url({
      protocols: ['smtp', 'smtps'],
      description: 'outgoing mail relay (default: the development SMTP sink)',
    }),
  ),
  LOG_LEVEL: runtimeEnv.LOG_LEVEL,
  VECHE_SERVICE_SECRET: env.optional(
    env.secret({
      minLength: 16,
      description: 'the services’ WAMP credential (default: a new random one per run)',
    }),
  ),
  NO_COLOR: env.optional(env.string({ description: 'plain log output when set' })),
  VECHE_REPLICAS: env.int({
    default: 1,
    minimum: 1,
    maximum: 3,
    description:
      'processes per service (stack.yml runs 2): they share their procedures on the router, the origin sends /api and /pubsub to each in turn; internal URLs use the first',
  }),
});

const help = envHelp(
  fleetSchema,
  `Runs the whole Veche fleet on this machine behind one origin (default http://127.0.0.1:3000):
  /api     the gateway (HTTP JSON API)
  /ws      the WAMP router (realm veche)
  /pubsub  the presence-router (seed-compatible presence WebSocket)
  /        the web client (clients/web, built into dist when missing or stale)
  /_fleet/status   the state of every process
  /_fleet/metrics  every service's metrics (a page; /_fleet/metrics/<service> raw, as Prometheus reads them)

Where PostgreSQL or RabbitMQ is not reachable and a Docker engine is, they are started in containers.
Each service declares itself in services/<name>/package.json under "veche.fleet"; see README.md.`,
  'scripts/dev [--help]',
);

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  let config;
  try {
    config = loadConfig(fleetSchema);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const colour = !config.NO_COLOR && process.stdout.isTTY === true;
  const note = (line: string) => console.log(colour ? `\x1b[1;34m[fleet]\x1b[0m ${line}` : `[fleet] ${line}`);

  let servers;
  try {
    servers = await ensureServers({ databaseUrl: config.DATABASE_URL, amqpUrl: config.AMQP_URL, log: note });
    await ensureDatabaseExists(servers.databaseUrl);
  } catch (error) {
    console.error(
      error instanceof PreflightError
        ? error.message
        : `Cannot prepare PostgreSQL: ${(error as Error).message}`,
    );
    return 3;
  }

  ensureWebClientBuilt(path.join(root, 'clients/web'), note);
  const services = discoverServices();
  // One block of ports for the router and every service process, taken below the ephemeral range:
  // a process binds its port seconds after it is chosen, and a port drawn with listen(0) could be
  // taken meanwhile by any outgoing connection on the machine (a service then restarts on a busy port
  // for ever and the fleet never becomes ready).
  const ports = await freePorts(1 + services.length * config.VECHE_REPLICAS);
  const nextPort = () => ports.shift()!;
  const routerPort = nextPort();
  const serviceSecret = config.VECHE_SERVICE_SECRET ?? randomBytes(24).toString('base64url');
  const publicUrl = `http://${config.VECHE_HOST === '0.0.0.0' ? '127.0.0.1' : config.VECHE_HOST}:${config.VECHE_PORT}`;
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: config.LOG_LEVEL,
    LOG_PRETTY: 'false',
    DATABASE_URL: servers.databaseUrl,
    AMQP_URL: servers.amqpUrl,
    WAMP_URL: `ws://127.0.0.1:${routerPort}/ws`,
    WAMP_REALM: 'veche',
    VECHE_SERVICE_SECRET: serviceSecret,
    VECHE_PUBLIC_URL: publicUrl,
    ...(config.SMTP_URL ? { SMTP_URL: config.SMTP_URL } : {}),
  };

  /** `chat`, then `chat#2`, … for the extra replicas. */
  const replicaNames = (name: string) =>
    Array.from({ length: config.VECHE_REPLICAS }, (_, i) => (i === 0 ? name : `${name}#${i + 1}`));
  const names = ['wamp-router', ...services.flatMap((s) => replicaNames(s.name))];
  const renderer = createLogRenderer({ colour, names: [...names, 'proxy'] });
  const write = (line: string) => process.stdout.write(line + '\n');
  const supervisor = createSupervisor({ renderer, write, note });
  // The origin's own lines (an upstream not reachable) join the stream like a process's.
  const proxyLog = createLogger({
    service: 'proxy',
    level: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL,
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          write(renderer.line('proxy', line, 'stdout'));
        done();
      },
    }),
  });

  const specs: ProcessSpec[] = [
    {
      name: 'wamp-router',
      command: process.execPath,
      args: [path.join(root, 'libs/wamp-router/bin/wamp-router.ts')],
      cwd: root,
      env: { ...baseEnv, WAMP_ROUTER_HOST: '127.0.0.1', WAMP_ROUTER_PORT: String(routerPort) },
      ready: { tcpPort: routerPort },
    },
  ];
  const servicePorts = new Map<string, number>();
  for (const service of services) servicePorts.set(service.name, nextPort());
  // Every service can reach every other's internal HTTP (e.g. the gateway streaming uploads to chat):
  // VECHE_INTERNAL_URL_<NAME> (upper case, '-' → '_'), as the stack's service names do in production.
  for (const [name, port] of servicePorts) {
    baseEnv[`VECHE_INTERNAL_URL_${name.toUpperCase().replaceAll('-', '_')}`] = `http://127.0.0.1:${port}`;
  }
  // Every process's /metrics, replicas included, through the origin (/_fleet/metrics/<process>).
  const metricsPorts = new Map<string, number>();
  for (const service of services) {
    for (const [index, name] of replicaNames(service.name).entries()) {
      const port = index === 0 ? servicePorts.get(service.name)! : nextPort();
      metricsPorts.set(name, port);
      specs.push({
        name,
        command: process.execPath,
        args: [path.join(service.dir, service.fleet.entry)],
        cwd: service.dir,
        env: { ...baseEnv, HOST: '127.0.0.1', PORT: String(port), SERVICE_NAME: service.name },
        ready: { httpUrl: `http://127.0.0.1:${port}${service.fleet.health ?? '/health'}` },
      });
    }
  }

  // The origin's routes, as nginx has them; a prefix whose service does not exist yet answers 503.
  const owners: { prefix: string; owner: string; websocket: boolean }[] = [
    { prefix: '/api', owner: 'gateway', websocket: false },
    { prefix: '/ws', owner: 'wamp-router', websocket: true },
    { prefix: '/pubsub', owner: 'presence-router', websocket: true },
  ];
  // A route of a replicated service goes to every replica in turn, as the stack's service address does.
  const routes: Route[] = owners.map((o) => {
    const declared = services.find((s) => s.fleet.routes?.some((r) => r.prefix === o.prefix));
    const port =
      o.owner === 'wamp-router' ? routerPort : declared ? servicePorts.get(declared.name) : undefined;
    const replicaPorts = declared
      ? replicaNames(declared.name)
          .slice(1)
          .map((name) => metricsPorts.get(name)!)
      : [];
    return { ...o, owner: declared?.name ?? o.owner, port, ...(replicaPorts.length ? { replicaPorts } : {}) };
  });
  const processOnPort = new Map([...metricsPorts].map(([name, port]) => [port, name]));

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      note(`${signal}: stopping the fleet…`);
      await proxy?.close().catch(() => {});
      await supervisor.stop(10_000);
      await servers.stop();
      note('stopped');
    })();
    return stopping;
  };
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  const exit = new Promise<number>((resolve) => {
    // SIGHUP: the terminal closed. Children are in their own process groups and would outlive us.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => void stop(signal).then(() => resolve(0)));
    }
  });

  note(`starting ${names.join(', ')}${services.length === 0 ? ' (no services in services/ yet)' : ''}`);
  for (const spec of specs) supervisor.start(spec);
  try {
    // A bound, not a pace: seven cold Node starts share the host's cores; on a busy two-core host the
    // gateway took over a minute.
    const waiting = setInterval(() => {
      const slow = supervisor.states().filter((p) => p.status !== 'running');
      const describe = (p: ProcessState) =>
        `${p.name} (${p.status}${p.restarts > 0 ? `, restarted ${p.restarts}×, last exit ${p.lastExit}` : ''})`;
      if (slow.length > 0) note(`still waiting for ${slow.map(describe).join(', ')}`);
    }, 20_000);
    try {
      await Promise.all(specs.map((s) => supervisor.waitReady(s.name, 180_000)));
    } finally {
      clearInterval(waiting);
    }
    proxy = await startProxy({
      host: config.VECHE_HOST,
      port: config.VECHE_PORT,
      routes,
      webRoot: path.join(root, 'clients/web/dist'),
      statusPage: () => ({ origin: publicUrl, routes, processes: supervisor.states() }),
      metricsTargets: () => metricsPorts,
      upstreamReady: (port) => {
        const name = processOnPort.get(port);
        return name === undefined || supervisor.states().find((p) => p.name === name)?.status === 'running';
      },
      log: proxyLog,
      readiness: Object.fromEntries(
        names.map((name) => [
          name,
          () => supervisor.states().find((p) => p.name === name)?.status === 'running',
        ]),
      ),
    });
  } catch (error) {
    note(`could not start: ${(error as Error).message}`);
    await stop('failure');
    return 1;
  }
  note(`Veche is running at ${publicUrl}  (/api, /ws, /pubsub, /; Ctrl-C stops it)`);
  return exit;
}

process.exitCode = await main();
