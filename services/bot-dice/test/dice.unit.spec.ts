import assert from 'node:assert/strict';
import { it } from 'node:test';
import { derivedId } from '../src/api/commands.ts';
import { describe as describeRoll, parseDice, roll } from '../src/domain/dice.ts';

it('parses dice notation and refuses the rest', () => {
  assert.deepEqual(parseDice('2d6+1'), { ok: true, count: 2, sides: 6, modifier: 1 });
  assert.deepEqual(parseDice(''), { ok: true, count: 1, sides: 6, modifier: 0 });
  assert.deepEqual(parseDice('d20 - 3'), { ok: true, count: 1, sides: 20, modifier: -3 });
  for (const bad of ['99d6', '0d6', '2d1', '2d99999', 'hello', '2d6+', '1d6; drop table', '\u0000']) {
    assert.equal(parseDice(bad).ok, false, bad);
  }
});

it('rolls within bounds and describes the result', () => {
  const result = roll('3d6+2', () => 0.999);
  assert.ok(!('error' in result));
  assert.deepEqual(result.rolls, [6, 6, 6]);
  assert.equal(result.total, 20);
  assert.equal(describeRoll(result, 'Ann'), '🎲 Ann rolled 3d6 + 2: [6, 6, 6] + 2 = 20');
  assert.match(describeRoll(roll('nonsense'), 'Ann'), /^Usage/);
});

it('derives the same reply id from the same command', () => {
  assert.equal(derivedId('reply:1'), derivedId('reply:1'));
  assert.notEqual(derivedId('reply:1'), derivedId('reply:2'));
  assert.match(derivedId('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
});
