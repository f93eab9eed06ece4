/** The contracts' formats are known to TypeBox's Value.Check, which services use on WAMP payloads. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import '../src/index.ts';

it('date-time accepts ISO 8601 instants and refuses anything else', () => {
  const schema = Type.String({ format: 'date-time' });
  for (const good of [new Date().toISOString(), '2026-12-02T01:27:12Z', '2026-12-02T04:27:12.5+03:00'])
    assert.equal(Value.Check(schema, good), true, good);
  for (const bad of ['2026-12-02', 'yesterday', '2026-13-45T99:99:99Z', '2026-12-02T01:27:12'])
    assert.equal(Value.Check(schema, bad), false, bad);
});
