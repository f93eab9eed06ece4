/** Starts the dice bot with a health server; `--help` prints the configuration. */
import { createServer } from 'node:http';
import { createBusConnection } from '@veche/bus';
import { ConfigError } from '@veche/config';
import { createLogger } from '@veche/log';
import { createDiceBot } from './bot.ts';
import { botEnvSchema, loadBotConfig, type BotConfig } from './env.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  const lines = Object.entries(botEnvSchema.properties).map(([name, schema]) => {
    const s = schema as { default?: unknown };
    return `  ${name.padEnd(14)} ${s.default === undefined ? '' : `default ${JSON.stringify(s.default)}`}`;
  });
  process.stdout.write(
    `Veche dice bot: answers /roll in chat rooms.\n\nUsage: node services/bot-dice/src/server.ts\n\nEnvironment:\n${lines.join('\n')}\n`,
  );
  process.exit(0);
}

const bootLog = createLogger({ service: 'bot-dice' });
let config: BotConfig;
try {
  config = loadBotConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  bootLog.fatal({ problems: error.problems }, error.message);
  process.exit(2);
}
const log = createLogger({ service: 'bot-dice', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const connection = createBusConnection({ url: config.AMQP_URL, name: `bot-dice:${process.pid}`, log });
const bot = createDiceBot({ connection, exchange: config.BOT_EXCHANGE, queue: config.BOT_QUEUE, log });
const health = createServer((request, response) => {
  const send = (status: number, body: unknown) =>
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const path = (request.url ?? '/').split('?')[0];
  if (path === '/health') return send(200, { status: 'ok' });
  if (path === '/ready')
    return send(connection.isConnected() ? 200 : 503, { checks: { rabbitmq: connection.isConnected() } });
  return send(404, { error: { code: 'not_found', message: 'No such path', details: null } });
});

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) process.exit(1);
  stopping = true;
  log.info({ signal }, 'stopping');
  try {
    await bot.stop();
    await connection.stop();
    health.close();
  } catch (error) {
    log.error({ err: error }, 'stopping failed');
    process.exitCode = 1;
  }
};
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));

try {
  await new Promise<void>((resolve, reject) => {
    health.once('error', reject);
    health.listen(config.PORT, config.HOST, () => resolve());
  });
  await connection.start();
  await bot.start();
  log.info({ port: config.PORT, queue: config.BOT_QUEUE }, 'dice bot started');
} catch (error) {
  log.fatal({ err: error }, 'the dice bot could not start');
  await stop('start-failure');
  process.exit(1);
}
