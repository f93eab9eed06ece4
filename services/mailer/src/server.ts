/** Starts the mailer (see app.ts); `--help` lists its configuration. */
import { runService } from '@veche/service';
import { createMailerService } from './app.ts';
import { loadMailerConfig, mailerEnvSchema } from './env.ts';

await runService({
  name: 'mailer',
  title:
    'Veche mailer: integration events in, idempotent mails out through SMTP (a development sink without SMTP_URL).',
  env: mailerEnvSchema,
  loadConfig: loadMailerConfig,
  create: createMailerService,
});
