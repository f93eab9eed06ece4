/**
 * The gateway's maintenance commands. `rebuild-read-models` replays the event log into the read
 * models (safe while the gateway runs: appends wait for it).
 */
import { ConfigError } from '@veche/config';
import { createDatabase } from '@veche/db';
import { createLogger } from '@veche/log';
import { loadGatewayConfig } from './env.ts';
import { rebuildReadModels } from './rebuild.ts';

const usage = `Usage: node services/gateway/src/cli.ts <command>

Commands:
  rebuild-read-models   empty accounts, sessions and tokens and replay them from the event log

Reads DATABASE_URL, GATEWAY_DB_SCHEMA and VECHE_SERVICE_SECRET like the service.
`;

const [command] = process.argv.slice(2);
if (!command || command === '--help' || command === '-h') {
  process.stdout.write(usage);
  process.exit(command ? 0 : 2);
}
const log = createLogger({ service: 'gateway-cli' });
try {
  const config = loadGatewayConfig();
  if (command !== 'rebuild-read-models') {
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${usage}`);
    process.exit(2);
  }
  const database = createDatabase<unknown>({
    url: config.DATABASE_URL,
    schema: config.GATEWAY_DB_SCHEMA,
    poolSize: 2,
    applicationName: 'gateway-cli',
  });
  try {
    const { events } = await rebuildReadModels(database);
    log.info({ events }, 'read models rebuilt');
  } finally {
    await database.close();
  }
} catch (error) {
  if (error instanceof ConfigError) {
    log.fatal({ problems: error.problems }, error.message);
    process.exit(2);
  }
  log.fatal({ err: error }, 'command failed');
  process.exit(1);
}
