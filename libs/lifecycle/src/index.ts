/**
 * What every service's `server.ts` does the same way: answer `--help` from its environment schema,
 * load its configuration or exit 2 naming the bad variable, then run until SIGTERM/SIGINT and stop
 * gracefully (a second signal, or a stop that overruns its deadline, exits at once).
 */
import type { TObject } from '@sinclair/typebox';
import { ConfigError } from '@veche/config';
import { createLogger, type Logger } from '@veche/log';

/** The `--help` text: a title, the usage line, and every variable with its default and description. */
export function envHelp(schema: TObject, title: string, usage: string): string {
  const lines = Object.entries(schema.properties).map(([name, property]) => {
    const { default: fallback, description } = property as { default?: unknown; description?: string };
    const value = fallback === undefined ? '(required or optional)' : `default ${JSON.stringify(fallback)}`;
    return `  ${name.padEnd(28)} ${value}${description ? ` — ${description}` : ''}`;
  });
  return `${title}\n\nUsage: ${usage}\n\nEnvironment:\n${lines.join('\n')}\n`;
}

/** Prints {@link envHelp} and exits 0 when the process was started with `--help` or `-h`. */
export function answerHelp(schema: TObject, title: string, usage: string, argv = process.argv): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  process.stdout.write(envHelp(schema, title, usage));
  process.exit(0);
}

/** The configuration, or a fatal log line naming each bad variable and exit code 2. */
export function loadConfigOrExit<C>(service: string, load: () => C): C {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger({ service }).fatal({ problems: error.problems }, error.message);
    process.exit(2);
  }
}

export interface RunServiceOptions {
  log: Logger;
  /** For log lines: "the chat could not start". */
  name: string;
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  /** After this long a stop gives up and the process exits 1 (default 20 s). */
  stopTimeoutMs?: number;
  signals?: readonly NodeJS.Signals[];
}

/**
 * Starts the service and stops it on the first signal; returns once started. A start that fails is
 * logged, the parts already started are stopped, and the process exits 1.
 */
export async function runService(options: RunServiceOptions): Promise<void> {
  const { log, name } = options;
  const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> => {
    if (stopping && reason !== 'start-failure') {
      log.warn({ signal: reason }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping ??= (async () => {
      log.info({ signal: reason }, 'stopping');
      const force = setTimeout(() => {
        log.error(`did not stop within ${stopTimeoutMs / 1000} s; exiting`);
        process.exit(1);
      }, stopTimeoutMs);
      force.unref();
      try {
        await options.stop();
      } catch (error) {
        log.error({ err: error }, 'stopping failed');
        process.exitCode = 1;
      }
    })();
    return stopping;
  };
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) process.on(signal, () => void stop(signal));
  try {
    await options.start();
  } catch (error) {
    log.fatal({ err: error }, `${name} could not start`);
    await stop('start-failure').catch(() => undefined);
    process.exit(1);
  }
}
