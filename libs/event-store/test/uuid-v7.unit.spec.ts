import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidV7 } from '../src/uuid-v7.ts';

const shape = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV7', () => {
  it('has version 7, the RFC 9562 variant, and the time in its first 48 bits', () => {
    const before = Date.now();
    const id = uuidV7();
    const after = Date.now();
    assert.match(id, shape);
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    assert.ok(ms >= before && ms <= after + 1, `${ms} within [${before}, ${after}]`);
  });

  it('increases within one millisecond and across 10,000 ids in one (the counter borrows the next ms)', () => {
    const at = Date.now() + 60_000;
    const ids = Array.from({ length: 10_000 }, () => uuidV7(at));
    for (let i = 1; i < ids.length; i += 1) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
    assert.equal(new Set(ids).size, ids.length);
    ids.forEach((id) => assert.match(id, shape));
  });

  it('never goes backwards when the clock does', () => {
    const first = uuidV7(Date.now() + 120_000);
    const second = uuidV7(Date.now());
    assert.ok(first < second);
  });
});
