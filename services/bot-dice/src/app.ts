/**
 * Wires the dice bot: its RabbitMQ connection, the command consumer (api/commands.ts) and the kit's
 * HTTP server (/health, and /ready while RabbitMQ is connected). `server.ts` only starts it.
 */
import type { AddressInfo } from 'node:net';
import { createBusConnection } from '@veche/bus';
import type { Logger } from '@veche/log';
import { createServiceHttp } from '@veche/service';
import { createDiceBot, type DiceBot } from './api/commands.ts';
import type { BotConfig } from './env.ts';

export interface DiceBotApp {
  readonly bot: DiceBot;
  /** Starts every part; resolves with the HTTP server's port. */
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

export function createDiceBotApp(options: { config: BotConfig; log: Logger }): DiceBotApp {
  const { config, log } = options;
  const connection = createBusConnection({ url: config.AMQP_URL, name: `bot-dice:${process.pid}`, log });
  const bot = createDiceBot({ connection, exchange: config.BOT_EXCHANGE, queue: config.BOT_QUEUE, log });
  let http: Awaited<ReturnType<typeof createServiceHttp>> | undefined;
  return {
    bot,
    async start() {
      http = await createServiceHttp({ log, readiness: { rabbitmq: () => connection.isConnected() } });
      await http.listen({ host: config.HOST, port: config.PORT });
      const { port } = http.server.address() as AddressInfo;
      await connection.start();
      await bot.start();
      log.info({ port, queue: config.BOT_QUEUE }, 'dice bot started');
      return { port };
    },
    async stop() {
      await bot.stop();
      await connection.stop();
      await http?.close();
    },
  };
}
