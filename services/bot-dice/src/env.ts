/** The dice bot's configuration, validated at start. */
import { commonEnv, env, envSchema, loadConfig } from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const botEnvSchema = envSchema({
  NODE_ENV: commonEnv.NODE_ENV,
  LOG_LEVEL: commonEnv.LOG_LEVEL,
  LOG_PRETTY: commonEnv.LOG_PRETTY,
  AMQP_URL: commonEnv.AMQP_URL,
  HOST: env.string({ default: '127.0.0.1' }),
  PORT: env.port({ default: 3012, description: 'GET /health and /ready' }),
  BOT_EXCHANGE: env.string({ default: 'veche.bots' }),
  BOT_QUEUE: env.string({ default: 'bot-dice.commands' }),
});

export type BotConfig = Static<typeof botEnvSchema>;
export const loadBotConfig = (source: NodeJS.ProcessEnv = process.env): BotConfig =>
  loadConfig(botEnvSchema, source);
