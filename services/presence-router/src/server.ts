/** Starts the presence-router (see app.ts); `--help` lists its configuration. */
import { runService } from '@veche/service';
import { createPresenceApp } from './app.ts';
import { loadPresenceConfig, presenceEnvSchema } from './env.ts';

await runService({
  name: 'presence-router',
  title: 'Veche presence-router: statuses with history, seed 002’s /pubsub, privacy rules.',
  env: presenceEnvSchema,
  loadConfig: loadPresenceConfig,
  create: createPresenceApp,
});
