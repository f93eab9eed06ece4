/** Starts the gateway; SIGTERM/SIGINT close it gracefully (close-with-grace), a second signal exits at once. */
import closeWithGrace from 'close-with-grace';
import { ConfigError } from '@veche/config';
import { createLogger } from '@veche/log';
import { createGateway } from './app.ts';
import { loadGatewayConfig, type GatewayConfig } from './env.ts';

if (process.argv.includes('--help')) {
  process.stdout.write(`Veche gateway: the public /api and the WAMP router's authenticator and authorizer.

Usage: node services/gateway/src/server.ts

Configuration is read from the environment (see services/gateway/README.md): HOST, PORT,
DATABASE_URL, AMQP_URL, WAMP_URL, WAMP_REALM, VECHE_SERVICE_SECRET (required),
GATEWAY_TOKEN_SECRET (required in production), VECHE_PUBLIC_URL, VECHE_ADMIN_EMAIL, TRUST_PROXY,
ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_DAYS, ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_PARALLELISM,
REQUIRE_VERIFIED_EMAIL, the rate limits (LOGIN_LIMIT_PER_IP, LOGIN_FAILURES_PER_ACCOUNT, LOCKOUT_SECONDS,
REGISTER_LIMIT_PER_IP, MAIL_LIMIT_PER_IP, MAIL_LIMIT_PER_ACCOUNT, RATE_WINDOW_SECONDS), BODY_LIMIT_BYTES,
FORWARD_TIMEOUT_MS, VECHE_INTERNAL_URL_<SERVICE>, LOG_LEVEL, LOG_PRETTY.
A bad or missing variable exits with code 2 and names it.
`);
  process.exit(0);
}

const bootLog = createLogger({ service: 'gateway' });
let config: GatewayConfig;
try {
  config = loadGatewayConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  bootLog.fatal({ problems: error.problems }, error.message);
  process.exit(2);
}
const log = createLogger({ service: 'gateway', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const gateway = await createGateway({ config, log });

closeWithGrace({ delay: 20_000 }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'stopping after an error');
  else log.info({ signal }, 'stopping');
  await gateway.stop();
});

try {
  await gateway.start();
} catch (error) {
  log.fatal({ err: error }, 'the gateway could not start');
  await gateway.stop().catch(() => {});
  process.exit(1);
}
