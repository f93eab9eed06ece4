/**
 * Starts the mailer. Outside production with no SMTP_URL, it first starts the development mail sink
 * in-process and sends there, so `./scripts/dev` shows every mail at the sink's web page.
 */
import { answerHelp, loadConfigOrExit, runService } from '@veche/lifecycle';
import { createLogger } from '@veche/log';
import { createMailer, type Mailer } from './app.ts';
import { createMailSink, type MailSink } from './dev-sink/sink.ts';
import { loadMailerConfig, mailerEnvSchema } from './env.ts';

answerHelp(
  mailerEnvSchema,
  'Veche mailer: integration events in, idempotent mails out through SMTP (development sink without SMTP_URL).',
  'node services/mailer/src/server.ts',
);
const config = loadConfigOrExit('mailer', () => loadMailerConfig());
const log = createLogger({ service: 'mailer', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });

async function startSink(): Promise<{ sink: MailSink; smtpUrl: string }> {
  const make = (smtpPort: number, webPort: number) =>
    createMailSink({ smtpPort, webPort, log, rules: false, host: '127.0.0.1' });
  let sink = make(config.MAIL_SINK_SMTP_PORT, config.MAIL_SINK_WEB_PORT);
  let ports;
  try {
    ports = await sink.start();
  } catch (error) {
    // Another checkout's fleet holds the usual ports: any free ones will do, the log says which.
    log.warn({ err: error }, 'the usual mail sink ports are taken; using free ones');
    sink = make(0, 0);
    ports = await sink.start();
  }
  log.info(`development mail sink: read the mails at http://127.0.0.1:${ports.webPort}/`);
  return { sink, smtpUrl: `smtp://127.0.0.1:${ports.smtpPort}` };
}

let sink: MailSink | undefined;
let smtpUrl = config.SMTP_URL;
if (!smtpUrl) {
  ({ sink, smtpUrl } = await startSink());
}

const mailer: Mailer = createMailer({ config, log, smtpUrl });
await runService({
  log,
  name: 'the mailer',
  start: () => mailer.start(),
  stop: async () => {
    await mailer.stop();
    await sink?.stop();
  },
});
