/** Starts the dice bot with a health server; `--help` prints the configuration. */
import { createServer } from 'node:http';
import { createBusConnection } from '@veche/bus';
import { answerHelp, loadConfigOrExit, runService } from '@veche/lifecycle';
import { createLogger } from '@veche/log';
import { createDiceBot } from './bot.ts';
import { botEnvSchema, loadBotConfig } from './env.ts';

answerHelp(
  botEnvSchema,
  'Veche dice bot: answers /roll in chat rooms.',
  'node services/bot-dice/src/server.ts',
);
const config = loadConfigOrExit('bot-dice', () => loadBotConfig());
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

await runService({
  log,
  name: 'the dice bot',
  start: async () => {
    await new Promise<void>((resolve, reject) => {
      health.once('error', reject);
      health.listen(config.PORT, config.HOST, () => resolve());
    });
    await connection.start();
    await bot.start();
    log.info({ port: config.PORT, queue: config.BOT_QUEUE }, 'dice bot started');
  },
  stop: async () => {
    await bot.stop();
    await connection.stop();
    health.close();
  },
});
