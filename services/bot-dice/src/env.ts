/** The dice bot's configuration, validated at start. */
import { amqpEnv, env, envSchema, httpEnv, loadConfig, runtimeEnv } from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const botEnvSchema = envSchema({
  ...runtimeEnv,
  ...httpEnv(3012),
  ...amqpEnv,
  BOT_EXCHANGE: env.string({
    default: 'veche.bots',
    description: 'the chat’s bot exchange (commands, replies)',
  }),
  BOT_QUEUE: env.string({ default: 'bot-dice.commands', description: 'this bot’s durable command queue' }),
});

export type BotConfig = Static<typeof botEnvSchema>;
export const loadBotConfig = (source: NodeJS.ProcessEnv = process.env): BotConfig =>
  loadConfig(botEnvSchema, source);
