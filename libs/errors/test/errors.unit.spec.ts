import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  VecheError,
  asVecheError,
  errorBody,
  errorCodes,
  fromWampError,
  httpStatusOf,
  toWampError,
  validationError,
} from '../src/index.ts';

describe('errors', () => {
  it('maps every code to a distinct HTTP status in the 4xx/5xx range', () => {
    const statuses = errorCodes.map(httpStatusOf);
    assert.equal(new Set(statuses).size, errorCodes.length);
    for (const status of statuses) assert.ok(status >= 400 && status < 600);
    assert.equal(httpStatusOf('validation'), 400);
    assert.equal(httpStatusOf('rate_limited'), 429);
    assert.equal(httpStatusOf('unavailable'), 503);
  });

  it('hides the message, details and cause of internal errors', () => {
    const error = asVecheError(new Error('duplicate key value violates unique constraint "secret"'));
    assert.equal(error.code, 'internal');
    assert.deepEqual(errorBody(error), { error: { code: 'internal', message: 'Internal error' } });
    assert.ok(error.cause instanceof Error);
  });

  it('keeps the message and details of client errors', () => {
    const error = validationError('bad body', { details: [{ path: '/name' }] });
    assert.deepEqual(errorBody(error), {
      error: { code: 'validation', message: 'bad body', details: [{ path: '/name' }] },
    });
  });

  it('round-trips every code through WAMP', () => {
    for (const code of errorCodes) {
      if (code === 'internal') continue;
      const original = new VecheError(code, `m-${code}`, { details: { code }, retryAfterSeconds: 7 });
      const { uri, kwargs } = toWampError(original);
      assert.equal(uri, `veche.error.${code}`);
      const back = fromWampError(uri, kwargs);
      assert.equal(back.code, code);
      assert.equal(back.message, `m-${code}`);
      assert.deepEqual(back.details, { code });
      assert.equal(back.retryAfterSeconds, 7);
    }
  });

  it('turns router errors into unavailable and forbidden', () => {
    assert.equal(fromWampError('wamp.error.no_such_procedure', {}).code, 'unavailable');
    assert.equal(fromWampError('wamp.error.not_authorized', {}).code, 'forbidden');
    assert.equal(fromWampError('com.example.whatever', { message: 'x' }).code, 'internal');
  });
});
