/**
 * Text typed by people (names, topics, messages, search queries, filters): one schema for every such
 * field of every route, event and bot message. It refuses what no layer behind it can store or encode:
 * NUL (PostgreSQL refuses it in `text` and `jsonb`) and lone UTF-16 surrogates (not Unicode at all:
 * `jsonb` refuses their escapes, encoders replace them). Identifiers keep their own, stricter patterns.
 */
import { Type, type StringOptions, type TString } from '@sinclair/typebox';

/**
 * A look-ahead that fails on NUL or on a surrogate without its partner. It reads the same whether the
 * validator compiles patterns with the `u` flag (ajv: a pair is one code point, so only lone halves
 * match the ranges) or without it (TypeBox: code units, hence the look-around for the partner).
 */
const wellFormed =
  '(?![\\s\\S]*(?:\\u0000|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]))';

export interface TextOptions extends Omit<StringOptions, 'pattern' | 'format'> {
  /** At least one character that is not white space (names, messages, queries). */
  nonBlank?: boolean;
  /** No white space at all (an emoji, a token). */
  noSpace?: boolean;
}

/** The pattern of {@link Text}: exported for checks outside a schema (a test, a bot's own parsing). */
export function textPattern(options: Pick<TextOptions, 'nonBlank' | 'noSpace'> = {}): string {
  const shape = options.noSpace ? '\\S*$' : options.nonBlank ? '[\\s\\S]*\\S' : '';
  return `^${wellFormed}${shape}`;
}

/** A string of human text: well-formed Unicode without NUL, within the given bounds. */
export function Text(options: TextOptions = {}): TString {
  const { nonBlank, noSpace, ...rest } = options;
  const shape = [nonBlank ? 'not blank' : '', noSpace ? 'no white space' : ''].filter(Boolean);
  return Type.String({
    description: ['Text: valid Unicode, no NUL', ...shape].join('; '),
    ...rest,
    pattern: textPattern({ ...(nonBlank ? { nonBlank } : {}), ...(noSpace ? { noSpace } : {}) }),
  });
}

/** True when `value` is text {@link Text} accepts (whatever its bounds). */
export const isWellFormedText = (value: string): boolean => new RegExp(textPattern()).test(value);
