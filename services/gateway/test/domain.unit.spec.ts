import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkTimeZone,
  normalizeDisplayName,
  normalizeEmail,
  profileEvents,
  type AccountState,
} from '../src/domain/account.ts';
import { hashPassword, needsRehash, parametersOf, verifyPassword } from '../src/domain/passwords.ts';
import { createAccessTokens, hashToken, newOpaqueToken } from '../src/domain/tokens.ts';

describe('passwords', () => {
  const cheap = { memory: 8192, passes: 1, parallelism: 1 };
  it('hashes with argon2id and records the parameters with the hash', async () => {
    const hash = await hashPassword('correct horse', cheap);
    assert.match(hash, /^\$argon2id\$v=19\$m=8192,t=1,p=1\$/);
    assert.deepEqual(parametersOf(hash), cheap);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horsE', hash), false);
    assert.notEqual(await hashPassword('correct horse', cheap), hash, 'salted');
  });
  it('asks for a re-hash when the configured cost went up, and refuses malformed hashes', async () => {
    const hash = await hashPassword('pw', cheap);
    assert.equal(needsRehash(hash, cheap), false);
    assert.equal(needsRehash(hash, { ...cheap, memory: 19456 }), true);
    assert.equal(await verifyPassword('pw', '$argon2i$v=19$m=8192,t=1,p=1$abc$def'), false);
    assert.equal(await verifyPassword('pw', 'plain'), false);
  });
});

describe('tokens', () => {
  it('signs and verifies access tokens; opaque tokens are random and hashed', async () => {
    const tokens = createAccessTokens('k'.repeat(40), 60);
    const { token, expiresIn } = await tokens.sign({ userId: 'u1', sessionId: 's1', role: 'admin' });
    assert.equal(expiresIn, 60);
    assert.deepEqual(await tokens.verify(token), { userId: 'u1', sessionId: 's1', role: 'admin' });
    await assert.rejects(createAccessTokens('x'.repeat(40), 60).verify(token), { code: 'unauthorized' });
    assert.notEqual(newOpaqueToken(), newOpaqueToken());
    assert.match(newOpaqueToken(), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(hashToken('a'), hashToken('a'));
  });
});

describe('account rules', () => {
  it('normalises names to NFC and trims them; refuses invisible and direction-changing characters', () => {
    assert.equal(normalizeDisplayName('  Zoe\u0301 '), 'Zoé');
    assert.equal(normalizeDisplayName('Анна 🎉'), 'Анна 🎉');
    for (const bad of [
      '',
      '   ',
      '\u200B',
      'a\u202Eb',
      'a\u0007b',
      'a\u2066b',
      'a\uFEFFb',
      'a\u2028b',
      'a\uD800b',
      'x'.repeat(65),
    ]) {
      assert.throws(() => normalizeDisplayName(bad), { code: 'validation' }, JSON.stringify(bad));
    }
  });
  it('lower-cases the domain only, and knows IANA zones', () => {
    assert.equal(normalizeEmail('John.Doe@Example.ORG'), 'John.Doe@example.org');
    assert.equal(checkTimeZone('Europe/Moscow'), 'Europe/Moscow');
    assert.throws(() => checkTimeZone('Moon/Base'), { code: 'validation' });
  });
  it('publishes account.profile_updated only for what the mailer reads; the rest is internal', () => {
    const account: AccountState = {
      userId: 'u1',
      email: 'a@example.org',
      emailVerified: true,
      passwordHash: null,
      displayName: 'A',
      locale: 'en',
      timeZone: 'UTC',
      extension: null,
      role: 'user',
      status: 'active',
      version: 3,
    };
    assert.deepEqual(profileEvents(account, { displayName: 'B', extension: '42' }), [
      { type: 'account.profile_updated', data: { userId: 'u1', displayName: 'B' } },
      { type: 'account.directory_updated', data: { extension: '42' } },
    ]);
    assert.deepEqual(profileEvents(account, { displayName: 'A', locale: 'en' }), []);
  });
});

describe('dependency failures', () => {
  it('tells a database that is down or restarting from a bug', async () => {
    const { isDependencyDown } = await import('../src/http.ts');
    for (const code of ['ECONNREFUSED', '57P01', '08006', '53300'])
      assert.equal(isDependencyDown(Object.assign(new Error('x'), { code })), true, code);
    assert.equal(isDependencyDown(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDependencyDown(Object.assign(new Error('dup'), { code: '23505' })), false);
    assert.equal(isDependencyDown(new TypeError('undefined is not a function')), false);
  });
});

describe('access token cache', () => {
  it('remembers a verified token only until it expires', async () => {
    const tokens = createAccessTokens('k'.repeat(40), 1);
    const { token } = await tokens.sign({ userId: 'u1', sessionId: 's1', role: 'user' });
    assert.equal((await tokens.verify(token)).userId, 'u1');
    assert.equal((await tokens.verify(token)).userId, 'u1');
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await assert.rejects(tokens.verify(token), { code: 'unauthorized' });
    // A tampered copy of a remembered token is not the remembered token.
    const fresh = await createAccessTokens('k'.repeat(40), 60).sign({
      userId: 'u2',
      sessionId: 's2',
      role: 'user',
    });
    const verifier = createAccessTokens('k'.repeat(40), 60);
    await verifier.verify(fresh.token);
    await assert.rejects(verifier.verify(`${fresh.token}x`), { code: 'unauthorized' });
  });
});
