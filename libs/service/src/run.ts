/**
 * A service process's life, the same for every service: `--help` generated from its environment
 * schema, the configuration validated once (exit 2 naming each bad variable), start, and a graceful
 * stop on SIGTERM/SIGINT, on an uncaught error, or when the process that started it (the local
 * fleet) is gone — all through close-with-grace, one mechanism with one deadline.
 */
import path from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { TObject } from '@sinclair/typebox';
import { ConfigError, envHelp } from '@veche/config';
import { createLogger, type Logger } from '@veche/log';
import { setServiceName } from '@veche/metrics';
import { samplerOf, startTracing, type SamplingConfig } from './tracing.ts';

/** What `create` returns: the service, built but not started. */
export interface ServiceApp {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
}

interface LoggingConfig extends SamplingConfig {
  LOG_LEVEL: string;
  LOG_PRETTY: boolean;
  OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
}

export interface ServiceDefinition<C extends LoggingConfig, A extends ServiceApp> {
  /** The `service` of every log line: `mailer`. */
  name: string;
  /** What the service is, the first line of `--help`. */
  title: string;
  /** The environment schema: `--help` lists every variable of it. */
  env: TObject;
  /** Reads and cross-checks the configuration; throws ConfigError naming the bad variables. */
  loadConfig(source: NodeJS.ProcessEnv): C;
  create(context: { config: C; log: Logger }): A | Promise<A>;
  /** A stop that takes longer is abandoned and the process exits 1 (default 20 s). */
  stopTimeoutMs?: number;
}

const wantsHelp = (argv: readonly string[]) => argv.includes('--help') || argv.includes('-h');

/** Runs the service until it is told to stop; the process exits when the stop is done. */
export async function runService<C extends LoggingConfig, A extends ServiceApp>(
  definition: ServiceDefinition<C, A>,
): Promise<void> {
  const { name } = definition;
  if (wantsHelp(process.argv)) {
    const entry = path.relative(process.cwd(), process.argv[1] ?? `services/${name}/src/server.ts`);
    process.stdout.write(envHelp(definition.env, definition.title, `node ${entry} [--help]`));
    process.exit(0);
  }
  let config: C;
  try {
    config = definition.loadConfig(process.env);
    // The sampler is checked with the rest, so a bad ratio stops the start rather than every trace.
    samplerOf(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // A configuration error is not a crash: one line naming each variable, no stack trace.
    createLogger({ service: name }).fatal({ problems: error.problems }, error.message);
    process.exit(2);
  }
  const log = createLogger({ service: name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  setServiceName(name);
  const tracing = startTracing({
    service: name,
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    log,
    sampling: config,
  });
  let app: A | undefined;
  let startFailed = false;
  let stopRequested = false;

  const grace = closeWithGrace(
    {
      delay: definition.stopTimeoutMs ?? 20_000,
      logger: { error: (message: unknown) => log.error({ err: message }, 'stopping failed') },
      onSecondSignal: (signal) => {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      },
      onTimeout: (delay) => log.error(`did not stop within ${delay / 1000} s; exiting`),
    },
    async ({ signal, err, manual }) => {
      stopRequested = true;
      if (err) log.fatal({ err }, 'stopping after an uncaught error');
      else if (!manual) log.info({ signal: signal ?? 'the event loop is empty' }, 'stopping');
      await app?.stop();
      await tracing.shutdown();
      log.info('stopped');
      if (startFailed) process.exit(1);
    },
  );

  // Started by another process with an IPC channel (the local fleet): stop with it, even when it
  // died without a word (SIGKILL), rather than live on consuming queues nobody watches.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => {
      log.warn('the process that started this one is gone; stopping');
      grace.close();
    });
  }

  try {
    app = await definition.create({ config, log });
    await app.start();
  } catch (error) {
    // Told to stop while starting: the stop tears down what the start was building, and is the
    // outcome that counts.
    if (stopRequested) {
      log.info({ err: error }, 'the start was cut short by the stop');
      return;
    }
    log.fatal({ err: error }, `the ${name} could not start`);
    startFailed = true;
    grace.close();
  }
}
