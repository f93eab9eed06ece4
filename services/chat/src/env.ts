/** The chat's configuration, read and validated once at start: a bad variable stops it with its name. */
import { ConfigError, commonEnv, env, envSchema, loadConfig } from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const chatEnvSchema = envSchema({
  ...commonEnv,
  HOST: env.string({ default: '127.0.0.1' }),
  PORT: env.port({ default: 3002, description: 'internal HTTP: attachments, /health, /ready' }),
  CHAT_DB_SCHEMA: env.string({ default: 'chat' }),
  CHAT_DB_POOL_SIZE: env.int({ default: 12, minimum: 4, maximum: 100 }),
  WAMP_URL: env.url({ default: 'ws://127.0.0.1:8081/', protocols: ['ws', 'wss'] }),
  WAMP_REALM: env.string({ default: 'veche' }),
  VECHE_SERVICE_SECRET: env.secret({ minLength: 16 }),
  /** Where attachments live (one directory, which the standby copies). */
  UPLOADS_DIR: env.string({ default: 'var/uploads' }),
  ATTACHMENT_MAX_BYTES: env.int({ default: 26_214_400, minimum: 1, maximum: 1_073_741_824 }),
  /** Accepted upload types: exact types or `type/*`, comma-separated. */
  ATTACHMENT_TYPES: env.string({
    default:
      'image/*,text/plain,text/markdown,text/csv,application/pdf,application/zip,application/json,audio/*,video/*',
  }),
  /** A typing indicator not renewed within this time ends by itself. */
  TYPING_TTL_MS: env.int({ default: 6_000, minimum: 100, maximum: 60_000 }),
  /** A member counts as online when chat saw them act within this window. */
  CHAT_ONLINE_WINDOW_MS: env.int({ default: 60_000, minimum: 1_000 }),
  /** Integration events out, account events in (tests use their own). */
  CHAT_EXCHANGE: env.string({ default: 'veche.events' }),
  CHAT_ACCOUNTS_QUEUE: env.string({ default: 'chat.accounts' }),
  /** Bot commands out, bot replies and registrations in. */
  CHAT_BOT_EXCHANGE: env.string({ default: 'veche.bots' }),
  CHAT_BOT_QUEUE: env.string({ default: 'chat.bot-replies' }),
  /** Most replies a bot may post to one command. */
  CHAT_BOT_MAX_REPLIES: env.int({ default: 5, minimum: 1, maximum: 100 }),
  /** Events per realtime publication batch (the relay coalesces one batch per member topic). */
  CHAT_REALTIME_BATCH: env.int({ default: 2_000, minimum: 1, maximum: 20_000 }),
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
