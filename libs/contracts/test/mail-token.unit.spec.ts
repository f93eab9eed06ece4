import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openMailToken, sealMailToken } from '../src/mail-token.ts';

const secret = 'a-service-secret-of-some-length';

describe('sealed mail tokens', () => {
  it('open to the token with the same secret, purpose and account, and show nothing of it', () => {
    const token = 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde';
    const sealed = sealMailToken(secret, 'reset_password', 'user-1', token);
    assert.ok(!sealed.includes(token));
    assert.notEqual(sealMailToken(secret, 'reset_password', 'user-1', token), sealed, 'a fresh IV each time');
    assert.equal(openMailToken(secret, 'reset_password', 'user-1', sealed), token);
  });
  it('refuse another secret, purpose or account, and anything tampered with', () => {
    const sealed = sealMailToken(secret, 'verify_email', 'user-1', 'token-of-user-1');
    assert.equal(openMailToken('another-secret-of-some-length', 'verify_email', 'user-1', sealed), undefined);
    assert.equal(openMailToken(secret, 'reset_password', 'user-1', sealed), undefined);
    assert.equal(openMailToken(secret, 'verify_email', 'user-2', sealed), undefined);
    const [v, iv, body, tag] = sealed.split('.');
    const flipped = `${body?.[0] === 'A' ? 'B' : 'A'}${body?.slice(1) ?? ''}`;
    assert.equal(openMailToken(secret, 'verify_email', 'user-1', [v, iv, flipped, tag].join('.')), undefined);
    assert.equal(openMailToken(secret, 'verify_email', 'user-1', 'plain-token'), undefined);
    assert.equal(openMailToken(secret, 'verify_email', 'user-1', `${sealed}.x`), undefined);
  });
});
