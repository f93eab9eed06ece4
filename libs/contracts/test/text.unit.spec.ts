import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Text, compileRouteValidator, convertParameterValues, textPattern } from '../src/index.ts';

describe('Text', () => {
  const plain = Text({ maxLength: 50 });
  const cases: [string, string, boolean][] = [
    ['ascii', 'hello', true],
    ['empty', '', true],
    ['Cyrillic and an emoji (a surrogate pair)', 'вече 😀 ok', true],
    ['a pair at the very end', 'x\uD83D\uDE00', true],
    ['new lines and tabs', 'a\nb\tc', true],
    ['NUL', 'a\u0000b', false],
    ['NUL alone', '\u0000', false],
    ['a lone high surrogate', 'a\uD800b', false],
    ['a lone high surrogate at the end', 'ab\uD83D', false],
    ['a lone low surrogate', 'a\uDC00b', false],
    ['a low before a high (reversed pair)', '\uDE00\uD83D', false],
  ];
  for (const [label, value, ok] of cases) {
    it(`${ok ? 'accepts' : 'refuses'} ${label}`, () => {
      assert.equal(Value.Check(plain, value), ok);
      assert.equal('value' in compileRouteValidator({ schema: plain, httpPart: 'body' })(value), ok);
      // The same pattern with the `u` flag (ajv compiles patterns that way): the same answer.
      assert.equal(new RegExp(textPattern(), 'u').test(value), ok);
    });
  }
  it('nonBlank needs a visible character, noSpace refuses any white space', () => {
    const name = Text({ minLength: 1, nonBlank: true });
    assert.equal(Value.Check(name, '   '), false);
    assert.equal(Value.Check(name, ' a '), true);
    assert.equal(Value.Check(name, ' \u0000a'), false);
    const emoji = Text({ minLength: 1, noSpace: true });
    assert.equal(Value.Check(emoji, '👍'), true);
    assert.equal(Value.Check(emoji, 'two words'), false);
    assert.equal(Value.Check(emoji, '\u0000'), false);
  });
  it('checks a 10,000-character text in linear time', () => {
    const long = Text({ maxLength: 100_000 });
    const started = performance.now();
    for (let i = 0; i < 100; i += 1) assert.equal(Value.Check(long, 'word '.repeat(10_000)), true);
    assert.ok(performance.now() - started < 5_000);
  });
});

describe('query and path values', () => {
  const query = Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
      ratio: Type.Optional(Type.Number()),
      on: Type.Optional(Type.Boolean()),
      q: Type.Optional(Type.String()),
      ids: Type.Optional(Type.Array(Type.Integer())),
    },
    { additionalProperties: false },
  );
  const validate = compileRouteValidator({ schema: query, httpPart: 'querystring' });
  const accepted: [Record<string, unknown>, Record<string, unknown>][] = [
    [{ limit: '10' }, { limit: 10 }],
    [{ limit: '500' }, { limit: 500 }],
    [{ ratio: '-0.5' }, { ratio: -0.5 }],
    [{ on: 'true' }, { on: true }],
    [{ q: '10' }, { q: '10' }],
    [{ ids: '3' }, { ids: [3] }],
    [{ ids: ['3', '4'] }, { ids: [3, 4] }],
  ];
  for (const [given, expected] of accepted) {
    it(`converts ${JSON.stringify(given)}`, () => {
      assert.deepEqual(validate(given), { value: expected });
    });
  }
  for (const limit of ['1.5', '1e400', '1e2', '0x10', ' 10', '010', '+5', '10abc', '', '9007199254740993']) {
    it(`refuses limit=${JSON.stringify(limit)}`, () => {
      const result = validate({ limit });
      assert.ok('error' in result, JSON.stringify(result));
      assert.equal(result.error[0]?.instancePath, '/limit');
    });
  }
  it('converts a union of number literals from its integer spelling only (status=1)', () => {
    const statusQuery = Type.Object({ status: Type.Union([Type.Literal(1), Type.Literal(2)]) });
    const check = compileRouteValidator({ schema: statusQuery, httpPart: 'querystring' });
    assert.deepEqual(check({ status: '2' }), { value: { status: 2 } });
    for (const bad of ['3', '01', '1.0', ' 1', 'x']) assert.ok('error' in check({ status: bad }), bad);
  });

  it('leaves values of fields the schema does not declare, and non-objects, alone', () => {
    assert.deepEqual(convertParameterValues(query, { other: '1' }), { other: '1' });
    assert.equal(convertParameterValues(query, 'x'), 'x');
    assert.equal(convertParameterValues(Type.String(), '1'), '1');
  });
});
