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

/** Builders for the variable kinds services use; each may carry a default and a description. */
export const env = {
  string: (options: { default?: string; description?: string; minLength?: number } = {}) =>
    Type.String({ minLength: 1, ...options }),
  secret: (options: { default?: string; description?: string; minLength?: number } = {}) =>
    Type.String({ minLength: 1, ...options, secret: true }),
  url: (options: { default?: string; description?: string; protocols?: readonly string[] } = {}) => {
    const { protocols, ...rest } = options;
    return Type.String({ format: 'url', ...rest, ...(protocols ? { protocols } : {}) });
  },
  port: (options: { default?: number; description?: string } = {}) =>
    Type.Integer({ minimum: 0, maximum: 65535, ...options }),
  int: (options: { default?: number; description?: string; minimum?: number; maximum?: number } = {}) =>
    Type.Integer(options),
  number: (options: { default?: number; description?: string; minimum?: number; maximum?: number } = {}) =>
    Type.Number(options),
  bool: (options: { default?: boolean; description?: string } = {}) => Type.Boolean(options),
  oneOf: <const T extends readonly string[]>(
    values: T,
    options: { default?: T[number]; description?: string } = {},
  ) =>
    Type.Union(
      values.map((v) => Type.Literal(v)),
      options,
    ) as unknown as TSchema & { static: T[number] },
  optional: <T extends TSchema>(schema: T) => Type.Optional(schema),
};

export const envSchema = <T extends Record<string, TSchema>>(properties: T) => Type.Object(properties);

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

/** The common variables every Veche service reads. */
export const commonEnv = {
  NODE_ENV: env.oneOf(['development', 'test', 'production'] as const, { default: 'development' }),
  LOG_LEVEL: env.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, {
    default: 'info',
  }),
  LOG_PRETTY: env.bool({ default: false, description: 'human-readable logs instead of JSON lines' }),
  DATABASE_URL: env.url({
    default: 'postgres://postgres@127.0.0.1:5432/veche',
    protocols: ['postgres', 'postgresql'],
  }),
  AMQP_URL: env.url({ default: 'amqp://guest:guest@127.0.0.1:5672', protocols: ['amqp', 'amqps'] }),
};
