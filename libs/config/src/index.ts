/**
 * Typed service configuration from environment variables, validated once at start. A bad or missing
 * variable stops the process with a message that names it.
 */
import { readFileSync } from 'node:fs';
import { FormatRegistry, Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

if (!FormatRegistry.Has('url')) FormatRegistry.Set('url', (value) => URL.canParse(value));

export class ConfigError extends Error {
  readonly problems: readonly { variable: string; message: string }[];
  constructor(problems: readonly { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** The variables `load` refuses, in its order (none when it loads); another error is thrown on. */
export function refusedVariables(load: () => unknown): string[] {
  try {
    load();
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => p.variable);
  }
}

/**
 * Every variable says what it is for: `--help` is generated from these descriptions, so a variable
 * without one would be missing from it. The builders below require `description` (a type error
 * otherwise) and {@link envSchema} refuses a property without one at start.
 */
export type EnvProperty = TSchema & { description: string };
type Described<T extends TSchema> = T & { description: string };
const described = <T extends TSchema>(schema: T): Described<T> => schema as Described<T>;

interface Common<T> {
  description: string;
  default?: T;
}

/** Builders for the variable kinds services use; each carries its description and may carry a default. */
export const env = {
  string: (options: Common<string> & { minLength?: number }) =>
    described(Type.String({ minLength: 1, ...options })),
  secret: (options: Common<string> & { minLength?: number }) =>
    described(Type.String({ minLength: 1, ...options, secret: true })),
  url: (options: Common<string> & { protocols?: readonly string[] }) => {
    const { protocols, ...rest } = options;
    return described(Type.String({ format: 'url', ...rest, ...(protocols ? { protocols } : {}) }));
  },
  port: (options: Common<number>) => described(Type.Integer({ minimum: 0, maximum: 65535, ...options })),
  int: (options: Common<number> & { minimum?: number; maximum?: number }) => described(Type.Integer(options)),
  number: (options: Common<number> & { minimum?: number; maximum?: number }) =>
    described(Type.Number(options)),
  bool: (options: Common<boolean>) => described(Type.Boolean(options)),
  oneOf: <const T extends readonly string[]>(values: T, options: Common<T[number]>) =>
    described(
      Type.Union(
        values.map((v) => Type.Literal(v)),
        options,
      ) as unknown as TSchema & { static: T[number] },
    ),
  optional: <T extends EnvProperty>(schema: T) => Type.Optional(schema),
};

/** The schema of a process's environment: property names are the variable names. */
export function envSchema<T extends Record<string, EnvProperty>>(properties: T): TObject<T> {
  const undescribed = Object.entries(properties)
    .filter(([, schema]) => typeof schema.description !== 'string' || schema.description.trim() === '')
    .map(([name]) => name);
  if (undescribed.length > 0) {
    throw new TypeError(`Environment variables without a description: ${undescribed.join(', ')}`);
  }
  return Type.Object(properties);
}

/**
 * The `--help` text of a process: a title, the usage line, and every variable of its environment
 * schema with its description and default (nothing else to keep in step by hand).
 */
export function envHelp(schema: TObject, title: string, usage: string): string {
  const width = Math.max(...Object.keys(schema.properties).map((name) => name.length), 8) + 2;
  const lines = Object.entries(schema.properties).map(([name, property]) => {
    const { default: fallback, description } = property as { default?: unknown; description?: string };
    const required = (schema.required ?? []).includes(name) && fallback === undefined;
    const shown =
      fallback === undefined ? (required ? ' (required)' : '') : ` (default ${JSON.stringify(fallback)})`;
    return `  ${name.padEnd(width)}${description ?? ''}${shown}`;
  });
  return `${title}\n\nUsage: ${usage}\n\nEnvironment (a variable may instead be given as <NAME>_FILE, a file holding its value):\n${lines.join('\n')}\n`;
}

function describeValue(value: unknown, schema: TSchema): string {
  if (value === undefined) return 'is required but not set';
  if ((schema as { secret?: boolean }).secret) return 'is invalid (value hidden)';
  return `got ${JSON.stringify(value)}`;
}

/**
 * Reads `schema`'s properties from `source` (process.env by default). Property names are the variable
 * names. Numbers and booleans are converted from text; defaults fill what is unset; empty strings
 * count as unset. A variable may instead be given as `<NAME>_FILE`, the path of a file holding its
 * value (Docker secrets); setting both is an error.
 */
export function loadConfig<T extends TObject>(schema: T, source: NodeJS.ProcessEnv = process.env): Static<T> {
  const raw: Record<string, unknown> = {};
  const problems: { variable: string; message: string }[] = [];
  for (const name of Object.keys(schema.properties)) {
    const value = source[name];
    const file = source[`${name}_FILE`];
    if (value !== undefined && value !== '') {
      if (file !== undefined && file !== '') {
        problems.push({ variable: `${name}_FILE`, message: `must not be set together with ${name}` });
      }
      raw[name] = value;
    } else if (file !== undefined && file !== '') {
      const read = readVariableFile(file);
      if ('problem' in read) problems.push({ variable: `${name}_FILE`, message: read.problem });
      else if (read.value !== '') raw[name] = read.value;
    }
  }
  const withDefaults = Value.Default(schema, raw);
  const converted = Value.Convert(schema, withDefaults) as Record<string, unknown>;
  for (const error of Value.Errors(schema, converted)) {
    const variable = error.path.replace(/^\//, '').split('/')[0] ?? '';
    if (problems.some((p) => p.variable === variable || p.variable === `${variable}_FILE`)) continue;
    const propertySchema = schema.properties[variable] ?? error.schema;
    problems.push({
      variable,
      message: `${error.message} (${describeValue(converted[variable], propertySchema)})`,
    });
  }
  for (const [name, propertySchema] of Object.entries(schema.properties)) {
    const protocols = (propertySchema as { protocols?: readonly string[] }).protocols;
    const value = converted[name];
    if (protocols && typeof value === 'string' && URL.canParse(value)) {
      const protocol = new URL(value).protocol.replace(/:$/, '');
      if (!protocols.includes(protocol)) {
        problems.push({
          variable: name,
          message: `must use one of ${protocols.join(', ')}: (got ${protocol}:)`,
        });
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return converted;
}

/**
 * `<NAME>_FILE` holds the path of a file whose content is the value (Docker secrets are mounted as
 * files under /run/secrets). One trailing line break is dropped, as `echo … > file` adds one.
 */
function readVariableFile(path: string): { value: string } | { problem: string } {
  try {
    return { value: readFileSync(path, 'utf8').replace(/\r?\n$/, '') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: `cannot read ${JSON.stringify(path)} (${code})` };
  }
}

/** What every Veche process reads: its mode and its logging. */
export const runtimeEnv = {
  NODE_ENV: env.oneOf(['development', 'test', 'production'] as const, {
    default: 'development',
    description: 'production makes the variables marked "required in production" mandatory',
  }),
  LOG_LEVEL: env.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
    default: 'info',
    description: 'least severe log level written',
  }),
  LOG_PRETTY: env.bool({ default: false, description: 'human-readable logs instead of JSON lines' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: env.optional(
    env.url({
      protocols: ['http', 'https'],
      description:
        'an OTLP/HTTP receiver (the OpenTelemetry collector); traces go to <it>/v1/traces. Unset: no traces',
    }),
  ),
  OTEL_TRACES_SAMPLER: env.oneOf(
    [
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ] as const,
    {
      default: 'parentbased_always_on',
      description:
        "which traces are kept (OpenTelemetry's names); parentbased_*: a span with a parent follows the parent's decision",
    },
  ),
  OTEL_TRACES_SAMPLER_ARG: env.optional(
    env.number({
      minimum: 0,
      maximum: 1,
      description:
        'the share of traces kept by the *traceidratio samplers, 0 to 1 (decided on the trace id, which is the correlation id). Unset: 1',
    }),
  ),
};

/** A service's own HTTP port: /health, /ready, and whatever else the service serves. */
export const httpEnv = (defaultPort: number) => ({
  HOST: env.string({ default: '127.0.0.1', description: 'address the HTTP server listens on' }),
  PORT: env.port({
    default: defaultPort,
    description: "HTTP port (/health, /ready and the service's routes)",
  }),
});

export const databaseEnv = {
  DATABASE_URL: env.url({
    default: 'postgres://postgres@127.0.0.1:5432/veche',
    protocols: ['postgres', 'postgresql'],
    description: 'PostgreSQL; the service keeps its tables in a schema of its own',
  }),
};

export const amqpEnv = {
  AMQP_URL: env.url({
    default: 'amqp://guest:guest@127.0.0.1:5672',
    protocols: ['amqp', 'amqps'],
    description: 'RabbitMQ (integration events, bot commands)',
  }),
};

/** The WAMP router every service joins as `service:<name>` (Crossbar's services transport in production). */
export const wampEnv = {
  WAMP_URL: env.url({
    default: 'ws://127.0.0.1:8081/',
    protocols: ['ws', 'wss'],
    description: 'the WAMP router (procedures, realtime publications)',
  }),
  WAMP_REALM: env.string({ default: 'veche', description: 'the WAMP realm' }),
  VECHE_SERVICE_SECRET: env.secret({
    minLength: 16,
    description: 'WAMP ticket of every service (authid service:<name>) and key of signed internal headers',
  }),
};

/** The variables of a service with a database and the bus: runtime, PostgreSQL, RabbitMQ. */
export const commonEnv = { ...runtimeEnv, ...databaseEnv, ...amqpEnv };
