import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { wampShapeProblem } from '../src/index.ts';
import { sanitizedOptions, wampMessage } from '../src/wamp-messages.ts';

describe('WAMP message shapes', () => {
  const wellFormed: unknown[][] = [
    [1, 'veche', { authmethods: ['ticket'], authid: '1' }],
    [5, 'ticket', {}],
    [5, 'ticket'],
    [6, {}, 'wamp.close.normal'],
    [8, 68, 1, {}, 'veche.error.validation', [], { message: 'bad' }],
    [16, 1, {}, 'veche.user.1.rooms'],
    [16, 1, {}, 'veche.user.1.rooms', [1], { a: 1 }],
    [32, 1, {}, 'veche.user.1.rooms'],
    [34, 1, 2],
    [48, 1, {}, 'veche.chat.x', [], {}],
    [49, 1, {}],
    [64, 1, {}, 'veche.chat.x'],
    [66, 1, 2],
    [70, 1, {}, ['result']],
  ];
  for (const message of wellFormed) {
    it(`accepts ${JSON.stringify(message)}`, () => assert.equal(wampShapeProblem(message), undefined));
  }

  const malformed: unknown[] = [
    null,
    {},
    'x',
    [],
    [999],
    [2, 1, {}],
    [1, 42, {}],
    [1, 'veche'],
    [5],
    [8, 68, 1, {}, ''],
    [16, -1, {}, 'a'],
    [16, 1.5, {}, 'a'],
    [16, 1, null, 'a'],
    [16, 1, {}, 5],
    [16, 1, {}, 'a', 'args'],
    [16, 1, {}, 'a', [], []],
    [32, 1, [], 'a'],
    [32, 1, {}, 'x'.repeat(256)],
    [34, 1],
    [48, '1', {}, 'a'],
    [64, 1, {}, ''],
    [70, 1, null],
  ];
  for (const message of malformed) {
    it(`rejects ${JSON.stringify(message)}`, () => assert.equal(typeof wampShapeProblem(message), 'string'));
  }

  it('keeps only the options Crossbar also honours', () => {
    assert.deepEqual(
      sanitizedOptions(wampMessage.SUBSCRIBE, { match: 'prefix', filter: { a: 1 }, retained: true }),
      {},
    );
    assert.deepEqual(
      sanitizedOptions(wampMessage.PUBLISH, { acknowledge: true, exclude_me: false, retain: true, trace: 1 }),
      { acknowledge: true, exclude_me: false },
    );
    assert.deepEqual(sanitizedOptions(wampMessage.REGISTER, { concurrency: 4, reducer: true }), {
      concurrency: 4,
    });
    assert.deepEqual(sanitizedOptions(wampMessage.REGISTER, { concurrency: -1 }), {});
    assert.deepEqual(sanitizedOptions(wampMessage.CALL, { receive_progress: true, timeout: 5 }), {
      receive_progress: true,
    });
  });
});
