/* eslint-disable @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- JSON response bodies are read loosely in assertions */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from '@veche/db';
import { accountStream, foldAccount } from '../src/domain/account.ts';
import type { AccountEvent } from '../src/domain/events.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, {
    REGISTER_LIMIT_PER_IP: '1000',
    LOGIN_LIMIT_PER_IP: '1000',
    MAIL_LIMIT_PER_IP: '1000',
    MAIL_LIMIT_PER_ACCOUNT: '20',
  });
});
after(() => h?.close());

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- response bodies in assertions

async function call(
  method: string,
  url: string,
  options: { body?: unknown; token?: string; ip?: string } = {},
) {
  const response = await h.gateway.app.inject({
    method: method as 'GET',
    url,
    ...(options.body === undefined ? {} : { payload: options.body as object }),
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.ip ? { 'x-forwarded-for': options.ip } : {}),
    },
  });
  return {
    status: response.statusCode,
    body: (response.body ? JSON.parse(response.body) : undefined) as Json,
    headers: response.headers,
  };
}

let counter = 0;
const password = 'correct horse battery staple';
async function registerVerified(name: string): Promise<{ userId: string; email: string }> {
  counter += 1;
  const email = `${name.toLowerCase()}.${counter}@Example.ORG`;
  const created = await call('POST', '/api/auth/register', { body: { email, password, displayName: name } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const userId = created.body['userId'] as string;
  const token = await h.mailToken('account.registered', userId);
  const verified = await call('POST', '/api/auth/verify', { body: { token } });
  assert.equal(verified.status, 200);
  return { userId, email };
}
async function login(email: string, pw = password) {
  const r = await call('POST', '/api/auth/login', { body: { email, password: pw } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as {
    accessToken: string;
    refreshToken: string;
    userId: string;
    sessionId: string;
    expiresIn: number;
  };
}

describe('registration and verification', () => {
  it('the first account is admin, later ones are users; e-mail must be verified before logging in', async () => {
    const email = 'first@example.org';
    const created = await call('POST', '/api/auth/register', {
      body: { email, password, displayName: 'First', locale: 'ru', timeZone: 'Europe/Moscow' },
    });
    assert.equal(created.status, 201);
    // Before verification the right password gets the wrong password's answer (see the next test).
    const early = await call('POST', '/api/auth/login', { body: { email, password } });
    assert.equal(early.status, 401);
    assert.equal(early.body['error'].message, 'Wrong e-mail address or password');
    const verificationToken = await h.mailToken('account.registered', created.body['userId']);
    assert.equal(
      (await call('POST', '/api/auth/verify', { body: { token: verificationToken } })).status,
      200,
    );
    // Single use.
    const again = await call('POST', '/api/auth/verify', { body: { token: verificationToken } });
    assert.equal(again.status, 400);
    assert.equal(again.body['error'].code, 'validation');
    const tokens = await login(email);
    const me = await call('GET', '/api/me', { token: tokens.accessToken });
    assert.equal(me.body['role'], 'admin');
    assert.equal(me.body['locale'], 'ru');
    assert.equal(me.body['timeZone'], 'Europe/Moscow');
    assert.equal(me.body['emailVerified'], true);
    const second = await registerVerified('Second');
    const secondMe = await call('GET', '/api/me', { token: (await login(second.email)).accessToken });
    assert.equal(secondMe.body['role'], 'user');
  });

  it('a taken address (any case) answers like a new one, tells its owner, and logging in tells nothing either', async () => {
    const { email, userId } = await registerVerified('Dup');
    const taken = await call('POST', '/api/auth/register', {
      body: { email: email.toUpperCase(), password: 'the prober’s password', displayName: 'Dup 2' },
    });
    const fresh = await call('POST', '/api/auth/register', {
      body: { email: 'never-seen@example.org', password: 'the prober’s password', displayName: 'Dup 3' },
    });
    assert.deepEqual([taken.status, fresh.status], [201, 201]);
    assert.deepEqual(Object.keys(taken.body), Object.keys(fresh.body));
    assert.match(taken.body['userId'], /^[0-9a-f-]{36}$/);
    assert.notEqual(taken.body['userId'], userId, 'not the owner’s id');
    const told = await h.lastEvent<{ userId: string; email: string }>(
      'account.registration_attempted',
      userId,
    );
    assert.equal(told.email, email.replace('Example.ORG', 'example.org'));
    // The prober logs in with the password just chosen: the same answer for both addresses.
    const probeTaken = await call('POST', '/api/auth/login', {
      body: { email, password: 'the prober’s password' },
    });
    const probeFresh = await call('POST', '/api/auth/login', {
      body: { email: 'never-seen@example.org', password: 'the prober’s password' },
    });
    assert.equal(probeTaken.status, 401);
    assert.deepEqual(probeTaken.body, probeFresh.body);
    assert.equal(probeTaken.status, probeFresh.status);
    // The owner still logs in.
    await login(email);
  });

  it('resending gives a new working token and answers the same for unknown addresses', async () => {
    const created = await call('POST', '/api/auth/register', {
      body: { email: 'resend@example.org', password, displayName: 'Resend' },
    });
    const first = await h.mailToken('account.registered', created.body['userId']);
    assert.equal(
      (await call('POST', '/api/auth/verify/resend', { body: { email: 'resend@example.org' } })).status,
      202,
    );
    assert.equal(
      (await call('POST', '/api/auth/verify/resend', { body: { email: 'nobody@example.org' } })).status,
      202,
    );
    const second = await h.mailToken('account.registered', created.body['userId']);
    assert.notEqual(first, second);
    assert.equal(
      (await call('POST', '/api/auth/verify', { body: { token: first } })).status,
      400,
      'superseded',
    );
    assert.equal((await call('POST', '/api/auth/verify', { body: { token: second } })).status, 200);
  });
});

describe('sessions', () => {
  it('refresh rotates the token; reusing an old one revokes the whole session', async () => {
    const { email } = await registerVerified('Rotator');
    const first = await login(email);
    const second = (await call('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } }))
      .body;
    assert.equal(second['sessionId'], first.sessionId);
    assert.notEqual(second['refreshToken'], first.refreshToken);
    const third = (
      await call('POST', '/api/auth/refresh', { body: { refreshToken: second['refreshToken'] } })
    ).body;
    assert.equal((await call('GET', '/api/me', { token: third['accessToken'] })).status, 200);
    // The first token again: a thief or a replay. The family ends, the latest tokens included.
    const reuse = await call('POST', '/api/auth/refresh', { body: { refreshToken: first.refreshToken } });
    assert.equal(reuse.status, 401);
    assert.equal(reuse.body['error'].details.reason, 'reused');
    assert.equal(
      (await call('POST', '/api/auth/refresh', { body: { refreshToken: third['refreshToken'] } })).status,
      401,
    );
    const me = await call('GET', '/api/me', { token: third['accessToken'] });
    assert.equal(me.status, 401);
    assert.equal(me.body['error'].details.reason, 'session_ended');
  });

  it('takes the token just replaced once more within the leeway (a lost reply), and only then', async () => {
    const { email } = await registerVerified('Reloader');
    const first = await login(email);
    const spend = (refreshToken: unknown) => call('POST', '/api/auth/refresh', { body: { refreshToken } });
    // The reply carrying `second` never reached the page (it reloaded meanwhile): it spends `first` again.
    const second = await spend(first.refreshToken);
    assert.equal(second.status, 200);
    const again = await spend(first.refreshToken);
    assert.equal(again.status, 200, 'the token just replaced, spent within the leeway');
    assert.equal(again.body['sessionId'], first.sessionId);
    assert.notEqual(again.body['refreshToken'], second.body['refreshToken']);
    assert.equal((await call('GET', '/api/me', { token: again.body['accessToken'] })).status, 200);
    // `first` is now two generations old: a third spend is a reuse, and the session ends.
    const third = await spend(first.refreshToken);
    assert.equal(third.status, 401);
    assert.equal(third.body['error'].details.reason, 'reused');
    assert.equal((await call('GET', '/api/me', { token: again.body['accessToken'] })).status, 401);
  });

  it('ends the session when the token just replaced comes back after the leeway', async () => {
    const { email } = await registerVerified('Latecomer');
    const first = await login(email);
    const spend = (refreshToken: unknown) => call('POST', '/api/auth/refresh', { body: { refreshToken } });
    const second = await spend(first.refreshToken);
    assert.equal(second.status, 200);
    // The rotation happened longer ago than the leeway.
    await sql`update sessions set last_seen_at = now() - make_interval(secs => ${
      h.config.REFRESH_TOKEN_REUSE_LEEWAY_SECONDS + 1
    }) where session_id = ${first.sessionId}`.execute(h.database.db);
    const late = await spend(first.refreshToken);
    assert.equal(late.status, 401);
    assert.equal(late.body['error'].details.reason, 'reused');
    assert.equal((await spend(second.body['refreshToken'])).status, 401, 'the successor ends with it');
  });

  it('answers two spends of one token at the same moment with two working pairs', async () => {
    const { email } = await registerVerified('Twotabs');
    const first = await login(email);
    const spend = (refreshToken: unknown) => call('POST', '/api/auth/refresh', { body: { refreshToken } });
    const both = await Promise.all([spend(first.refreshToken), spend(first.refreshToken)]);
    assert.deepEqual(
      both.map((r) => r.status),
      [200, 200],
    );
    for (const r of both)
      assert.equal((await call('GET', '/api/me', { token: r.body['accessToken'] })).status, 200);
  });

  it('lists sessions, revokes one, logs out and logs out everywhere', async () => {
    const { email } = await registerVerified('Multi');
    const a = await login(email);
    const b = await login(email);
    const c = await login(email);
    const list = await call('GET', '/api/me/sessions', { token: a.accessToken });
    assert.equal(list.body['sessions'].length, 3);
    assert.equal(list.body['sessions'].filter((s: Json) => s['current']).length, 1);
    assert.equal(
      (await call('DELETE', `/api/me/sessions/${b.sessionId}`, { token: a.accessToken })).status,
      200,
    );
    assert.equal((await call('GET', '/api/me', { token: b.accessToken })).status, 401);
    assert.equal(
      (await call('DELETE', `/api/me/sessions/${b.sessionId}`, { token: a.accessToken })).status,
      404,
    );
    assert.equal((await call('POST', '/api/auth/logout', { token: c.accessToken })).status, 200);
    assert.equal((await call('GET', '/api/me', { token: c.accessToken })).status, 401);
    const d = await login(email);
    assert.equal((await call('POST', '/api/auth/logout-all', { token: a.accessToken })).status, 200);
    for (const t of [a, d])
      assert.equal((await call('GET', '/api/me', { token: t.accessToken })).status, 401);
    assert.equal(
      (await call('POST', '/api/auth/refresh', { body: { refreshToken: d.refreshToken } })).status,
      401,
    );
  });
});

describe('passwords', () => {
  it('changing the password needs the current one and ends the other sessions', async () => {
    const { email } = await registerVerified('Changer');
    const a = await login(email);
    const b = await login(email);
    const wrong = await call('POST', '/api/me/password', {
      token: a.accessToken,
      body: { currentPassword: 'nope', newPassword: 'a brand new password' },
    });
    assert.equal(wrong.status, 403);
    const r = await call('POST', '/api/me/password', {
      token: a.accessToken,
      body: { currentPassword: password, newPassword: 'a brand new password' },
    });
    assert.equal(r.status, 200);
    assert.equal((await call('GET', '/api/me', { token: a.accessToken })).status, 200);
    assert.equal((await call('GET', '/api/me', { token: b.accessToken })).status, 401);
    assert.equal((await call('POST', '/api/auth/login', { body: { email, password } })).status, 401);
    await login(email, 'a brand new password');
  });

  it('reset by mail: same answer for unknown addresses, single-use token, every session ends', async () => {
    const { email, userId } = await registerVerified('Forgetful');
    const session = await login(email);
    assert.equal(
      (await call('POST', '/api/auth/password-reset', { body: { email: 'ghost@example.org' } })).status,
      202,
    );
    assert.equal((await call('POST', '/api/auth/password-reset', { body: { email } })).status, 202);
    const requested = await h.lastEvent<{ email: string; expiresAt: string }>(
      'account.password_reset_requested',
      userId,
    );
    assert.equal(requested.email, email.replace('Example.ORG', 'example.org'));
    const resetToken = await h.mailToken('account.password_reset_requested', userId);
    const confirm = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token: resetToken, password: 'my reset password' },
    });
    assert.equal(confirm.status, 200);
    const twice = await call('POST', '/api/auth/password-reset/confirm', {
      body: { token: resetToken, password: 'another password!' },
    });
    assert.equal(twice.status, 400);
    assert.equal((await call('GET', '/api/me', { token: session.accessToken })).status, 401);
    await login(email, 'my reset password');
  });
});

describe('profile, e-mail change and the directory', () => {
  it('updates the profile; extension numbers are unique; users are found by name or number', async () => {
    const { email, userId } = await registerVerified('Profiler');
    const t = await login(email);
    const r = await call('PATCH', '/api/me', {
      token: t.accessToken,
      body: { displayName: '  Zoë Profiler ', extension: '4711', timeZone: 'Asia/Tokyo' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body['displayName'], 'Zoë Profiler');
    assert.equal(r.body['extension'], '4711');
    const other = await registerVerified('Other');
    const o = await login(other.email);
    const taken = await call('PATCH', '/api/me', { token: o.accessToken, body: { extension: '4711' } });
    assert.equal(taken.status, 409);
    const byNumber = await call('GET', '/api/users?q=4711', { token: o.accessToken });
    assert.equal(byNumber.body['users'][0].displayName, 'Zoë Profiler');
    const byName = await call('GET', '/api/users?q=zo%C3%AB', { token: o.accessToken });
    assert.equal(byName.body['users'].length, 1);
    const wildcard = await call('GET', '/api/users?q=%25', { token: o.accessToken });
    assert.equal(wildcard.body['users'].length, 0);
    const bad = await call('PATCH', '/api/me', { token: t.accessToken, body: { timeZone: 'Mars/Olympus' } });
    assert.equal(bad.status, 400);
    // What commands decide on (the read model) is exactly the account's stream folded by `evolve`.
    const stream = (await h.gateway.store.readStream(accountStream(userId))) as unknown as AccountEvent[];
    const folded = foldAccount(stream);
    assert.equal(folded?.extension, '4711');
    assert.deepEqual(folded, await h.gateway.accounts.accountState(userId));
  });

  it('changes the e-mail address after confirmation from the new one', async () => {
    const { email, userId } = await registerVerified('Mover');
    const t = await login(email);
    const r = await call('POST', '/api/me/email', {
      token: t.accessToken,
      body: { newEmail: 'moved@example.org', password },
    });
    assert.equal(r.status, 202);
    const confirmation = await h.mailToken('account.email_change_requested', userId);
    assert.equal(
      (await call('POST', '/api/me/email/confirm', { body: { token: confirmation } })).status,
      200,
    );
    const me = await call('GET', '/api/me', { token: t.accessToken });
    assert.equal(me.body['email'], 'moved@example.org');
    await login('moved@example.org');
  });
});

describe('administration', () => {
  it('only admins list users; disabling ends the user’s sessions at once and refuses log-in', async () => {
    const admin = await login('first@example.org');
    const victim = await registerVerified('Victim');
    const v = await login(victim.email);
    assert.equal((await call('GET', '/api/admin/users', { token: v.accessToken })).status, 403);
    const list = await call('GET', '/api/admin/users?limit=2', { token: admin.accessToken });
    assert.equal(list.status, 200);
    assert.equal(list.body['users'].length, 2);
    assert.ok(list.body['nextAfter']);
    assert.equal(
      (await call('POST', `/api/admin/users/${victim.userId}/disable`, { token: admin.accessToken })).status,
      200,
    );
    assert.equal((await call('GET', '/api/me', { token: v.accessToken })).status, 401);
    assert.equal(
      (await call('POST', '/api/auth/refresh', { body: { refreshToken: v.refreshToken } })).status,
      401,
    );
    const refused = await call('POST', '/api/auth/login', { body: { email: victim.email, password } });
    assert.equal(refused.status, 403);
    assert.equal(
      (await call('POST', `/api/admin/users/${victim.userId}/enable`, { token: admin.accessToken })).status,
      200,
    );
    await login(victim.email);
    const self = await call('POST', `/api/admin/users/${admin.userId}/disable`, { token: admin.accessToken });
    assert.equal(self.status, 409);
  });
});

describe('one live link per purpose (issue 13)', () => {
  const reset = async (email: string, userId: string) => {
    assert.equal((await call('POST', '/api/auth/password-reset', { body: { email } })).status, 202);
    return h.mailToken('account.password_reset_requested', userId);
  };
  const confirmReset = async (token: string, newPassword = 'a fresh password!') =>
    (await call('POST', '/api/auth/password-reset/confirm', { body: { token, password: newPassword } }))
      .status;

  it('three reset mails: only the latest link works, and once used none does', async () => {
    const { email, userId } = await registerVerified('Thrice');
    const tokens = [await reset(email, userId), await reset(email, userId), await reset(email, userId)];
    assert.equal(await confirmReset(tokens[0] ?? ''), 400);
    assert.equal(await confirmReset(tokens[1] ?? ''), 400);
    assert.equal(await confirmReset(tokens[2] ?? ''), 200);
    for (const token of tokens) assert.equal(await confirmReset(token, 'yet another one!'), 400);
  });

  it('changing the password in the settings ends every reset link mailed before', async () => {
    const { email, userId } = await registerVerified('Settler');
    const pending = await reset(email, userId);
    const session = await login(email);
    const changed = await call('POST', '/api/me/password', {
      token: session.accessToken,
      body: { currentPassword: password, newPassword: 'changed in the settings' },
    });
    assert.equal(changed.status, 200);
    assert.equal(await confirmReset(pending), 400);
  });

  it('verification links: a resend supersedes the earlier ones, and verifying ends them all', async () => {
    const created = await call('POST', '/api/auth/register', {
      body: { email: 'relinked@example.org', password, displayName: 'Relinked' },
    });
    const userId = created.body['userId'] as string;
    const tokens = [await h.mailToken('account.registered', userId)];
    for (let i = 0; i < 2; i += 1) {
      await call('POST', '/api/auth/verify/resend', { body: { email: 'relinked@example.org' } });
      tokens.push(await h.mailToken('account.registered', userId));
    }
    const verify = async (token: string) =>
      (await call('POST', '/api/auth/verify', { body: { token } })).status;
    assert.equal(await verify(tokens[0] ?? ''), 400);
    assert.equal(await verify(tokens[2] ?? ''), 200);
    assert.equal(await verify(tokens[1] ?? ''), 400);
  });

  it('address-change links: a new request supersedes the earlier one', async () => {
    const { email, userId } = await registerVerified('Twomoves');
    const session = await login(email);
    const request = async (newEmail: string) => {
      const r = await call('POST', '/api/me/email', {
        token: session.accessToken,
        body: { newEmail, password },
      });
      assert.equal(r.status, 202);
      return h.mailToken('account.email_change_requested', userId);
    };
    const first = await request('first-move@example.org');
    const second = await request('second-move@example.org');
    const confirm = async (token: string) =>
      (await call('POST', '/api/me/email/confirm', { body: { token } })).status;
    assert.equal(await confirm(first), 400);
    assert.equal(await confirm(second), 200);
    assert.equal(
      (await call('GET', '/api/me', { token: session.accessToken })).body['email'],
      'second-move@example.org',
    );
  });
});
