/** With VECHE_ADMIN_EMAIL set, that address is the admin, whoever registers first. */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, {
    REQUIRE_VERIFIED_EMAIL: 'false',
    VECHE_ADMIN_EMAIL: 'Boss@Example.org',
  });
});
after(() => h?.close());

async function roleOf(email: string): Promise<string> {
  const app = h.gateway.app;
  await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { email, password: 'long enough password', displayName: email.split('@')[0] },
  });
  const { accessToken } = (
    await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email, password: 'long enough password' },
    })
  ).json<{ accessToken: string }>();
  return (
    await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${accessToken}` } })
  ).json<{ role: string }>().role;
}

it('makes the configured address the admin, not the first account', async () => {
  assert.equal(await roleOf('first@example.org'), 'user');
  assert.equal(await roleOf('boss@example.org'), 'admin');
  assert.equal(await roleOf('third@example.org'), 'user');
});
