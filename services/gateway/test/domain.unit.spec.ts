import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkTimeZone,
  normalizeDisplayName,
  normalizeEmail,
  profileEvents,
  type AccountState,
  decide,
  evolve,
  foldAccount,
  registrationEvents,
  type AccountCommand,
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
    const { expiresAtMs, ...claims } = await tokens.verify(token);
    assert.deepEqual(claims, { userId: 'u1', sessionId: 's1', role: 'admin' });
    // The expiry travels with the claims (a WAMP session opened with the token ends then).
    assert.ok(Math.abs(expiresAtMs - (Date.now() + 60_000)) < 5_000, String(expiresAtMs));
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
      { type: 'account.directory_updated', data: { userId: 'u1', extension: '42' } },
    ]);
    assert.deepEqual(profileEvents(account, { displayName: 'A', locale: 'en' }), []);
  });
});

describe('access token cache', () => {
  it('remembers a verified token only until it expires', async () => {
    let clock = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
    const tokens = createAccessTokens('k'.repeat(40), 60, () => clock);
    const { token } = await tokens.sign({ userId: 'u1', sessionId: 's1', role: 'user' });
    assert.equal((await tokens.verify(token)).userId, 'u1');
    clock += 59_000;
    const remembered = await tokens.verify(token);
    assert.equal(remembered.userId, 'u1');
    assert.equal(remembered.expiresAtMs, Date.UTC(2026, 0, 1, 12, 1, 0));
    clock += 1_000;
    await assert.rejects(tokens.verify(token), { code: 'unauthorized', details: { reason: 'expired' } });
    // Not remembered either: a fresh verifier with the same clock refuses it through jose.
    await assert.rejects(createAccessTokens('k'.repeat(40), 60, () => clock).verify(token), {
      code: 'unauthorized',
    });
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

describe('account aggregate', () => {
  const registered = foldAccount(
    registrationEvents({
      userId: 'u1',
      email: 'ann@example.org',
      displayName: 'Ann',
      locale: 'ru',
      timeZone: 'Europe/Moscow',
      passwordHash: 'h1',
      sealedVerificationToken: 'sealed',
      verificationTokenHash: 't1',
      verificationExpiresAt: '2030-01-01T00:00:00.000Z',
      role: 'user',
    }),
  )!;
  const apply = (state: AccountState, command: AccountCommand): AccountState =>
    decide(state, command).reduce<AccountState | undefined>(evolve, state)!;

  it('registration folds into an unverified, active account at version 3', () => {
    assert.deepEqual(registered, {
      userId: 'u1',
      email: 'ann@example.org',
      emailVerified: false,
      passwordHash: 'h1',
      displayName: 'Ann',
      locale: 'ru',
      timeZone: 'Europe/Moscow',
      extension: null,
      role: 'user',
      status: 'active',
      version: 3,
    });
  });
  it('verifying, a profile change and the directory fold as the read model keeps them', () => {
    let state = apply(registered, { type: 'verifyEmail', tokenHash: 't1' });
    state = apply(state, { type: 'changeProfile', change: { displayName: 'Anna', extension: '1001' } });
    assert.deepEqual(
      [state.emailVerified, state.displayName, state.extension, state.version],
      [true, 'Anna', '1001', 6],
    );
    assert.deepEqual(decide(state, { type: 'changeProfile', change: { displayName: 'Anna' } }), []);
  });
  const facts = {
    userId: 'u1',
    email: 'ann@example.org',
    displayName: 'Ann',
    locale: 'ru' as const,
    timeZone: 'Europe/Moscow',
    passwordHash: 'h1',
    sealedVerificationToken: 'sealed',
    verificationTokenHash: 't1',
    verificationExpiresAt: '2030-01-01T00:00:00.000Z',
    role: 'user' as const,
  };
  const types = (events: readonly { type: string }[]) => events.map((e) => e.type);
  const disabledAccount = apply(registered, { type: 'setDisabled', by: 'admin', disabled: true });
  const verified = apply(registered, { type: 'verifyEmail', tokenHash: 't1' });
  const expiresAt = '2030-01-01T00:00:00.000Z';

  it('registers only an account that does not exist; every other command needs one', () => {
    assert.deepEqual(foldAccount(decide(undefined, { type: 'register', facts })), registered);
    assert.throws(() => decide(registered, { type: 'register', facts }), { code: 'conflict' });
    assert.throws(() => decide(undefined, { type: 'logoutEverywhere' }), { code: 'not_found' });
  });

  // One row per command: the state it is decided on, the events it yields, and what the state becomes.
  const table: {
    name: string;
    state: AccountState;
    command: AccountCommand;
    events: string[];
    after?: Partial<AccountState>;
  }[] = [
    {
      name: 'a registration of a taken address tells the owner',
      state: registered,
      command: { type: 'noteRegistrationAttempt' },
      events: ['account.registration_attempted'],
      after: { version: 4 },
    },
    {
      name: 'resending the verification repeats the registration with a fresh token',
      state: registered,
      command: { type: 'resendVerification', sealedToken: 's2', tokenHash: 't2', expiresAt },
      events: ['account.registered', 'account.verification_issued'],
      after: { emailVerified: false, version: 5 },
    },
    {
      name: 'no verification is resent to a verified address',
      state: verified,
      command: { type: 'resendVerification', sealedToken: 's2', tokenHash: 't2', expiresAt },
      events: [],
    },
    {
      name: 'no verification is resent to a disabled account',
      state: disabledAccount,
      command: { type: 'resendVerification', sealedToken: 's2', tokenHash: 't2', expiresAt },
      events: [],
    },
    {
      name: 'a re-hash replaces the hash and nothing else',
      state: registered,
      command: { type: 'rehashPassword', passwordHash: 'h2' },
      events: ['account.password_changed'],
      after: { passwordHash: 'h2', version: 4 },
    },
    {
      name: 'a reset request mails a link',
      state: registered,
      command: { type: 'requestPasswordReset', sealedToken: 's3', tokenHash: 't3', expiresAt },
      events: ['account.password_reset_requested', 'account.reset_issued'],
    },
    {
      name: 'a disabled account gets no reset link',
      state: disabledAccount,
      command: { type: 'requestPasswordReset', sealedToken: 's3', tokenHash: 't3', expiresAt },
      events: [],
    },
    {
      name: 'a reset sets the password, ends every session and proves the address',
      state: registered,
      command: { type: 'resetPassword', passwordHash: 'h4', tokenHash: 't3' },
      events: ['account.password_changed', 'account.sessions_revoked', 'account.email_verified'],
      after: { passwordHash: 'h4', emailVerified: true, version: 6 },
    },
    {
      name: 'a reset of a verified address does not verify it again',
      state: verified,
      command: { type: 'resetPassword', passwordHash: 'h4', tokenHash: 't3' },
      events: ['account.password_changed', 'account.sessions_revoked'],
    },
    {
      name: 'a change of password ends the other sessions',
      state: verified,
      command: { type: 'changePassword', passwordHash: 'h5', exceptSessionId: 's1' },
      events: ['account.password_changed', 'account.sessions_revoked'],
      after: { passwordHash: 'h5' },
    },
    {
      name: 'logging out everywhere ends every session',
      state: verified,
      command: { type: 'logoutEverywhere' },
      events: ['account.sessions_revoked'],
    },
    {
      name: 'an address change is requested by mail to the new address',
      state: verified,
      command: {
        type: 'requestEmailChange',
        newEmail: 'a@x.org',
        sealedToken: 's',
        tokenHash: 't',
        expiresAt,
      },
      events: ['account.email_change_requested', 'account.email_change_issued'],
      after: { email: 'ann@example.org' },
    },
    {
      name: 'a confirmed address change moves the account to the proven new address',
      state: registered,
      command: { type: 'confirmEmailChange', newEmail: 'a@x.org', tokenHash: 't' },
      events: ['account.email_changed', 'account.email_change_confirmed'],
      after: { email: 'a@x.org', emailVerified: true },
    },
    {
      name: 'Kerberos principals are set once each, sorted',
      state: verified,
      command: { type: 'setKerberosPrincipals', by: 'admin', principals: ['b@R', 'a@R', 'b@R'] },
      events: ['account.kerberos_principals_set'],
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const events = decide(row.state, row.command);
      assert.deepEqual(types(events), row.events);
      const after = events.reduce<AccountState | undefined>(evolve, row.state)!;
      assert.equal(after.version, row.state.version + events.length);
      if (row.after) assert.deepEqual({ ...after, ...row.after }, after);
    });
  }

  it('a reset of a disabled account is refused', () => {
    assert.throws(
      () => decide(disabledAccount, { type: 'resetPassword', passwordHash: 'h', tokenHash: 't' }),
      {
        code: 'forbidden',
      },
    );
  });
  it('events carry what the mailer needs, from the state they were decided on', () => {
    const [requested] = decide(verified, {
      type: 'requestEmailChange',
      newEmail: 'a@x.org',
      sealedToken: 's',
      tokenHash: 't',
      expiresAt,
    });
    assert.deepEqual(requested, {
      type: 'account.email_change_requested',
      data: {
        userId: 'u1',
        currentEmail: 'ann@example.org',
        newEmail: 'a@x.org',
        displayName: 'Ann',
        locale: 'ru',
        sealedToken: 's',
      },
    });
    const [principals] = decide(verified, {
      type: 'setKerberosPrincipals',
      by: 'admin',
      principals: ['b@R', 'a@R', 'b@R'],
    });
    assert.deepEqual(principals?.data, { principals: ['a@R', 'b@R'], by: 'admin' });
  });

  it('an admin disables and enables; twice is nothing; never oneself', () => {
    const disabled = apply(registered, { type: 'setDisabled', by: 'admin', disabled: true });
    assert.equal(disabled.status, 'disabled');
    assert.deepEqual(decide(disabled, { type: 'setDisabled', by: 'admin', disabled: true }), []);
    assert.equal(apply(disabled, { type: 'setDisabled', by: 'admin', disabled: false }).status, 'active');
    assert.throws(() => decide(registered, { type: 'setDisabled', by: 'u1', disabled: true }), {
      code: 'conflict',
    });
  });
});
