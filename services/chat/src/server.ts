/** Starts the chat (see app.ts); `--help` lists its configuration. */
import { runService } from '@veche/service';
import { createChatApp } from './app.ts';
import { chatEnvSchema, loadChatConfig } from './env.ts';

await runService({
  name: 'chat',
  title: 'Veche chat service: rooms, messages, receipts, typing, attachments and bot commands.',
  env: chatEnvSchema,
  loadConfig: loadChatConfig,
  create: createChatApp,
});
