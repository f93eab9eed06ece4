import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../src/i18n/en.ts';
import { ru } from '../src/i18n/ru.ts';
import { pickerOrder, readPresenceEvent, statusFaces, statusRank } from '../src/presence/statuses.ts';

describe('presence statuses in the client', () => {
  it('gives each of the eight seed statuses its own label (en and ru), tone, and a place in the picker', () => {
    const codes = [1, 2, 3, 4, 5, 6, 7, 8] as const;
    assert.deepEqual([...pickerOrder].sort(), [...codes]);
    for (const code of codes) {
      const face = statusFaces[code];
      assert.equal(face.code, code);
      assert.ok(en[face.label] && ru[face.label], `status ${code} is named in both languages`);
    }
    assert.equal(new Set(codes.map((c) => en[statusFaces[c].label])).size, 8);
    assert.equal(new Set(codes.map((c) => ru[statusFaces[c].label])).size, 8);
    assert.equal(new Set(codes.map((c) => statusFaces[c].tone)).size, 8);
  });

  it('sorts reachable people first and offline or unknown ones last', () => {
    const order = ([3, 8, 6, 2, 1, undefined] as const).slice().sort((a, b) => statusRank(a) - statusRank(b));
    assert.deepEqual(order, [1, 2, 6, 8, 3, undefined]);
  });

  it('keeps only well-formed status publications', () => {
    assert.deepEqual(readPresenceEvent({ type: 'status', userId: 'u1', extension: null, status: 5 }), {
      userId: 'u1',
      status: 5,
    });
    for (const bad of [
      { type: 'status', userId: 'u1', status: 9 },
      { type: 'status', userId: 'u1', status: '1' },
      { type: 'status', userId: '', status: 1 },
      { type: 'other', userId: 'u1', status: 1 },
      { type: 'status', status: 1 },
    ]) {
      assert.equal(readPresenceEvent(bad), undefined, JSON.stringify(bad));
    }
  });
});
