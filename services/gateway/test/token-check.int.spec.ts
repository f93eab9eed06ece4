/**
 * `veche.gateway.sessions.authenticate`, the token check other doors use (the presence-router's
 * /pubsub upgrade): a live session's token answers its principal; a token after log-out, of a
 * disabled account, or forged answers `unauthorized`; users may not call it. And
 * `veche.gateway.accounts.known`, which chat asks about a user whose account event has not reached it.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { gatewayServiceProcedures } from '@veche/contracts';
import { isVecheError } from '@veche/errors';
import { createLogger } from '@veche/log';
import { connectWampClient } from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import { serviceSecret, startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let presence: WampService;
before(async () => {
  h = await startHarness(import.meta.filename, {
    REQUIRE_VERIFIED_EMAIL: 'false',
    VECHE_ADMIN_EMAIL: 'boss@example.org',
  });
  presence = await connectService({
    url: h.routerUrl,
    authid: 'service:presence-router',
    secret: serviceSecret,
    log: createLogger({ service: 'test', level: 'silent' }),
  });
});
after(async () => {
  await presence?.close();
  await h?.close();
});

async function login(email: string): Promise<{ accessToken: string; userId: string }> {
  const app = h.gateway.app;
  const password = 'long enough password';
  await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { email, password, displayName: 'T' },
  });
  return (await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password } })).json();
}

const check = (token: string) => presence.call(gatewayServiceProcedures.authenticateToken, { token });
const refused = (error: unknown) => isVecheError(error, 'unauthorized');

it('answers a live token with its principal, and refuses it once the session ended', async () => {
  const alice = await login('alice@example.org');
  const principal = await check(alice.accessToken);
  assert.deepEqual(Object.keys(principal as object).sort(), ['role', 'sessionId', 'userId']);
  assert.equal((principal as { userId: string }).userId, alice.userId);
  await h.gateway.app.inject({
    method: 'POST',
    url: '/api/auth/logout',
    headers: { authorization: `Bearer ${alice.accessToken}` },
  });
  await assert.rejects(check(alice.accessToken), refused);
});

it('refuses the token of a disabled account, forged tokens and junk', async () => {
  const boss = await login('boss@example.org');
  const bob = await login('bob@example.org');
  assert.equal(((await check(bob.accessToken)) as { userId: string }).userId, bob.userId);
  const disabled = await h.gateway.app.inject({
    method: 'POST',
    url: `/api/admin/users/${bob.userId}/disable`,
    headers: { authorization: `Bearer ${boss.accessToken}` },
  });
  assert.equal(disabled.statusCode, 200);
  await assert.rejects(check(bob.accessToken), refused);
  const [header, , signature] = boss.accessToken.split('.');
  await assert.rejects(
    check(`${header}.${Buffer.from('{"sub":"x"}').toString('base64url')}.${signature}`),
    refused,
  );
  await assert.rejects(check('junk'), refused);
});

it('is not for users', async () => {
  const carol = await login('carol@example.org');
  const user = await connectWampClient(h.routerUrl, carol.userId, carol.accessToken);
  await assert.rejects(
    user.session.call(gatewayServiceProcedures.authenticateToken, [], { token: carol.accessToken }),
    (error: { error?: string }) => error.error === 'wamp.error.not_authorized',
  );
  user.close();
});

it('names the accounts among the ids asked for, with their display names, and is not for users', async () => {
  const dave = await login('dave@example.org');
  const known = (userIds: unknown) => presence.call(gatewayServiceProcedures.knownAccounts, { userIds });
  assert.deepEqual(await known([dave.userId, 'nobody-of-that-id']), {
    accounts: [{ userId: dave.userId, displayName: 'T' }],
  });
  assert.deepEqual(await known(['nobody-of-that-id']), { accounts: [] });
  for (const bad of [[], ['not an id!'], Array.from({ length: 101 }, (_, i) => `u${i}`), 'x']) {
    await assert.rejects(
      known(bad),
      (error: unknown) => isVecheError(error, 'validation'),
      JSON.stringify(bad),
    );
  }
  const user = await connectWampClient(h.routerUrl, dave.userId, dave.accessToken);
  await assert.rejects(
    user.session.call(gatewayServiceProcedures.knownAccounts, [], { userIds: [dave.userId] }),
    (error: { error?: string }) => error.error === 'wamp.error.not_authorized',
  );
  user.close();
});
