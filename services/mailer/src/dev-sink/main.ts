/**
 * The development SMTP sink as a process of its own: `node src/dev-sink/main.ts`. The mailer starts
 * the same sink in-process when SMTP_URL is unset; this entry serves tests (a real SMTP server
 * process they can kill) and developers who want the sink to outlive mailer restarts.
 */
import { env, envSchema, loadConfig, runtimeEnv } from '@veche/config';
import { createLogger } from '@veche/log';
import { createMailSink } from './sink.ts';

const config = loadConfig(
  envSchema({
    MAIL_SINK_HOST: env.string({ default: '127.0.0.1', description: 'address to listen on' }),
    MAIL_SINK_SMTP_PORT: env.port({ default: 1025, description: 'SMTP port (0: any free port)' }),
    MAIL_SINK_WEB_PORT: env.port({ default: 1080, description: 'port of the web page (0: any free port)' }),
    MAIL_SINK_RULES: env.bool({
      default: false,
      description: 'defer…/reject…/flaky<N>-…/slow<ms>-… recipients',
    }),
    MAIL_SINK_DEBUG: env.bool({ default: false, description: 'print the SMTP conversation' }),
    MAIL_SINK_KEEP: env.int({
      default: 1_000,
      minimum: 1,
      description: 'messages kept (the oldest are forgotten beyond it)',
    }),
    LOG_LEVEL: runtimeEnv.LOG_LEVEL,
  }),
);
const log = createLogger({ service: 'mail-sink', level: config.LOG_LEVEL });
const sink = createMailSink({
  host: config.MAIL_SINK_HOST,
  smtpPort: config.MAIL_SINK_SMTP_PORT,
  webPort: config.MAIL_SINK_WEB_PORT,
  rules: config.MAIL_SINK_RULES,
  debug: config.MAIL_SINK_DEBUG,
  keep: config.MAIL_SINK_KEEP,
  log,
});
await sink.start();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void sink.stop().finally(() => process.exit(0));
  });
}
