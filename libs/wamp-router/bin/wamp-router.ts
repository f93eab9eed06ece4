/**
 * The local WAMP router as a process, for the local fleet runner and for running by hand. Not for
 * production (Crossbar there): see docs/adr/0004-local-wamp-router.md.
 */
import { ConfigError, env, envHelp, envSchema, loadConfig, runtimeEnv } from '@veche/config';
import { createLogger } from '@veche/log';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  startRouter,
} from '../src/index.ts';

export const routerEnv = envSchema({
  LOG_LEVEL: runtimeEnv.LOG_LEVEL,
  LOG_PRETTY: runtimeEnv.LOG_PRETTY,
  WAMP_ROUTER_HOST: env.string({ default: '127.0.0.1', description: 'interface to listen on' }),
  WAMP_ROUTER_PORT: env.port({ default: 8081, description: 'port to listen on (0: any free port)' }),
  WAMP_ROUTER_PATH: env.optional(
    env.string({ description: 'accept WebSocket upgrades only on this path (default: any path)' }),
  ),
  VECHE_SERVICE_SECRET: env.secret({ minLength: 16, description: 'ticket of the service:<name> authids' }),
  WAMP_USER_AUTHENTICATOR: env.string({
    default: 'veche.gateway.authenticate',
    description: 'procedure (registered by the gateway) that verifies user tickets',
  }),
  WAMP_MAX_PAYLOAD_BYTES: env.int({ default: 1024 * 1024, minimum: 1024, description: 'largest message' }),
});

const help = envHelp(
  routerEnv,
  `Runs the local Veche WAMP router (fox-wamp, realm "veche", WebSocket subprotocol wamp.2.json).
Services authenticate as service:<name> with VECHE_SERVICE_SECRET as their ticket; users' tickets are
verified by calling WAMP_USER_AUTHENTICATOR (registered by the gateway). Stops on SIGINT/SIGTERM, and
when the process that started it with an IPC channel (the local fleet) is gone.`,
  'node libs/wamp-router/bin/wamp-router.ts [--help]',
);

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(help);
    return;
  }
  let config;
  try {
    config = loadConfig(routerEnv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const log = createLogger({ service: 'wamp-router', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const router = await startRouter({
    log,
    host: config.WAMP_ROUTER_HOST,
    port: config.WAMP_ROUTER_PORT,
    ...(config.WAMP_ROUTER_PATH === undefined ? {} : { path: config.WAMP_ROUTER_PATH }),
    maxPayloadBytes: config.WAMP_MAX_PAYLOAD_BYTES,
    authenticate: composeAuthenticators(
      serviceAuthenticator(config.VECHE_SERVICE_SECRET),
      procedureAuthenticator(config.WAMP_USER_AUTHENTICATOR),
    ),
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal, exiting at once');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    router.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Started by the local fleet with an IPC channel: stop with it, even when it was SIGKILLed.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => stop('SIGTERM'));
  }
}

await main();
