/** Starts the log-listener (see app.ts); `--help` lists its configuration. */
import { runService } from '@veche/service';
import { createLogsApp } from './app.ts';
import { loadLogsConfig, logsEnvSchema } from './env.ts';

await runService({
  name: 'log-listener',
  title:
    'Veche log-listener: a syslog port per log source (TCP/TLS, RFC 5424/3164, remote_syslog2), stored lines, live tail.',
  env: logsEnvSchema,
  loadConfig: loadLogsConfig,
  create: createLogsApp,
});
