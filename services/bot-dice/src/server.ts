/** Starts the dice bot (see app.ts); `--help` lists its configuration. */
import { runService } from '@veche/service';
import { createDiceBotApp } from './app.ts';
import { botEnvSchema, loadBotConfig } from './env.ts';

await runService({
  name: 'bot-dice',
  title: 'Veche dice bot: answers /roll in chat rooms.',
  env: botEnvSchema,
  loadConfig: loadBotConfig,
  create: createDiceBotApp,
});
