/**
 * The generators themselves: for every route schema in @veche/contracts, what `validArbitrary`
 * yields passes the schema and what `invalidArbitrary` yields fails it; request cases carry the
 * validity the gateway will see.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Type } from '@sinclair/typebox';
import { ChatId, Text } from '@veche/contracts';
import {
  apiCaseArbitrary,
  apiRoutes,
  canBeInvalid,
  checkerOf,
  FuzzTally,
  invalidArbitrary,
  judgeAnswer,
  validArbitrary,
} from '../src/index.ts';

const schemas = apiRoutes().flatMap((route) =>
  [route.params, route.querystring, route.kind === 'rpc' ? route.body : undefined].flatMap((schema) =>
    schema ? [{ name: `${route.method} ${route.url}`, schema }] : [],
  ),
);

describe('schema arbitraries', () => {
  it('finds the routes of every contracts module', () => {
    const urls = apiRoutes().map((route) => `${route.method} ${route.url}`);
    for (const expected of ['POST /auth/register', 'POST /rooms/:roomId/messages', 'PUT /presence/status'])
      assert.ok(urls.includes(expected), expected);
  });

  it('generates values every route schema accepts', () => {
    for (const { name, schema } of schemas) {
      const check = checkerOf(schema);
      for (const value of fc.sample(validArbitrary(schema), { numRuns: 30, seed: 1 }))
        assert.ok(check(value), `${name}: ${JSON.stringify(value)}`);
    }
  });

  it('generates values every route schema refuses', () => {
    for (const { name, schema } of schemas.filter((s) => canBeInvalid(s.schema))) {
      const check = checkerOf(schema);
      for (const value of fc.sample(invalidArbitrary(schema), { numRuns: 30, seed: 2 }))
        assert.ok(!check(value), `${name}: ${JSON.stringify(value)}`);
    }
  });

  it('keeps NUL and lone surrogates out of valid text, and puts them into invalid text', () => {
    const text = Text({ minLength: 1, maxLength: 50 });
    const valid = fc.sample(validArbitrary(text), { numRuns: 500, seed: 3 });
    assert.ok(valid.every((s) => typeof s === 'string' && !s.includes('\u0000')));
    assert.ok(
      valid.some((s) => s === "' OR '1'='1"),
      'hostile strings are among the valid ones',
    );
    const invalid = fc.sample(invalidArbitrary(text), { numRuns: 500, seed: 4 });
    assert.ok(invalid.some((s) => typeof s === 'string' && s.includes('\u0000')));
  });

  it('breaks objects by a missing key, an unknown key and a bad field', () => {
    const schema = Type.Object(
      { id: ChatId, n: Type.Integer({ minimum: 0 }) },
      { additionalProperties: false },
    );
    const invalid = fc.sample(invalidArbitrary(schema), { numRuns: 300, seed: 5 }) as Record<
      string,
      unknown
    >[];
    assert.ok(invalid.some((v) => typeof v === 'object' && v !== null && !('id' in v)));
    assert.ok(
      invalid.some(
        (v) => typeof v === 'object' && v !== null && Object.keys(v).some((k) => k !== 'id' && k !== 'n'),
      ),
    );
    assert.ok(
      invalid.some((v) => typeof v === 'object' && v !== null && typeof v['n'] === 'number' && v['n'] < 0),
    );
  });

  it('builds request cases and judges answers by the contract', () => {
    const routes = apiRoutes();
    const cases = fc.sample(apiCaseArbitrary(routes, { roomId: ['r1'] }), { numRuns: 300, seed: 6 });
    assert.ok(cases.some((c) => c.valid) && cases.some((c) => !c.valid));
    assert.ok(cases.every((c) => c.url.startsWith('/api/')));
    // A route answering 200 on success: a 200 to an invalid request is then judged for what it is.
    const invalid = cases.find(
      (c) =>
        !c.valid && c.credentials === 'user' && c.route.kind === 'rpc' && (c.route.status ?? 200) === 200,
    )!;
    assert.match(
      judgeAnswer(invalid, { status: 200, contentType: 'application/json', text: '{}' }) ?? '',
      /invalid request/,
    );
    assert.match(
      judgeAnswer(invalid, { status: 500, contentType: 'application/json', text: '{}' }) ?? '',
      /status 500/,
    );
    const refusal = { error: { code: 'validation', message: 'bad' } };
    assert.equal(
      judgeAnswer(invalid, { status: 400, contentType: 'application/json', text: JSON.stringify(refusal) }),
      undefined,
    );
    assert.match(
      judgeAnswer(invalid, { status: 404, contentType: 'application/json', text: JSON.stringify(refusal) }) ??
        '',
      /code validation with status 404/,
    );
  });

  it('tallies cases', () => {
    const tally = new FuzzTally('edge');
    tally.count('400');
    tally.count('400');
    tally.count('201');
    assert.equal(tally.line(), '[fuzz] edge: 3 cases tried (400: 2, 201: 1)');
  });
});
