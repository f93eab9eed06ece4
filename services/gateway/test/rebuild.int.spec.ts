/** The read models rebuilt from the log are exactly the ones the appends maintained. */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
import { rebuildReadModels } from '../src/rebuild.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, { REQUIRE_VERIFIED_EMAIL: 'false' });
});
after(() => h?.close());

const snapshot = async () => {
  const tables: Record<string, unknown[]> = {};
  for (const [table, order] of [
    ['accounts', 'user_id'],
    ['account_tokens', 'token_hash'],
    ['sessions', 'session_id'],
    ['refresh_tokens', 'token_hash'],
  ] as const) {
    tables[table] = (
      await sql`select * from ${sql.table(table)} order by ${sql.ref(order)}`.execute(h.database.db)
    ).rows;
  }
  return tables;
};

it('replays registrations, verifications, sessions, rotations, revocations and profile changes to the same state', async () => {
  const app = h.gateway.app;
  const post = (url: string, payload: object, token?: string) =>
    app.inject({ method: 'POST', url, payload, headers: token ? { authorization: `Bearer ${token}` } : {} });
  for (const name of ['ann', 'ben', 'cat']) {
    await post('/api/auth/register', {
      email: `${name}@example.org`,
      password: 'long enough password',
      displayName: name,
    });
  }
  const ann = (
    await post('/api/auth/login', { email: 'ann@example.org', password: 'long enough password' })
  ).json<{ accessToken: string; refreshToken: string }>();
  await post('/api/auth/refresh', { refreshToken: ann.refreshToken });
  await post('/api/auth/refresh', { refreshToken: ann.refreshToken }); // just replaced: rotated again
  await post('/api/auth/refresh', { refreshToken: ann.refreshToken }); // two generations old: revoked
  const ben = (
    await post('/api/auth/login', { email: 'ben@example.org', password: 'long enough password' })
  ).json<{ accessToken: string }>();
  await app.inject({
    method: 'PATCH',
    url: '/api/me',
    payload: { displayName: 'Benjamin', extension: '77' },
    headers: { authorization: `Bearer ${ben.accessToken}` },
  });
  await post('/api/auth/login', { email: 'cat@example.org', password: 'long enough password' });
  await post('/api/auth/password-reset', { email: 'cat@example.org' });
  const before = await snapshot();
  assert.equal((before['accounts'] ?? []).length, 3);
  const { events } = await rebuildReadModels(h.database);
  assert.ok(events > 10);
  assert.deepEqual(await snapshot(), before);
});
