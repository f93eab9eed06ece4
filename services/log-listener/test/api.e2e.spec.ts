/**
 * `/api/logs` through the real gateway of the local fleet (HTTP → WAMP → the log-listener), the
 * routes and shapes design.md lists under "Contracts that stay stable": a source registered over
 * HTTP, a line sent to its port read back newest first, another user's 404, the error shape.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, it } from 'node:test';
import { eventually } from '@veche/testing';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { portRange } from './support/harness.ts';

let fleet: Fleet;
const tokens: Record<string, string> = {};

const api = async <T>(method: string, path: string, token: string, body?: unknown) => {
  const response = await fetch(`${fleet.origin}/api${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as T };
};

before(async () => {
  const range = await portRange();
  fleet = await startFleet({
    env: {
      REQUIRE_VERIFIED_EMAIL: 'false',
      LOGS_BIND_HOST: '127.0.0.1',
      LOGS_PORT_MIN: String(range.min),
      LOGS_PORT_MAX: String(range.max),
    },
  });
  for (const name of ['alice', 'bob']) {
    const email = `${name}@example.org`;
    const password = 'long enough password';
    const registered = await fetch(`${fleet.origin}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: name }),
    });
    assert.equal(registered.status, 201);
    const login = await fetch(`${fleet.origin}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    tokens[name] = ((await login.json()) as { accessToken: string }).accessToken;
  }
});
after(() => fleet?.stop());

it('registers a source, takes a line on its port, and pages it back through /api', async () => {
  const created = await api<{ sourceId: string; host: string; port: number }>(
    'POST',
    '/logs/sources',
    tokens['alice']!,
    { name: 'web', timeZone: '+02:00' },
  );
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const { sourceId, port } = created.json;
  const list = await api<{ sources: { sourceId: string }[] }>('GET', '/logs/sources', tokens['alice']!);
  assert.deepEqual(
    list.json.sources.map((s) => s.sourceId),
    [sourceId],
  );
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => {
          socket.end('<14>Dec  2 05:00:00 web-1 app.log: hello through the fleet\n');
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      }),
    { message: 'the source listens', timeoutMs: 20_000 },
  );
  const page = await eventually(
    async () => {
      const r = await api<{
        events: { message: string; createdAt: string; userId: string }[];
        isOldestEventReached: boolean;
      }>('GET', `/logs/sources/${sourceId}/events?limit=10`, tokens['alice']!);
      return r.json.events.length > 0 ? r.json : undefined;
    },
    { message: 'the line through /api' },
  );
  assert.equal(page.events[0]!.message, 'hello through the fleet');
  assert.match(page.events[0]!.createdAt, /T03:00:00\.000Z$/);
  assert.equal(page.events[0]!.userId, `${created.json.host}:${port}`);
  assert.equal(page.isOldestEventReached, true);

  const foreign = await api<{ error: { code: string } }>(
    'GET',
    `/logs/sources/${sourceId}/events`,
    tokens['bob']!,
  );
  assert.equal(foreign.status, 404);
  assert.equal(foreign.json.error.code, 'not_found');
  const invalid = await api<{ error: { code: string } }>('POST', '/logs/sources', tokens['alice']!, {
    name: 'x',
    timeZone: 'Nowhere/Atlantis',
  });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.json.error.code, 'validation');
  const deleted = await api<{ ok: boolean }>('DELETE', `/logs/sources/${sourceId}`, tokens['alice']!);
  assert.equal(deleted.status, 200);
  assert.equal((await api('GET', `/logs/sources/${sourceId}`, tokens['alice']!)).status, 404);
});
