/**
 * Federation (issue 20) between two full local fleets on one machine (their own databases, RabbitMQ
 * virtual hosts, WAMP routers and ports), domains a.test and b.test, linked by their admins with one
 * shared secret. A's link to B goes through a TCP relay the test can cut. Users of each side watch
 * users of the other through `/pubsub` (`<userId>@<domain>`); B's privacy rules decide what A's users
 * see; a link cut for 10 s loses no change; batches are small (3) so the catch-up spans several.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createLogger } from '@veche/log';
import { eventually, scaledMs } from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import { userTopic } from '@veche/wamp-policy';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { connectPubsub, type PubsubClient } from './support/pubsub-client.ts';
import { tcpRelay, type TcpRelay } from './support/tcp-relay.ts';

interface Account {
  userId: string;
  accessToken: string;
}

const secret = 'a shared secret both admins typed';

describe('federation between two deployments', () => {
  let a!: Fleet;
  let b!: Fleet;
  let link: TcpRelay;
  const people: Record<string, Account> = {};
  const clients: PubsubClient[] = [];

  const api = async <T>(fleet: Fleet, method: string, url: string, body?: unknown, token?: string) => {
    const response = await fetch(`${fleet.origin}/api${url}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as T };
  };

  async function signUp(fleet: Fleet, name: string): Promise<Account> {
    const email = `${name}@example.org`;
    const password = 'long enough password';
    assert.equal(
      (await api(fleet, 'POST', '/auth/register', { email, password, displayName: name })).status,
      201,
    );
    const login = await api<Account>(fleet, 'POST', '/auth/login', { email, password });
    assert.equal(login.status, 200);
    return login.json;
  }

  const open = async (fleet: Fleet, who: Account) => {
    const client = await connectPubsub(`${fleet.origin.replace('http', 'ws')}/pubsub`, {
      headers: { authorization: `Bearer ${who.accessToken}` },
    });
    clients.push(client);
    return client;
  };

  /** Frames about `publisher` that `client` received, parsed. */
  const about = (client: PubsubClient, publisher: string) =>
    client.frames
      .map((f) => JSON.parse(f) as { status?: number; publisher?: string })
      .filter((f) => f.publisher === publisher)
      .map((f) => f.status);

  const env = (domain: string) => ({
    REQUIRE_VERIFIED_EMAIL: 'false',
    VECHE_ADMIN_EMAIL: 'admin@example.org',
    ACCESS_TOKEN_TTL_SECONDS: '600',
    PRESENCE_DOMAIN: domain,
    FEDERATION_BATCH_MAX: '3',
    FEDERATION_BATCH_PAUSE_MS: '10',
  });

  // Two fleets, each given the test limit to start (a loaded machine needs it): the hook gets both.
  const twoFleetsMs = 2 * Number(process.env['TEST_TIMEOUT_MS'] ?? 180_000);
  before(
    async () => {
      // One after the other: two fleets starting at once could pick the same free ports.
      a = await startFleet({ env: env('a.test') });
      b = await startFleet({ env: env('b.test') });
      for (const name of ['admin', 'alice', 'dave']) people[`a:${name}`] = await signUp(a, name);
      for (const name of ['admin', 'bob', 'carol']) people[`b:${name}`] = await signUp(b, name);
      link = await tcpRelay(Number(new URL(b.origin).port));
      const toB = await api(
        a,
        'PUT',
        '/presence/federation/b.test',
        {
          url: `ws://127.0.0.1:${link.port}/pubsub/federation`,
          secret,
        },
        people['a:admin']!.accessToken,
      );
      assert.equal(toB.status, 200, JSON.stringify(toB.json));
      const toA = await api(
        b,
        'PUT',
        '/presence/federation/a.test',
        {
          url: `${a.origin.replace('http', 'ws')}/pubsub/federation`,
          secret,
        },
        people['b:admin']!.accessToken,
      );
      assert.equal(toA.status, 200, JSON.stringify(toA.json));
    },
    { timeout: twoFleetsMs },
  );

  // A failure here has been hard to explain afterwards (a run where B's gateway refused B's own
  // tokens): each fleet's processes, restarts and last output go with it.
  afterEach(async (t) => {
    // (Node 24 has TestContext.passed; @types/node here does not declare it yet.)
    if ((t as { passed?: boolean }).passed !== false) return;
    for (const [name, fleet] of [
      ['A', a],
      ['B', b],
    ] as const) {
      if (!fleet) continue;
      const status = await fetch(`${fleet.origin}/_fleet/status`)
        .then((r) => r.text())
        .catch((error: unknown) => String(error));
      t.diagnostic(`fleet ${name} at ${fleet.origin}: ${status}\n${fleet.output().slice(-4000)}`);
    }
  });

  const sessions: WampService[] = [];
  after(async () => {
    for (const session of sessions) await session.close().catch(() => undefined);
    for (const client of clients) client.socket.terminate();
    await link?.close();
    // Either may be missing when the set-up failed half-way.
    for (const fleet of [a, b] as (Fleet | undefined)[]) await fleet?.stop();
  });

  it('only admins link domains', async () => {
    const byUser = await api(
      a,
      'PUT',
      '/presence/federation/c.test',
      { url: 'ws://127.0.0.1:1/pubsub/federation', secret },
      people['a:alice']!.accessToken,
    );
    assert.equal(byUser.status, 403);
    const bad = await api(
      a,
      'PUT',
      '/presence/federation/Not_A_Domain',
      { url: 'ws://x', secret: 'short' },
      people['a:admin']!.accessToken,
    );
    assert.equal(bad.status, 400);
  });

  it('tells a user of A the statuses of a user of B as if local, within a second', async (t) => {
    const bob = people['b:bob']!;
    const bobAddress = `${bob.userId}@b.test`;
    const bobPhone = await open(b, bob);
    bobPhone.send('{"status": 1}');
    const alice = await open(a, people['a:alice']!);
    alice.send(JSON.stringify({ events: { [bobAddress]: 9 } }));
    // Answered at once (8 until B has said), then B's answer.
    await eventually(() => about(alice, bobAddress).includes(1), {
      timeoutMs: 20_000,
      message: 'bob’s ENABLE',
    });
    const before = Date.now();
    bobPhone.send('{"status": 2, "timestamp": "1627128694.693686"}');
    await eventually(
      () => alice.frames.includes(`{"status":2,"publisher":"${bobAddress}","timestamp":"1627128694.693686"}`),
      {
        timeoutMs: 10_000,
        message: 'bob’s BUSY on A',
      },
    );
    const latency = Date.now() - before;
    t.diagnostic(`federated status change: ${latency} ms`);
    // The figure is bench/'s; here a bound that only a broken link misses, on a loaded machine too.
    assert.ok(latency < scaledMs(3_000), `took ${latency} ms`);
  });

  it('applies B’s privacy rules: a blocked remote viewer sees UNKNOWN, another sees the status', async () => {
    const carol = people['b:carol']!;
    const alice = people['a:alice']!;
    const carolAddress = `${carol.userId}@b.test`;
    const rules = await api(
      b,
      'PUT',
      '/presence/privacy',
      { mode: 'blacklist', users: [`${alice.userId}@a.test`] },
      carol.accessToken,
    );
    assert.equal(rules.status, 200, JSON.stringify(rules.json));
    const carolPhone = await open(b, carol);
    carolPhone.send('{"status": 5}');
    const aliceClient = await open(a, alice);
    const daveClient = await open(a, people['a:dave']!);
    aliceClient.send(JSON.stringify({ events: { [carolAddress]: 9 } }));
    daveClient.send(JSON.stringify({ events: { [carolAddress]: 9 } }));
    await eventually(() => about(daveClient, carolAddress).includes(5), {
      timeoutMs: 20_000,
      message: 'dave sees DND',
    });
    carolPhone.send('{"status": 2}');
    await eventually(() => about(daveClient, carolAddress).includes(2), {
      timeoutMs: 10_000,
      message: 'dave sees BUSY',
    });
    // Alice was told about carol, and only ever 8.
    await eventually(() => about(aliceClient, carolAddress).length >= 2, {
      timeoutMs: 10_000,
      message: 'alice told',
    });
    assert.deepEqual([...new Set(about(aliceClient, carolAddress))], [8]);
  });

  it('loses no change while the link is cut for 10 s, and resumes from its checkpoint', async () => {
    const bob = people['b:bob']!;
    const bobAddress = `${bob.userId}@b.test`;
    const bobPhone = await open(b, bob);
    const alice = await open(a, people['a:alice']!);
    alice.send(JSON.stringify({ events: { [bobAddress]: 9 } }));
    bobPhone.send('{"status": 1}');
    await eventually(() => about(alice, bobAddress).at(-1) === 1, {
      timeoutMs: 20_000,
      message: 'bob ENABLE',
    });
    await link.cut();
    await eventually(
      async () => {
        const { json } = await api<{ links: { domain: string; connected: boolean }[] }>(
          a,
          'GET',
          '/presence/federation',
          undefined,
          people['a:admin']!.accessToken,
        );
        return json.links.find((l) => l.domain === 'b.test')?.connected === false;
      },
      { timeoutMs: 20_000, message: 'A sees the link down' },
    );
    const during = [4, 5, 6, 7, 2, 3, 5];
    const cutAt = Date.now();
    for (const status of during) {
      bobPhone.send(JSON.stringify({ status }));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const seenDuringCut = about(alice, bobAddress).length;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - cutAt))));
    assert.equal(about(alice, bobAddress).length, seenDuringCut, 'nothing arrives while cut');
    await link.restore();
    await eventually(
      () => {
        const after = about(alice, bobAddress).slice(seenDuringCut);
        // Every change, in order (a status re-sent by the catch-up may repeat).
        let i = 0;
        for (const status of after) if (status === during[i]) i++;
        return i === during.length;
      },
      { timeoutMs: 30_000, message: 'every change made during the cut' },
    ).catch((error: unknown) => {
      throw new Error(
        `after the cut alice got ${JSON.stringify(about(alice, bobAddress).slice(seenDuringCut))}`,
        { cause: error },
      );
    });
    const { json } = await api<{
      links: { domain: string; connected: boolean; lagMs: number | null; watches: number }[];
    }>(a, 'GET', '/presence/federation', undefined, people['a:admin']!.accessToken);
    const toB = json.links.find((l) => l.domain === 'b.test')!;
    assert.equal(toB.connected, true);
    assert.ok(toB.watches >= 2, JSON.stringify(toB));
    assert.equal(typeof toB.lagMs, 'number');
  });

  it('lists, unlinks and links again through the veche-presence CLI', async () => {
    const cli = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [path.join(import.meta.dirname, '../bin/veche-presence.ts'), ...args], {
        env: { ...process.env, VECHE_URL: b.origin, VECHE_TOKEN: people['b:admin']!.accessToken, ...env },
        encoding: 'utf8',
        timeout: 60_000,
      });
    const listed = cli(['--json', 'links']);
    assert.equal(listed.status, 0, listed.stderr);
    const links = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { domain: string; connected: boolean; watches: number });
    assert.equal(links.length, 1);
    assert.equal(links[0]!.domain, 'a.test');
    const url = `${a.origin.replace('http', 'ws')}/pubsub/federation`;
    assert.equal(cli(['unlink', 'a.test']).status, 0);
    assert.equal(cli(['--json', 'links']).stdout.trim(), '');
    const relinked = cli(['link', 'a.test', url], { VECHE_FEDERATION_SECRET: secret });
    assert.equal(relinked.status, 0, relinked.stderr);
    assert.match(relinked.stdout, /linked a\.test/);
    const noSecret = cli(['link', 'a.test', url], { VECHE_FEDERATION_SECRET: '' });
    assert.equal(noSecret.status, 2);
  });

  it('works the other way too: a user of B watches a user of A', async () => {
    const alice = people['a:alice']!;
    const aliceAddress = `${alice.userId}@a.test`;
    const aliceClient = await open(a, alice);
    const bob = await open(b, people['b:bob']!);
    bob.send(JSON.stringify({ events: { [aliceAddress]: 9 } }));
    aliceClient.send('{"status": 6}');
    await eventually(() => about(bob, aliceAddress).includes(6), {
      timeoutMs: 20_000,
      message: 'alice ABSENT on B',
    });
  });

  /** `who`'s WAMP session on `fleet`'s /ws, and what arrives on their presence topic. */
  async function realtime(fleet: Fleet, who: Account) {
    const session = await connectService({
      url: `${fleet.origin.replace('http', 'ws')}/ws`,
      authid: who.userId,
      secret: who.accessToken,
      log: createLogger({ service: 'federation-test', level: 'error' }),
    });
    sessions.push(session);
    const events: { userId: string; status: number; extension: string | null }[] = [];
    await session.subscribe(userTopic(who.userId, 'presence'), (payload) => {
      events.push(payload as (typeof events)[number]);
    });
    return events;
  }

  it('over /api and WAMP: subscribes to a user of B, is told their changes, reads their statuses', async () => {
    const bob = people['b:bob']!;
    const dave = people['a:dave']!;
    const bobAddress = `${bob.userId}@b.test`;
    const bobPhone = await open(b, bob);
    bobPhone.send('{"status": 1}');
    const events = await realtime(a, dave);
    const subscribed = await api<{ statuses: { userId: string; status: number }[] }>(
      a,
      'POST',
      '/presence/subscriptions',
      { subscribe: [bobAddress] },
      dave.accessToken,
    );
    assert.equal(subscribed.status, 200, JSON.stringify(subscribed.json));
    assert.equal(subscribed.json.statuses[0]?.userId, bobAddress);
    // The link is told of the new watch and B answers it with bob's status now.
    await eventually(() => events.some((e) => e.userId === bobAddress && e.status === 1), {
      timeoutMs: 20_000,
      message: 'bob’s ENABLE on dave’s topic',
    });
    bobPhone.send('{"status": 7}');
    await eventually(() => events.some((e) => e.userId === bobAddress && e.status === 7), {
      timeoutMs: 10_000,
      message: 'bob’s FORWARDING on dave’s topic',
    });
    assert.ok(events.every((e) => e.userId !== bobAddress || e.extension === null));
    const read = await api<{ statuses: { userId: string; status: number }[] }>(
      a,
      'GET',
      `/presence?users=${dave.userId},${encodeURIComponent(bobAddress)}`,
      undefined,
      dave.accessToken,
    );
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.deepEqual(
      read.json.statuses.find((e) => e.userId === bobAddress),
      { userId: bobAddress, extension: null, status: 7 },
    );
    const listed = await api<{ subscriptions: string[] }>(
      a,
      'GET',
      '/presence/subscriptions',
      undefined,
      dave.accessToken,
    );
    assert.deepEqual(listed.json.subscriptions, [bobAddress]);
    // A domain nobody linked is refused.
    const unlinked = await api(
      a,
      'POST',
      '/presence/subscriptions',
      { subscribe: [`${bob.userId}@c.test`] },
      dave.accessToken,
    );
    assert.equal(unlinked.status, 400);
    // Unsubscribed: the link stops watching bob for dave (the count A lists goes down).
    const links = async () =>
      (
        await api<{ links: { domain: string; watches: number }[] }>(
          a,
          'GET',
          '/presence/federation',
          undefined,
          people['a:admin']!.accessToken,
        )
      ).json.links.find((l) => l.domain === 'b.test')!.watches;
    const before = await links();
    assert.equal(
      (await api(a, 'POST', '/presence/subscriptions', { unsubscribe: [bobAddress] }, dave.accessToken))
        .status,
      200,
    );
    assert.equal(await links(), before - 1);
  });

  it('asks B for the history of a user of B, B’s privacy rules applied', async () => {
    const bob = people['b:bob']!;
    const carol = people['b:carol']!;
    const bobPhone = await open(b, bob);
    bobPhone.send('{"status": 4}');
    await eventually(
      async () =>
        (await api<{ status: number }>(b, 'GET', '/presence/status', undefined, bob.accessToken)).json
          .status === 4,
      { message: 'bob INCOMING on B' },
    );
    type History = { userId: string; status: number; changes: { status: number; at: string }[] };
    const history = (who: Account, user: string, query = '') =>
      api<History>(
        a,
        'GET',
        `/presence/history?userId=${encodeURIComponent(user)}${query}`,
        undefined,
        who.accessToken,
      );
    const bobs = await history(people['a:dave']!, `${bob.userId}@b.test`);
    assert.equal(bobs.status, 200, JSON.stringify(bobs.json));
    assert.equal(bobs.json.userId, `${bob.userId}@b.test`);
    assert.equal(bobs.json.status, 4);
    assert.equal(bobs.json.changes[0]?.status, 4);
    assert.ok(bobs.json.changes.length >= 3, JSON.stringify(bobs.json));
    const lastEnable = await history(people['a:dave']!, `${bob.userId}@b.test`, '&status=1&limit=1');
    assert.deepEqual(
      lastEnable.json.changes.map((c) => c.status),
      [1],
    );
    // Carol blacklisted alice (earlier test): alice learns nothing of her history, dave does.
    const hidden = await history(people['a:alice']!, `${carol.userId}@b.test`);
    assert.equal(hidden.status, 200);
    assert.equal(hidden.json.status, 8);
    assert.ok(
      hidden.json.changes.every((c) => c.status === 8),
      JSON.stringify(hidden.json),
    );
    const shown = await history(people['a:dave']!, `${carol.userId}@b.test`);
    assert.ok(
      shown.json.changes.some((c) => c.status === 5),
      JSON.stringify(shown.json),
    );
  });

  it('veche-presence watch <userId>@<domain> prints a user of B’s changes as a user of A sees them', async () => {
    const bob = people['b:bob']!;
    const bobAddress = `${bob.userId}@b.test`;
    const bobPhone = await open(b, bob);
    bobPhone.send('{"status": 1}');
    const watcher = spawn(
      process.execPath,
      [path.join(import.meta.dirname, '../bin/veche-presence.ts'), '--json', 'watch', bobAddress],
      {
        env: { ...process.env, VECHE_URL: a.origin, VECHE_TOKEN: people['a:dave']!.accessToken },
      },
    );
    after(() => watcher.kill('SIGKILL'));
    const lines: { userId: string; status: number }[] = [];
    let buffered = '';
    let stderr = '';
    watcher.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    watcher.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const complete = buffered.split('\n');
      buffered = complete.pop() ?? '';
      for (const line of complete) if (line) lines.push(JSON.parse(line) as (typeof lines)[number]);
    });
    const exited = new Promise<number | null>((resolve) => watcher.once('exit', resolve));
    const saw = (status: number, message: string) =>
      eventually(() => lines.some((l) => l.userId === bobAddress && l.status === status), {
        timeoutMs: 20_000,
        message,
      }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: ${JSON.stringify(lines)} ${stderr}`);
      });
    await saw(1, 'bob ENABLE');
    bobPhone.send('{"status": 5}');
    await saw(5, 'bob DND');
    assert.ok(
      lines.every((l) => l.userId === bobAddress),
      JSON.stringify(lines),
    );
    watcher.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    // As an operator the other domain's privacy has no viewer to apply to: refused as a usage error.
    const operator = spawnSync(
      process.execPath,
      [path.join(import.meta.dirname, '../bin/veche-presence.ts'), '--service', 'watch', bobAddress],
      { env: { ...process.env, VECHE_SERVICE_SECRET: 'x' }, encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(operator.status, 2, operator.stderr);
  });
});
