/**
 * Kerberos login (issue 20) against a real MIT KDC in a throw-away realm on loopback and the local
 * fleet: principals and the service keytab made with kadmin.local, tickets with a real kinit, the
 * SPNEGO tokens and the mutual-authentication check by MIT's GSSAPI in client processes of their own.
 * The seed's flow is replayed: `Authorization: Negotiate` on the `/pubsub` upgrade, then status frames.
 * An admin maps principals to accounts; unknown, replayed, expired and wrong-service tokens are refused
 * with 401 and `WWW-Authenticate: Negotiate`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { eventually, startKdc, type KerberosService, type KerberosUser, type TestKdc } from '@veche/testing';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';

const clientScript = path.join(import.meta.dirname, 'support/negotiate-client.ts');

interface Account {
  userId: string;
  accessToken: string;
}

/** A Kerberos client process with `ccache` as its credentials; stdout lines as they come. */
function kerberosClient(kdc: TestKdc, ccache: string, args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [clientScript, ...args], {
    env: kdc.env(ccache),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    lines,
    send: (frame: string) => child.stdin!.write(`${frame}\n`),
    async line(predicate: (line: string) => boolean, what: string): Promise<string> {
      return eventually(() => lines.find(predicate), { timeoutMs: 30_000, message: what }).catch(
        (error: unknown) => {
          throw new Error(`${what}: ${lines.join(' | ')} ${stderr}`, { cause: error });
        },
      );
    },
    async close() {
      child.stdin!.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

const runClient = (kdc: TestKdc, ccache: string, args: string[]): string => {
  const result = spawnSync(process.execPath, [clientScript, ...args], {
    env: kdc.env(ccache),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
};

describe('Kerberos (GSS/SPNEGO) login against a real KDC', () => {
  let kdc: TestKdc;
  let fleet: Fleet;
  let service: string;
  let other: KerberosService;
  let aliceKerberos: KerberosUser;
  let malloryKerberos: KerberosUser;
  let pubsubUrl: string;
  let aliceCache: string;
  const people: Record<string, Account> = {};

  const api = async <T>(method: string, url: string, body?: unknown, token?: string, headers = {}) => {
    const response = await fetch(`${fleet.origin}/api${url}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, headers: response.headers, json: (await response.json()) as T };
  };

  async function signUp(name: string): Promise<Account> {
    const email = `${name}@example.org`;
    const password = 'long enough password';
    assert.equal((await api('POST', '/auth/register', { email, password, displayName: name })).status, 201);
    const login = await api<Account>('POST', '/auth/login', { email, password });
    assert.equal(login.status, 200);
    return login.json;
  }

  before(async () => {
    kdc = await startKdc({ hosts: ['veche.test', 'other.test'], clockSkewSeconds: 5 });
    aliceKerberos = kdc.addUser('alice');
    malloryKerberos = kdc.addUser('mallory');
    const gateway = kdc.addService('veche.test');
    service = gateway.name;
    // A service the gateway has no key of: tickets for it are refused.
    other = kdc.addService('other.test');
    fleet = await startFleet({
      env: {
        REQUIRE_VERIFIED_EMAIL: 'false',
        VECHE_ADMIN_EMAIL: 'admin@example.org',
        ACCESS_TOKEN_TTL_SECONDS: '600',
        ...gateway.gatewayEnv,
      },
    });
    pubsubUrl = `${fleet.origin.replace('http', 'ws')}/pubsub`;
    for (const name of ['admin', 'alice', 'bob']) people[name] = await signUp(name);
    aliceCache = aliceKerberos.kinit();
  });

  after(async () => {
    await fleet?.stop();
    await kdc?.stop();
  });

  it('lets an admin map principals to accounts, and no one else', async () => {
    const { admin, alice, bob } = people;
    const principal = aliceKerberos.principal;
    const byUser = await api(
      'PUT',
      `/admin/users/${alice!.userId}/kerberos`,
      { principals: [principal] },
      bob!.accessToken,
    );
    assert.equal(byUser.status, 403);
    const bad = await api(
      'PUT',
      `/admin/users/${alice!.userId}/kerberos`,
      { principals: ['no realm'] },
      admin!.accessToken,
    );
    assert.equal(bad.status, 400);
    const set = await api(
      'PUT',
      `/admin/users/${alice!.userId}/kerberos`,
      { principals: [principal] },
      admin!.accessToken,
    );
    assert.equal(set.status, 200, JSON.stringify(set.json));
    const taken = await api(
      'PUT',
      `/admin/users/${bob!.userId}/kerberos`,
      { principals: [principal] },
      admin!.accessToken,
    );
    assert.equal(taken.status, 409);
    const list = await api<{ principals: { principal: string; userId: string }[] }>(
      'GET',
      '/admin/kerberos',
      undefined,
      admin!.accessToken,
    );
    assert.deepEqual(
      list.json.principals.map((p) => [p.principal, p.userId]),
      [[principal, alice!.userId]],
    );
  });

  it('logs in with kinit → Negotiate on /api, with the usual tokens and a mutual-authentication answer', async () => {
    const result = JSON.parse(runClient(kdc, aliceCache, ['login', fleet.origin, service])) as {
      status: number;
      body: { accessToken: string; refreshToken: string; userId: string };
      mutual: boolean;
    };
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(result.body.userId, people['alice']!.userId);
    assert.equal(result.mutual, true, 'the client verified the server');
    const me = await api<{ userId: string }>('GET', '/me', undefined, result.body.accessToken);
    assert.equal(me.status, 200);
    assert.equal(me.json.userId, people['alice']!.userId);
    const refreshed = await api('POST', '/auth/refresh', { refreshToken: result.body.refreshToken });
    assert.equal(refreshed.status, 200);
  });

  it('replays the seed: Negotiate on the /pubsub upgrade, then status frames to a subscriber', async () => {
    const { alice, bob } = people;
    // bob watches alice over a bearer connection (any client), alice comes in with Kerberos.
    const watcher = kerberosClient(kdc, aliceCache, ['pubsub', pubsubUrl, service]);
    await watcher.line((l) => l.startsWith('open '), 'alice’s Kerberos connection');
    assert.equal(
      watcher.lines.find((l) => l.startsWith('open ')),
      'open {"mutual":true}',
    );
    const bobSocket = new WebSocket(`${pubsubUrl}?access_token=${bob!.accessToken}`);
    const bobFrames: string[] = [];
    bobSocket.addEventListener('message', (event) => bobFrames.push(String(event.data)));
    await new Promise((resolve) => bobSocket.addEventListener('open', resolve));
    bobSocket.send(JSON.stringify({ events: { [alice!.userId]: 9 } }));
    await eventually(() => bobFrames.find((f) => f.includes(`"publisher":"${alice!.userId}"`)), {
      message: 'bob’s subscription answer',
    });
    // The seed's published message shape, sent by the Kerberos client: the server names alice.
    watcher.send('{"status": 2, "events": {}, "timestamp": "1627128694.693686"}');
    await eventually(
      () => bobFrames.includes(`{"status":2,"publisher":"${alice!.userId}","timestamp":"1627128694.693686"}`),
      { message: 'alice’s BUSY reaches bob' },
    );
    bobSocket.close();
    await watcher.close();
  });

  it('refuses a replayed token, on /api and on /pubsub, with WWW-Authenticate: Negotiate', async () => {
    const token = runClient(kdc, aliceCache, ['token', service]);
    const first = await api('POST', '/auth/negotiate', undefined, undefined, {
      authorization: `Negotiate ${token}`,
    });
    assert.equal(first.status, 200);
    const again = await api('POST', '/auth/negotiate', undefined, undefined, {
      authorization: `Negotiate ${token}`,
    });
    assert.equal(again.status, 401);
    assert.equal(again.headers.get('www-authenticate'), 'Negotiate');
    const upgrade = await rawUpgrade(fleet.origin, token);
    assert.equal(upgrade.status, 401);
    assert.match(upgrade.challenge, /Negotiate/);
  });

  it('refuses a principal no admin mapped, a ticket for another service, garbage and an expired ticket', async () => {
    const malloryCache = malloryKerberos.kinit();
    const unmapped = JSON.parse(runClient(kdc, malloryCache, ['login', fleet.origin, service])) as {
      status: number;
    };
    assert.equal(unmapped.status, 401);
    const elsewhere = JSON.parse(runClient(kdc, aliceCache, ['login', fleet.origin, other.name])) as {
      status: number;
    };
    assert.equal(elsewhere.status, 401);
    const garbage = await api('POST', '/auth/negotiate', undefined, undefined, {
      authorization: 'Negotiate YWJjZGVm',
    });
    assert.equal(garbage.status, 401);
    assert.equal(garbage.headers.get('www-authenticate'), 'Negotiate');
    const refusedPubsub = kerberosClient(kdc, malloryCache, ['pubsub', pubsubUrl, service]);
    const refusal = JSON.parse(await refusedPubsub.line((l) => l.startsWith('{'), 'mallory refused')) as {
      refused: number;
      challenge: string;
    };
    assert.equal(refusal.refused, 401);
    assert.match(refusal.challenge, /Negotiate/);
    await refusedPubsub.close();

    // A token made while its ticket was good (5 seconds), presented after the ticket and the test
    // realm's 5 s of clock skew ended: a stolen old token. The wait is the precondition, not the
    // assertion. Once the ticket has ended the client cannot make a token from it at all.
    const shortCache = aliceKerberos.kinit({ lifetime: '5s' });
    const token = runClient(kdc, shortCache, ['token', service]);
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    const none = spawnSync(process.execPath, [clientScript, 'token', service], {
      env: kdc.env(shortCache),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.notEqual(none.status, 0, 'no token from an ended ticket');
    const expired = await api('POST', '/auth/negotiate', undefined, undefined, {
      authorization: `Negotiate ${token}`,
    });
    assert.equal(expired.status, 401);
  });
});

/** A raw `/pubsub` upgrade with a Negotiate header: its status and challenge. */
async function rawUpgrade(origin: string, token: string): Promise<{ status: number; challenge: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(`${origin}/pubsub`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        authorization: `Negotiate ${token}`,
      },
    });
    req.on('response', (response) => {
      response.resume();
      resolve({
        status: response.statusCode ?? 0,
        challenge: String(response.headers['www-authenticate'] ?? ''),
      });
    });
    req.on('upgrade', () => resolve({ status: 101, challenge: '' }));
    req.on('error', reject);
    req.end();
  });
}
