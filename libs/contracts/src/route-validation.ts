/**
 * How a route's schemas validate an HTTP request. Query strings and path parameters arrive as text; a
 * field the schema declares as an integer, a number or a boolean is converted only from its canonical
 * spelling (`12`, `-3`, `0.5`, `true`), never by JavaScript's loose rules (`1.5` → 1, `0x10` → 16,
 * `1e400` → Infinity → 1, ` 10` → 10, which TypeBox's `Value.Convert` and ajv's coercion accept).
 * Anything else is left as text, so the check fails and the caller gets a 400 naming the field.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const integerText = /^-?(?:0|[1-9][0-9]*)$/;
const numberText = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

interface SchemaShape {
  type?: unknown;
  const?: unknown;
  anyOf?: SchemaShape[];
  properties?: Record<string, SchemaShape>;
  items?: SchemaShape;
}

function convertScalar(schema: SchemaShape | undefined, value: unknown): unknown {
  if (typeof value !== 'string' || !schema) return value;
  switch (schema.type) {
    case 'integer': {
      if (!integerText.test(value)) return value;
      const number = Number(value);
      return Number.isSafeInteger(number) ? number : value;
    }
    case 'number':
      return numberText.test(value) && value.length <= 32 ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    default: {
      // A union of number literals (a presence status code): from its integer spelling too.
      const literals = schema.anyOf;
      if (!literals?.length || !literals.every((member) => typeof member.const === 'number')) return value;
      if (!integerText.test(value)) return value;
      const number = Number(value);
      return Number.isSafeInteger(number) ? number : value;
    }
  }
}

function convertField(schema: SchemaShape | undefined, value: unknown): unknown {
  if (schema?.type === 'array') {
    // A repeated query key arrives as an array, a single one as text: both mean a list.
    const items = Array.isArray(value) ? (value as unknown[]) : [value];
    return items.map((item) => convertScalar(schema.items, item));
  }
  return convertScalar(schema, value);
}

/** A querystring's or path's parsed values, with the fields the schema types converted strictly. */
export function convertParameterValues(schema: TSchema, value: unknown): unknown {
  const shape = schema as SchemaShape;
  if (shape.type !== 'object' || !shape.properties) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const properties = shape.properties;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => [
      key,
      Object.hasOwn(properties, key) ? convertField(properties[key], field) : field,
    ]),
  );
}

/** A validation failure as fastify reports it (its error handler maps these to our `validation`). */
export interface RouteValidationProblem {
  message: string;
  instancePath: string;
  /** TypeBox names no JSON Schema keyword; fastify's type wants these three. */
  keyword: string;
  schemaPath: string;
  params: Record<string, unknown>;
}

/**
 * A fastify validator compiler for the route schemas: compiled TypeBox checks, bodies as sent (JSON
 * has its own types), querystrings and path parameters converted by {@link convertParameterValues}.
 */
export function compileRouteValidator({ schema, httpPart }: { schema: TSchema; httpPart?: string }) {
  const check = TypeCompiler.Compile(schema);
  return (value: unknown): { value: unknown } | { error: RouteValidationProblem[] } => {
    const converted = httpPart === 'body' ? value : convertParameterValues(schema, value);
    if (check.Check(converted)) return { value: converted };
    return {
      error: [...check.Errors(converted)].map((error) => ({
        message: error.message,
        instancePath: error.path,
        keyword: 'schema',
        schemaPath: error.path,
        params: {},
      })),
    };
  };
}
