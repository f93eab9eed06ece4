/**
 * The local fleet (README, command 1): finds or starts PostgreSQL and RabbitMQ, starts the local WAMP
 * router and every service in services/, and serves them all behind one origin like nginx does in
 * production. Ctrl-C stops everything cleanly.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { commonEnv, env, envSchema, loadConfig, ConfigError } from '@veche/config';
import { ensureDatabaseExists } from '@veche/db';
import { ensureServers, PreflightError } from '../lib/preflight.ts';
import { createLogRenderer } from './logs.ts';
import { createSupervisor, freePort, type ProcessSpec } from './processes.ts';
import { startProxy, type Route } from './proxy.ts';
import { ensureWebClientBuilt } from './web-client.ts';

const root = path.resolve(import.meta.dirname, '../..');

const help = `Usage: scripts/dev [--help]

Runs the whole Veche fleet on this machine behind one origin (default http://127.0.0.1:3000):
  /api     the gateway (HTTP JSON API)
  /ws      the WAMP router (realm veche)
  /pubsub  the presence-router (seed-compatible presence WebSocket)
  /        the web client (clients/web, built into dist when missing or stale)
  /_fleet/status   the state of every process

Environment (all optional):
  VECHE_PORT     port of the origin (default 3000)
  VECHE_HOST     address to listen on (default 127.0.0.1)
  DATABASE_URL   PostgreSQL (default postgres://postgres@127.0.0.1:5432/veche; the database is created if missing)
  AMQP_URL       RabbitMQ (default amqp://guest:guest@127.0.0.1:5672)
  SMTP_URL       outgoing mail relay (default: the development SMTP sink, when the mailer exists)
  LOG_LEVEL      fatal|error|warn|info|debug|trace (default info)
  VECHE_SERVICE_SECRET  the services' WAMP credential (default: a new random one per run)
  NO_COLOR       plain log output

Where PostgreSQL or RabbitMQ is not reachable and a Docker engine is, they are started in containers.
Each service declares itself in services/<name>/package.json under "veche.fleet"; see README.md.`;

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
  VECHE_PORT: env.port({ default: 3000 }),
  VECHE_HOST: env.string({ default: '127.0.0.1' }),
  DATABASE_URL: commonEnv.DATABASE_URL,
  AMQP_URL: commonEnv.AMQP_URL,
  SMTP_URL: env.optional(env.url({ protocols: ['smtp', 'smtps'] })),
  LOG_LEVEL: commonEnv.LOG_LEVEL,
});

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(help);
    return 0;
  }
  const colour = !process.env['NO_COLOR'] && process.stdout.isTTY === true;
  const note = (line: string) => console.log(colour ? `\x1b[1;34m[fleet]\x1b[0m ${line}` : `[fleet] ${line}`);

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
  const routerPort = await freePort();
  const serviceSecret = process.env['VECHE_SERVICE_SECRET'] || randomBytes(24).toString('base64url');
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

  const names = ['wamp-router', ...services.map((s) => s.name)];
  const supervisor = createSupervisor({
    renderer: createLogRenderer({ colour, names }),
    write: (line) => process.stdout.write(line + '\n'),
    note,
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
  for (const service of services) servicePorts.set(service.name, await freePort());
  // Every service can reach every other's internal HTTP (e.g. the gateway streaming uploads to chat):
  // VECHE_INTERNAL_URL_<NAME> (upper case, '-' → '_'), as the stack's service names do in production.
  for (const [name, port] of servicePorts) {
    baseEnv[`VECHE_INTERNAL_URL_${name.toUpperCase().replaceAll('-', '_')}`] = `http://127.0.0.1:${port}`;
  }
  for (const service of services) {
    const port = servicePorts.get(service.name)!;
    specs.push({
      name: service.name,
      command: process.execPath,
      args: [path.join(service.dir, service.fleet.entry)],
      cwd: service.dir,
      env: { ...baseEnv, HOST: '127.0.0.1', PORT: String(port), SERVICE_NAME: service.name },
      ready: { httpUrl: `http://127.0.0.1:${port}${service.fleet.health ?? '/health'}` },
    });
  }

  // The origin's routes, as nginx has them; a prefix whose service does not exist yet answers 503.
  const owners: { prefix: string; owner: string; websocket: boolean }[] = [
    { prefix: '/api', owner: 'gateway', websocket: false },
    { prefix: '/ws', owner: 'wamp-router', websocket: true },
    { prefix: '/pubsub', owner: 'presence-router', websocket: true },
  ];
  const routes: Route[] = owners.map((o) => {
    const declared = services.find((s) => s.fleet.routes?.some((r) => r.prefix === o.prefix));
    const port =
      o.owner === 'wamp-router' ? routerPort : declared ? servicePorts.get(declared.name) : undefined;
    return { ...o, owner: declared?.name ?? o.owner, port };
  });

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
    await Promise.all(specs.map((s) => supervisor.waitReady(s.name, 60_000)));
    proxy = await startProxy({
      host: config.VECHE_HOST,
      port: config.VECHE_PORT,
      routes,
      webRoot: path.join(root, 'clients/web/dist'),
      statusPage: () => ({ origin: publicUrl, routes, processes: supervisor.states() }),
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
