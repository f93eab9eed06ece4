/**
 * Starts the mailer. Outside production with no SMTP_URL, it first starts the development mail sink
 * in-process and sends there, so `./scripts/dev` shows every mail at the sink's web page.
 */
import { ConfigError } from '@veche/config';
import { createLogger } from '@veche/log';
import { createMailer, type Mailer } from './app.ts';
import { createMailSink, type MailSink } from './dev-sink/sink.ts';
import { loadMailerConfig, type MailerConfig } from './env.ts';

const bootLog = createLogger({ service: 'mailer' });
let config: MailerConfig;
try {
  config = loadMailerConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  bootLog.fatal({ problems: error.problems }, error.message);
  process.exit(2);
}
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
let stopping: Promise<void> | undefined;
const stop = (signal: string) => {
  stopping ??= (async () => {
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      log.error('did not stop within 20 s; exiting');
      process.exit(1);
    }, 20_000);
    force.unref();
    try {
      await mailer.stop();
      await sink?.stop();
    } catch (error) {
      log.error({ err: error }, 'stopping failed');
      process.exitCode = 1;
    }
  })();
  return stopping;
};
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));

try {
  await mailer.start();
} catch (error) {
  log.fatal({ err: error }, 'the mailer could not start');
  await stop('start-failure');
  process.exit(1);
}
