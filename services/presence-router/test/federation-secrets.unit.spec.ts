/** Link secrets sealed at rest (issue 20): sealing, opening, rotation, and what is refused. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadPresenceConfig } from '../src/env.ts';
import { createSecretBox, parseFederationKeys } from '../src/federation/secrets.ts';

const serviceSecret = 'a-service-secret-of-some-length';
const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

describe('link secrets at rest', () => {
  it('are sealed (never stored readable) and open for their own domain only', () => {
    const box = createSecretBox({ serviceSecret });
    const sealed = box.seal('b.test', 'the shared secret');
    assert.match(sealed, /^sealed:v1:svc:/);
    assert.ok(!sealed.includes('the shared secret'));
    assert.notEqual(box.seal('b.test', 'the shared secret'), sealed, 'a fresh IV each time');
    assert.equal(box.open('b.test', sealed), 'the shared secret');
    // Copied onto another domain's row, or tampered with: refused.
    assert.throws(() => box.open('c.test', sealed), /does not open/);
    const raw = Buffer.from(sealed.slice('sealed:v1:svc:'.length), 'base64url');
    raw[raw.length - 1]! ^= 1;
    const flipped = `sealed:v1:svc:${raw.toString('base64url')}`;
    assert.throws(() => box.open('b.test', flipped), /does not open/);
    // Another deployment's derived key does not open it either.
    assert.throws(
      () => createSecretBox({ serviceSecret: 'another-service-secret-entirely' }).open('b.test', sealed),
      /does not open/,
    );
  });

  it('rotate: the first key seals, every listed key (and the derived one) opens', () => {
    const first = key('k1');
    const second = key('k2');
    const before = createSecretBox({ serviceSecret });
    const old = createSecretBox({ keys: first, serviceSecret });
    const rotated = createSecretBox({ keys: `${second},${first}`, serviceSecret });
    const legacy = 'a secret stored before sealing';
    const underDerived = before.seal('b.test', 's1');
    const underFirst = old.seal('b.test', 's2');
    assert.equal(rotated.currentKeyId, 'k2');
    assert.equal(rotated.open('b.test', underDerived), 's1');
    assert.equal(rotated.open('b.test', underFirst), 's2');
    assert.equal(rotated.open('b.test', legacy), legacy);
    assert.ok(rotated.needsResealing(underFirst));
    assert.ok(rotated.needsResealing(underDerived));
    assert.ok(rotated.needsResealing(legacy));
    assert.ok(!rotated.needsResealing(rotated.seal('b.test', 's2')));
    // The old key dropped: what it sealed no longer opens (hence re-sealing at start before dropping).
    assert.throws(() => createSecretBox({ keys: second, serviceSecret }).open('b.test', underFirst), /k1/);
  });

  it('refuses malformed keys, naming the problem but never the key', () => {
    const secretKey = randomBytes(16).toString('base64');
    for (const [text, message] of [
      ['', /no key/],
      [`k1:${secretKey}`, /32 bytes/],
      [`:${randomBytes(32).toString('base64')}`, /<id>:<base64 key>/],
      [`${key('k1')},${key('k1')}`, /same id/],
    ] as const) {
      assert.throws(
        () => parseFederationKeys(text),
        (error: unknown) =>
          error instanceof Error && message.test(error.message) && !error.message.includes(secretKey),
        text,
      );
    }
    assert.throws(
      () =>
        loadPresenceConfig({
          VECHE_SERVICE_SECRET: serviceSecret,
          DATABASE_URL: 'postgres://x@127.0.0.1/x',
          FEDERATION_KEYS: `svc:${randomBytes(32).toString('base64')}`,
        }),
      /FEDERATION_KEYS/,
    );
  });
});
