/**
 * Starts the chat service. `--help` prints the configuration; SIGTERM/SIGINT stop it gracefully (calls
 * under way finish, relays publish what is committed), a second signal exits at once.
 */
import { answerHelp, loadConfigOrExit, runService } from '@veche/lifecycle';
import { createLogger } from '@veche/log';
import { createChatApp } from './app.ts';
import { chatEnvSchema, loadChatConfig } from './env.ts';

answerHelp(
  chatEnvSchema,
  'Veche chat service: rooms, messages, receipts, typing, attachments and bot commands.',
  'node services/chat/src/server.ts',
);
const config = loadConfigOrExit('chat', () => loadChatConfig());
const log = createLogger({ service: 'chat', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const app = createChatApp({ config, log });
await runService({ log, name: 'the chat', start: () => app.start(), stop: () => app.stop() });
