/**
 * Seed 002's protocol examples replayed frame by frame against `/pubsub` of the local fleet (the
 * README's `./scripts/dev`: real gateway tokens, the origin's upgrade proxy, PostgreSQL, RabbitMQ,
 * the WAMP router) with a plain `ws` client; then the checks of issue 15: bad frames, forged
 * publishers, tokens of disabled users, blocked subscribers, and a token in the query never logged.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@veche/testing';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { connectPubsub, refusedUpgrade, type PubsubClient } from './support/pubsub-client.ts';

interface Account {
  email: string;
  userId: string;
  accessToken: string;
}

/** The seed's published message, its `#` comments removed (they are not JSON). */
const seedPublication = `{
  "status": 1,
  "events": {
    "uid1": 9,
    "uid2": 9,
    "uid3": 10,
    "uid4": 10
  },
  "timestamp": "1627128694.693686"
}`;

describe('seed 002 against the local fleet', () => {
  let fleet: Fleet;
  let pubsubUrl: string;
  const people: Record<string, Account> = {};
  const clients: PubsubClient[] = [];

  const api = async <T>(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; json: T }> => {
    const response = await fetch(`${fleet.origin}/api${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as T };
  };

  async function signUp(name: string): Promise<Account> {
    const email = `${name}@example.org`;
    const password = 'long enough password';
    const registered = await api<{ userId: string }>('POST', '/auth/register', {
      email,
      password,
      displayName: name,
    });
    assert.equal(registered.status, 201);
    const login = await api<{ accessToken: string; userId: string }>('POST', '/auth/login', {
      email,
      password,
    });
    assert.equal(login.status, 200, JSON.stringify(login.json));
    return { email, userId: login.json.userId, accessToken: login.json.accessToken };
  }

  const open = async (who: Account, via: 'header' | 'query' = 'header') => {
    const client =
      via === 'header'
        ? await connectPubsub(pubsubUrl, { headers: { authorization: `Bearer ${who.accessToken}` } })
        : await connectPubsub(`${pubsubUrl}?access_token=${who.accessToken}`);
    clients.push(client);
    return client;
  };

  before(async () => {
    fleet = await startFleet({
      env: {
        REQUIRE_VERIFIED_EMAIL: 'false',
        VECHE_ADMIN_EMAIL: 'admin@example.org',
        ACCESS_TOKEN_TTL_SECONDS: '600',
      },
    });
    pubsubUrl = `${fleet.origin.replace('http', 'ws')}/pubsub`;
    for (const name of ['admin', 'alice', 'bob', 'carol']) people[name] = await signUp(name);
  });

  after(async () => {
    for (const client of clients) client.socket.terminate();
    await fleet?.stop();
  });

  it('replays the seed’s messages frame by frame', async () => {
    const { alice, bob } = people;
    const bobPhone = await open(bob!);
    const aliceBrowser = await open(alice!, 'query');
    await eventually(
      async () => {
        const { json } = await api<{ statuses: { status: number }[] }>(
          'GET',
          `/presence?users=${bob!.userId}`,
          undefined,
          alice!.accessToken,
        );
        return json.statuses[0]?.status === 1;
      },
      { message: 'bob registered' },
    );

    // The seed client's subscription message: answered at once with bob's status.
    aliceBrowser.send(JSON.stringify({ events: { [bob!.userId]: 9 } }));
    assert.equal(await aliceBrowser.next(), `{"status":1,"publisher":"${bob!.userId}"}`);

    // The seed's published message, byte for byte.
    bobPhone.send(seedPublication);
    const answers = [await bobPhone.next(), await bobPhone.next()].sort();
    assert.deepEqual(answers, ['{"status":3,"publisher":"uid1"}', '{"status":3,"publisher":"uid2"}']);
    // The seed's first notification: ENABLE from bob at that timestamp.
    assert.equal(
      await aliceBrowser.next(),
      `{"status":1,"publisher":"${bob!.userId}","timestamp":"1627128694.693686"}`,
    );
    // The seed's second notification: BUSY without a timestamp.
    bobPhone.send('{"status": 2}');
    assert.equal(await aliceBrowser.next(), `{"status":2,"publisher":"${bob!.userId}"}`);
    // A forged publisher is ignored: the server names bob.
    bobPhone.send(JSON.stringify({ status: 4, publisher: alice!.userId, timestamp: 1627128694.693686 }));
    assert.equal(
      await aliceBrowser.next(),
      `{"status":4,"publisher":"${bob!.userId}","timestamp":1627128694.693686}`,
    );
  });

  it('answers bad frames with an error frame and keeps the connection', async () => {
    const carol = await open(people['carol']!);
    for (const frame of ['{"status":', '{"status":11}', '{"events":{"x":"9"}}', '{"timestamp":[]}']) {
      carol.send(frame);
      const answer = await carol.nextJson<{ error: { code: string; message: string } }>();
      assert.equal(answer.error.code, 'validation');
    }
    carol.send({ events: { [people['bob']!.userId]: 9 } });
    assert.equal(
      await carol.next(),
      `{"status":4,"publisher":"${people['bob']!.userId}","timestamp":1627128694.693686}`,
    );
  });

  it('a subscriber the publisher blocks gets 8 at once, in lookups too, with no hint', async () => {
    const { alice, bob } = people;
    const aliceClient = clients[1]!;
    const blocked = await api(
      'PUT',
      '/presence/privacy',
      { mode: 'blacklist', users: [alice!.userId] },
      bob!.accessToken,
    );
    assert.equal(blocked.status, 200);
    assert.equal(await aliceClient.next(), `{"status":8,"publisher":"${bob!.userId}"}`);
    const lookup = await api<{ statuses: unknown[] }>(
      'GET',
      `/presence?users=${bob!.userId}`,
      undefined,
      alice!.accessToken,
    );
    assert.deepEqual(lookup.json.statuses, [{ userId: bob!.userId, extension: null, status: 8 }]);
    const unblocked = await api(
      'PUT',
      '/presence/privacy',
      { mode: 'everyone', users: [] },
      bob!.accessToken,
    );
    assert.equal(unblocked.status, 200);
    assert.equal(
      await aliceClient.next(),
      `{"status":4,"publisher":"${bob!.userId}","timestamp":1627128694.693686}`,
    );
  });

  it('refuses the token of a disabled user with 401 and closes the user’s open connection', async () => {
    const { admin, carol } = people;
    const carolClient = clients[2]!;
    const disabled = await api('POST', `/admin/users/${carol!.userId}/disable`, {}, admin!.accessToken);
    assert.equal(disabled.status, 200);
    const refused = await refusedUpgrade(pubsubUrl, {
      headers: { authorization: `Bearer ${carol!.accessToken}` },
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer, Negotiate');
    const { code } = await carolClient.closed;
    assert.equal(code, 4403);
  });

  it('never logs a token given in the query', () => {
    assert.ok(!fleet.output().includes(people['alice']!.accessToken), 'the access token is not in any log');
  });

  it('veche-presence through /api with a token: set by number, get, find, watch by pattern', async () => {
    const { alice, bob } = people;
    const bin = path.join(import.meta.dirname, '../bin/veche-presence.ts');
    const cli = (args: string[], onLine?: (line: string) => void) => {
      const child = spawn(process.execPath, [
        bin,
        '--url',
        fleet.origin,
        '--token',
        bob!.accessToken,
        '--json',
        ...args,
      ]);
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const lines = out.split('\n');
        out = lines.pop() ?? '';
        for (const line of lines) if (line) onLine?.(line);
      });
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      return { child, exited, err: () => err };
    };
    const collect = async (args: string[]) => {
      const lines: Record<string, unknown>[] = [];
      const run = cli(args, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
      assert.equal(await run.exited, 0, run.err());
      return lines;
    };
    assert.equal((await api('PATCH', '/me', { extension: '1001' }, bob!.accessToken)).status, 200);
    await eventually(async () => (await collect(['find', '100*'])).length === 1, {
      message: 'bob’s number known',
    });
    const set = await collect(['set', '1001', 'busy']);
    assert.deepEqual(set, [{ extension: '1001', userId: bob!.userId, status: 2 }]);
    assert.deepEqual(await collect(['get', '1001']), [{ extension: '1001', userId: bob!.userId, status: 2 }]);
    // Not bob's number: refused.
    assert.equal((await api('PATCH', '/me', { extension: '1002' }, alice!.accessToken)).status, 200);
    // The number reaches the presence-router's directory by the gateway's event: known, then refused.
    await eventually(async () => (await collect(['find', '1002'])).length === 1, {
      message: 'alice’s number known',
    });
    const refused = cli(['set', '1002', 'busy']);
    assert.equal(await refused.exited, 1);
    assert.match(refused.err(), /forbidden/);

    const seen: { extension: string; status: number }[] = [];
    const watch = cli(['watch', '100*'], (line) =>
      seen.push(JSON.parse(line) as { extension: string; status: number }),
    );
    after(() => watch.child.kill('SIGKILL'));
    await eventually(() => seen.length >= 2, { timeoutMs: 30_000, message: 'the current statuses' });
    // A number that starts matching later, and a later change.
    assert.equal(
      (await api('PATCH', '/me', { extension: '1003' }, people['admin']!.accessToken)).status,
      200,
    );
    await eventually(() => seen.some((s) => s.extension === '1003'), {
      timeoutMs: 30_000,
      message: 'the newcomer',
    });
    await api('PUT', '/presence/status', { status: 7 }, alice!.accessToken);
    await eventually(() => seen.some((s) => s.extension === '1002' && s.status === 7), {
      timeoutMs: 30_000,
      message: 'alice’s change',
    });
    watch.child.kill('SIGINT');
    assert.equal(await watch.exited, 0);
  });

  it('serves the presence routes through /api, documented in OpenAPI', async () => {
    const { alice } = people;
    const set = await api<{ status: number; chosen: number }>(
      'PUT',
      '/presence/status',
      { status: 5 },
      alice!.accessToken,
    );
    assert.equal(set.status, 200);
    assert.equal(set.json.chosen, 5);
    const docs = await fetch(`${fleet.origin}/api/docs/json`);
    const spec = (await docs.json()) as { paths: Record<string, unknown> };
    for (const path of [
      '/api/presence',
      '/api/presence/status',
      '/api/presence/privacy',
      '/api/presence/history',
    ])
      assert.ok(path in spec.paths, `${path} is documented`);
  });
});
