/**
 * fast-check arbitraries from the contracts' TypeBox schemas (which are JSON Schema): values the
 * schema accepts, and values it refuses (one field of a valid value broken in one way: wrong type,
 * out of range, too long, pattern broken, required key dropped, unknown key added). Every value is
 * checked against the compiled schema, so "valid" and "invalid" are the schema's word, not ours.
 */
import fc from 'fast-check';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import '@veche/contracts'; // registers the contracts' string formats for TypeCompiler

interface Shape {
  type?: string;
  const?: unknown;
  anyOf?: Shape[];
  properties?: Record<string, Shape>;
  required?: string[];
  additionalProperties?: boolean | Shape;
  items?: Shape;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

/**
 * Text people type and attackers send: SQL injection, path traversal, markup, control and
 * bidirectional characters, astral code points. Those a schema accepts are mixed into its valid
 * strings; the others (NUL, lone surrogates) into its invalid ones.
 */
export const hostileStrings: readonly string[] = [
  "' OR '1'='1",
  "'; DROP TABLE events; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '/dev/zero',
  '<script>alert(1)</script>',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '\u202egnp.exe',
  '\r\nSet-Cookie: x=y',
  '🙂👍🏽👨‍👩‍👧',
  'Zalgo: Z͑ͫ̓ͪ̂ͫ̽͏̴̙̤̞͉͚̯̞̠͍',
  '\u0000',
  '\ud800',
  'a\udc00b',
  '\uffff\ufffe',
  '__proto__',
  'constructor',
  ' ',
  '',
];

const checkers = new WeakMap<object, ReturnType<typeof TypeCompiler.Compile>>();

/** The schema's compiled check (cached). */
export function checkerOf(schema: TSchema): (value: unknown) => boolean {
  let checker = checkers.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    checkers.set(schema, checker);
  }
  const compiled = checker;
  return (value) => compiled.Check(value);
}

const isOptional = (schema: Shape): boolean =>
  Object.getOwnPropertySymbols(schema).some(
    (symbol) =>
      symbol.description === 'TypeBox.Optional' && (schema as Record<symbol, unknown>)[symbol] === 'Optional',
  );

/** Generated strings stay short unless the boundary itself is the point. */
const softMax = (min: number, max: number | undefined): number => Math.min(max ?? 200, min + 200);

/** The printable ASCII characters a one-character pattern like `^[A-Za-z0-9_-]+$` allows, or undefined. */
function characterClassOf(pattern: string): string[] | undefined {
  const match = /^\^(\[[^\]]+\])(\+|\*|\{\d+(?:,\d*)?\})\$$/.exec(pattern);
  if (!match) return undefined;
  const single = new RegExp(`^${match[1]}$`);
  const chars: string[] = [];
  for (let code = 0x20; code < 0x7f; code += 1) {
    const char = String.fromCharCode(code);
    if (single.test(char)) chars.push(char);
  }
  return chars.length > 0 ? chars : undefined;
}

function validString(shape: Shape): fc.Arbitrary<string> {
  const min = shape.minLength ?? 0;
  const max = shape.maxLength;
  const fits = (s: string) => s.length >= min && (max === undefined || s.length <= max);
  if (shape.format === 'date-time') {
    return fc
      .date({
        min: new Date('1970-01-01T00:00:00Z'),
        max: new Date('2999-12-31T23:59:59Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());
  }
  if (shape.pattern !== undefined) {
    const regex = new RegExp(shape.pattern);
    const chars = characterClassOf(shape.pattern);
    if (chars) {
      const unit = fc.constantFrom(...chars);
      const body = fc.string({ unit, minLength: Math.max(min, 1), maxLength: softMax(min, max) });
      const edge = max === undefined ? [] : [fc.string({ unit, minLength: max, maxLength: max })];
      return fc.oneof({ arbitrary: body, weight: 9 }, ...edge.map((arbitrary) => ({ arbitrary, weight: 1 })));
    }
    if (!/\(\?[=!<]/.test(shape.pattern)) {
      return fc.stringMatching(regex).filter(fits);
    }
    // Patterns with look-arounds (Text): any Unicode text, hostile strings among it, that passes.
    const text = fc.oneof(
      { arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: softMax(min, max) }), weight: 6 },
      { arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: softMax(min, max) }), weight: 2 },
      { arbitrary: fc.constantFrom(...hostileStrings).map((s) => s.padEnd(min, 'x')), weight: 2 },
    );
    return text.filter((s) => fits(s) && regex.test(s));
  }
  return fc
    .oneof(
      fc.string({ unit: 'grapheme', minLength: min, maxLength: softMax(min, max) }),
      fc.constantFrom(...hostileStrings),
    )
    .filter(fits);
}

