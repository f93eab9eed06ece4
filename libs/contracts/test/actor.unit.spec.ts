import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { signActor, verifyActor } from '../src/index.ts';

describe('actor assertion', () => {
  const secret = 'test-secret';
  it('round-trips a user', () => {
    const header = signActor({ userId: 'u1', role: 'user' }, secret);
    assert.deepEqual(verifyActor(header, secret), { userId: 'u1', role: 'user' });
  });
  it('refuses another secret, a changed payload, expiry and junk', () => {
    const header = signActor({ userId: 'u1', role: 'user' }, secret, 60, 1_000_000);
    assert.equal(verifyActor(header, 'other', 1_000_000), undefined);
    const [, signature] = header.split('.');
    const forged = `${Buffer.from(JSON.stringify({ userId: 'u2', role: 'admin', exp: 9e9 })).toString('base64url')}.${signature}`;
    assert.equal(verifyActor(forged, secret, 1_000_000), undefined);
    assert.equal(verifyActor(header, secret, 1_000_000 + 61_000), undefined);
    for (const junk of [undefined, '', '.', 'a.b.c', 'x'.repeat(2000), 42]) {
      assert.equal(verifyActor(junk, secret), undefined);
    }
  });
});
