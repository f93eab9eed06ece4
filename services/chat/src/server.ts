/**
 * Starts the chat service. `--help` prints the configuration; SIGTERM/SIGINT stop it gracefully (calls
 * under way finish, relays publish what is committed), a second signal exits at once.
 */
import { ConfigError } from '@veche/config';
import { createLogger } from '@veche/log';
import { createChatApp } from './app.ts';
import { chatEnvSchema, loadChatConfig, type ChatConfig } from './env.ts';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  const lines = Object.entries(chatEnvSchema.properties).map(([name, schema]) => {
    const s = schema as { default?: unknown; description?: string };
    const fallback =
      s.default === undefined ? '(required or optional)' : `default ${JSON.stringify(s.default)}`;
    return `  ${name.padEnd(24)} ${fallback}${s.description ? ` — ${s.description}` : ''}`;
  });
  process.stdout.write(
    `Veche chat service: rooms, messages, receipts, typing, attachments and bot commands.\n\n` +
      `Usage: node services/chat/src/server.ts\n\nEnvironment:\n${lines.join('\n')}\n`,
  );
  process.exit(0);
}

const bootLog = createLogger({ service: 'chat' });
let config: ChatConfig;
try {
  config = loadChatConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  bootLog.fatal({ problems: error.problems }, error.message);
  process.exit(2);
}
const log = createLogger({ service: 'chat', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const app = createChatApp({ config, log });

let stopping: Promise<void> | undefined;
const stop = (signal: string) => {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = (async () => {
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      log.error('did not stop within 20 s; exiting');
      process.exit(1);
    }, 20_000);
    force.unref();
    try {
      await app.stop();
    } catch (error) {
      log.error({ err: error }, 'stopping failed');
      process.exitCode = 1;
    }
  })();
  return stopping;
};
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));

try {
  await app.start();
} catch (error) {
  log.fatal({ err: error }, 'the chat could not start');
  await stop('start-failure').catch(() => undefined);
  process.exit(1);
}