function validOf(shape: Shape): fc.Arbitrary<unknown> {
  if ('const' in shape) return fc.constant(shape.const);
  if (shape.anyOf) return fc.oneof(...shape.anyOf.map(validOf));
  switch (shape.type ?? 'any') {
    case 'string':
      return validString(shape);
    case 'integer': {
      const min = shape.minimum ?? (shape.exclusiveMinimum ?? -(2 ** 31)) + 1;
      const max = shape.maximum ?? (shape.exclusiveMaximum ?? 2 ** 31) - 1;
      return fc.integer({
        min: Math.max(min, Number.MIN_SAFE_INTEGER),
        max: Math.min(max, Number.MAX_SAFE_INTEGER),
      });
    }
    case 'number':
      return fc.double({
        min: shape.minimum ?? -1e9,
        max: shape.maximum ?? 1e9,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const item = shape.items ? validOf(shape.items) : fc.jsonValue({ maxDepth: 1 });
      const bounds = {
        minLength: shape.minItems ?? 0,
        maxLength: Math.min(shape.maxItems ?? 8, (shape.minItems ?? 0) + 8),
      };
      return shape.uniqueItems
        ? fc.uniqueArray(item, { ...bounds, selector: (v) => JSON.stringify(v) })
        : fc.array(item, bounds);
    }
    case 'object': {
      const properties = shape.properties ?? {};
      const required = new Set(shape.required ?? []);
      const record = fc.record(
        Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, validOf(value)])),
        { requiredKeys: Object.keys(properties).filter((key) => required.has(key)) },
      );
      return record;
    }
    default:
      // Unknown / Any: whatever JSON.
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** Any JSON value whose type differs from every type the schema allows. */
function wrongType(shape: Shape): fc.Arbitrary<unknown> {
  const kinds: Record<string, fc.Arbitrary<unknown>> = {
    string: fc.string({ maxLength: 20 }),
    number: fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)),
    integer: fc.integer(),
    boolean: fc.boolean(),
    null: fc.constant(null),
    array: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    object: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  };
  const allowed = new Set(
    (shape.anyOf ?? [shape]).map((s) => ('const' in s ? typeof s.const : s.type)).filter(Boolean),
  );
  const others = Object.entries(kinds)
    .filter(([kind]) => !allowed.has(kind) && !(kind === 'integer' && allowed.has('number')))
    .map(([, arbitrary]) => arbitrary);
  return others.length > 0 ? fc.oneof(...others) : fc.constant(undefined);
}

function invalidString(shape: Shape): fc.Arbitrary<unknown>[] {
  const options: fc.Arbitrary<unknown>[] = [fc.constantFrom(...hostileStrings)];
  if (shape.maxLength !== undefined)
    options.push(
      fc.integer({ min: shape.maxLength + 1, max: shape.maxLength + 64 }).map((n) => 'x'.repeat(n)),
    );
  if ((shape.minLength ?? 0) > 0)
    options.push(fc.string({ maxLength: Math.max(0, (shape.minLength ?? 1) - 1) }));
  if (shape.pattern !== undefined || shape.format !== undefined)
    options.push(fc.string({ unit: 'binary', maxLength: 40 }));
  if ('const' in shape || shape.anyOf) options.push(fc.string({ maxLength: 12 }));
  return options;
}

function invalidOf(shape: Shape): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [wrongType(shape)];
  if (shape.anyOf) {
    options.push(
      ...shape.anyOf.flatMap((s) => (s.type === 'string' || 'const' in s ? invalidString(s) : [])),
    );
  }
  switch (shape.type ?? 'any') {
    case 'string':
      options.push(...invalidString(shape));
      break;
    case 'integer':
    case 'number': {
      const beyond: number[] = [];
      if (shape.minimum !== undefined) beyond.push(shape.minimum - 1);
      if (shape.maximum !== undefined) beyond.push(shape.maximum + 1);
      beyond.push(2 ** 53, -(2 ** 53), 1e308);
      options.push(fc.constantFrom(...beyond));
      if (shape.type === 'integer') options.push(fc.constantFrom(0.5, 1.5, -0.25));
      options.push(validOf(shape).map((n) => String(n)));
      break;
    }
    case 'array': {
      const item = shape.items;
      if (item) {
        options.push(
          fc.tuple(validOf(shape), invalidOf(item), fc.nat()).map(([items, bad, at]) => {
            const list = [...(items as unknown[])];
            list.splice(at % (list.length + 1), 0, bad);
            return list;
          }),
        );
      }
      if (shape.maxItems !== undefined) {
        const count = shape.maxItems + 1;
        options.push(
          (item ? validOf(item) : fc.nat()).map((one) => Array.from({ length: count }, () => one)),
        );
      }
      break;
    }
    case 'object': {
      const properties = Object.entries(shape.properties ?? {});
      const required = shape.required ?? [];
      const valid = validOf(shape) as fc.Arbitrary<Record<string, unknown>>;
      for (const [key, value] of properties) {
        options.push(valid.chain((object) => invalidOf(value).map((bad) => ({ ...object, [key]: bad }))));
      }
      if (required.length > 0)
        options.push(
          fc.tuple(valid, fc.constantFrom(...required)).map(([object, key]) => {
            const copy = { ...object };
            delete copy[key];
            return copy;
          }),
        );
      if (shape.additionalProperties === false)
        options.push(
          fc
            .tuple(valid, fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }))
            .filter(([, key]) => !(shape.properties ?? {})[key])
            .map(([object, key, extra]) => Object.assign({ ...object }, { [key]: extra })),
        );
      break;
    }
    default:
      break;
  }
  return fc.oneof(...options);
}

/** Values the schema accepts. */
export function validArbitrary(schema: TSchema): fc.Arbitrary<unknown> {
  const check = checkerOf(schema);
  return validOf(schema as Shape).filter(check);
}

/**
 * Values the schema refuses (undefined for an optional schema counts as valid, so never appears).
 * For a schema that accepts anything there are none: the arbitrary is then `fc.constant(undefined)`
 * filtered away, so use {@link canBeInvalid} first.
 */
export function invalidArbitrary(schema: TSchema): fc.Arbitrary<unknown> {
  const check = checkerOf(schema);
  return invalidOf(schema as Shape).filter((value) => value !== undefined && !check(value));
}

/** True when some JSON value fails the schema (false for Unknown/Any). */
export function canBeInvalid(schema: TSchema): boolean {
  const shape = schema as Shape;
  return shape.type !== undefined || shape.anyOf !== undefined || 'const' in shape;
}

/** True when the schema (a route's body) may be left out entirely. */
export const optionalSchema = (schema: TSchema): boolean => isOptional(schema as Shape);
