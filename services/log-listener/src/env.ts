/** The log-listener's configuration, read and validated once at start: a bad variable stops it with its name. */
import { readFileSync } from 'node:fs';
import {
  ConfigError,
  amqpEnv,
  databaseEnv,
  env,
  envSchema,
  httpEnv,
  loadConfig,
  runtimeEnv,
  wampEnv,
} from '@veche/config';
import type { Static } from '@sinclair/typebox';

export const logsEnvSchema = envSchema({
  ...runtimeEnv,
  ...httpEnv(3004),
  ...databaseEnv,
  ...amqpEnv,
  ...wampEnv,
  LOGS_EXCHANGE: env.string({
    default: 'veche.events',
    description: 'RabbitMQ topic exchange the integration events (`logs.*`) are published to',
  }),
  LOGS_ALERT_EVAL_MS: env.int({
    default: 2_000,
    minimum: 50,
    maximum: 60_000,
    description: 'how often the alerts are evaluated on the lines stored since the last round',
  }),
  LOGS_DB_SCHEMA: env.string({
    default: 'logs',
    description: 'PostgreSQL schema of the event log, sources and lines',
  }),
  LOGS_DB_POOL_SIZE: env.int({
    default: 10,
    minimum: 3,
    maximum: 100,
    description: 'PostgreSQL connections per replica',
  }),
  LOGS_BIND_HOST: env.string({
    default: '0.0.0.0',
    description: 'address the syslog listeners bind (every source gets a port on it)',
  }),
  LOGS_PUBLIC_HOST: env.string({
    default: '127.0.0.1',
    description: 'the host senders are told to send to (the source’s `<host>:<port>`)',
  }),
  LOGS_PORT_MIN: env.port({
    default: 20_000,
    description: 'first port of the range sources get theirs from',
  }),
  LOGS_PORT_MAX: env.port({ default: 20_999, description: 'last port of the range sources get theirs from' }),
  LOGS_TLS_CERT_FILE: env.optional(
    env.string({
      description: 'PEM certificate (chain) of the TLS listeners; without it sources cannot use TLS',
    }),
  ),
  LOGS_TLS_KEY_FILE: env.optional(env.string({ description: 'PEM private key of the TLS listeners' })),
  LOGS_MAX_LINE_BYTES: env.int({
    default: 65_536,
    minimum: 256,
    maximum: 16_777_216,
    description: 'a longer line is kept up to this many bytes and flagged truncated',
  }),
  LOGS_IDLE_MS: env.int({
    default: 600_000,
    minimum: 1_000,
    description: 'a sender connection silent this long is closed',
  }),
  LOGS_MAX_CONNECTIONS_PER_SOURCE: env.int({
    default: 2_000,
    minimum: 1,
    description: 'connections one source accepts at once (more are closed and counted)',
  }),
  LOGS_BATCH_LINES: env.int({
    default: 5_000,
    minimum: 1,
    maximum: 50_000,
    description: 'most lines written in one statement',
  }),
  LOGS_FLUSH_MS: env.int({
    default: 50,
    minimum: 1,
    maximum: 5_000,
    description: 'longest a received line waits before its batch is written',
  }),
  LOGS_WRITE_CONCURRENCY: env.int({
    default: 2,
    minimum: 1,
    maximum: 8,
    description: 'batches written at once (each on its own connection; they still commit in order)',
  }),
  LOGS_MAX_PENDING_LINES: env.int({
    default: 100_000,
    minimum: 100,
    description: 'lines held in memory before every sender socket is paused (back-pressure)',
  }),
  LOGS_MAX_QUEUE_WAIT_MS: env.int({
    default: 100,
    minimum: 0,
    maximum: 60_000,
    description:
      'longest a received line should wait in memory for its batch: the queue holds at most what the measured write rate stores in this long (0: LOGS_MAX_PENDING_LINES alone)',
  }),
  LOGS_RETENTION_DAYS: env.int({
    default: 30,
    minimum: 1,
    maximum: 3650,
    description: 'how long lines are kept unless the source says otherwise',
  }),
  LOGS_MAINTENANCE_MS: env.int({
    default: 60_000,
    minimum: 100,
    description: 'how often partitions are made ahead and old lines removed',
  }),
  LOGS_SYNC_MS: env.int({
    default: 1_000,
    minimum: 50,
    description: 'how often each replica reconciles its listeners with the registered sources',
  }),
});

export type LogsConfig = Static<typeof logsEnvSchema>;

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** Where they were read from: the listeners read them again when they change (a renewal). */
  files?: { cert: string; key: string };
}

export function loadLogsConfig(source: NodeJS.ProcessEnv = process.env): LogsConfig {
  const config = loadConfig(logsEnvSchema, source);
  const problems: { variable: string; message: string }[] = [];
  if (config.LOGS_PORT_MIN < 1 || config.LOGS_PORT_MAX < config.LOGS_PORT_MIN) {
    problems.push({
      variable: 'LOGS_PORT_MAX',
      message: 'must be at least LOGS_PORT_MIN (and the range above 0)',
    });
  }
  // Each batch in flight holds a connection until it commits; the API, alerts and upkeep need the rest.
  if (config.LOGS_WRITE_CONCURRENCY > config.LOGS_DB_POOL_SIZE - 2) {
    problems.push({
      variable: 'LOGS_WRITE_CONCURRENCY',
      message: `at most LOGS_DB_POOL_SIZE - 2 (${config.LOGS_DB_POOL_SIZE - 2}): the readers need connections too`,
    });
  }
  if ((config.LOGS_TLS_CERT_FILE === undefined) !== (config.LOGS_TLS_KEY_FILE === undefined)) {
    problems.push({
      variable: 'LOGS_TLS_KEY_FILE',
      message: 'LOGS_TLS_CERT_FILE and LOGS_TLS_KEY_FILE go together',
    });
  }
  for (const name of ['LOGS_TLS_CERT_FILE', 'LOGS_TLS_KEY_FILE'] as const) {
    const file = config[name];
    if (file === undefined) continue;
    try {
      readFileSync(file);
    } catch {
      problems.push({ variable: name, message: `cannot read ${file}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export function tlsMaterialOf(config: LogsConfig): TlsMaterial | undefined {
  if (config.LOGS_TLS_CERT_FILE === undefined || config.LOGS_TLS_KEY_FILE === undefined) return undefined;
  return {
    cert: readFileSync(config.LOGS_TLS_CERT_FILE),
    key: readFileSync(config.LOGS_TLS_KEY_FILE),
    files: { cert: config.LOGS_TLS_CERT_FILE, key: config.LOGS_TLS_KEY_FILE },
  };
}
