/** The chat's configuration, read and validated once at start: a bad variable stops it with its name. */
import {
  ConfigError,
  amqpEnv,
  databaseEnv,
  env,
  envSchema,
  httpEnv,
  loadConfig,
  runtimeEnv,
  wampEnv,
} from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const chatEnvSchema = envSchema({
  ...runtimeEnv,
  ...httpEnv(3002),
  ...databaseEnv,
  ...amqpEnv,
  ...wampEnv,
  CHAT_DB_SCHEMA: env.string({
    default: 'chat',
    description: 'the chat’s PostgreSQL schema (tests use their own)',
  }),
  CHAT_DB_POOL_SIZE: env.int({
    default: 12,
    minimum: 4,
    maximum: 100,
    description: 'PostgreSQL connections',
  }),
  UPLOADS_DIR: env.string({
    default: 'var/uploads',
    description: 'where attachments live (one directory, which the standby copies)',
  }),
  ATTACHMENT_MAX_BYTES: env.int({
    default: 26_214_400,
    minimum: 1,
    maximum: 1_073_741_824,
    description: 'largest attachment in bytes',
  }),
  ATTACHMENT_TYPES: env.string({
    default:
      'image/*,text/plain,text/markdown,text/csv,application/pdf,application/zip,application/json,audio/*,video/*',
    description: 'accepted upload types: exact types or `type/*`, comma-separated',
  }),
  TYPING_TTL_MS: env.int({
    default: 6_000,
    minimum: 100,
    maximum: 60_000,
    description: 'a typing indicator not renewed within this time ends by itself',
  }),
  CHAT_PRESENCE_TIMEOUT_MS: env.int({
    default: 1_000,
    minimum: 50,
    maximum: 30_000,
    description: 'how long a member list waits for the presence-router (members shown offline after)',
  }),
  CHAT_ACCOUNT_LOOKUP_TIMEOUT_MS: env.int({
    default: 2_000,
    minimum: 50,
    maximum: 30_000,
    description:
      'how long an invitation or direct message to a user chat has not heard of waits for the gateway to say whether they exist',
  }),
  CHAT_EXCHANGE: env.string({
    default: 'veche.events',
    description: 'integration events out, account events in (tests use their own)',
  }),
  CHAT_ACCOUNTS_QUEUE: env.string({ default: 'chat.accounts', description: 'the queue of account events' }),
  CHAT_BOT_EXCHANGE: env.string({
    default: 'veche.bots',
    description: 'bot commands out, bot replies and registrations in',
  }),
  CHAT_BOT_QUEUE: env.string({ default: 'chat.bot-replies', description: 'the queue of bot replies' }),
  CHAT_BOT_MAX_REPLIES: env.int({
    default: 5,
    minimum: 1,
    maximum: 100,
    description: 'most replies a bot may post to one command',
  }),
  CHAT_REALTIME_BATCH: env.int({
    default: 2_000,
    minimum: 1,
    maximum: 20_000,
    description: 'events per realtime publication batch (the relay coalesces one batch per member topic)',
  }),
});

export type ChatConfig = Static<typeof chatEnvSchema>;

export function loadChatConfig(source: NodeJS.ProcessEnv = process.env): ChatConfig {
  const config = loadConfig(chatEnvSchema, source);
  const problems: { variable: string; message: string }[] = [];
  if (parseTypes(config.ATTACHMENT_TYPES).length === 0) {
    problems.push({ variable: 'ATTACHMENT_TYPES', message: 'must list at least one type such as image/*' });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export function parseTypes(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => /^[a-z0-9.+-]+\/(\*|[a-z0-9.+-]+)$/.test(t));
}
