import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createLogger } from '@veche/log';
import { eventually, scaledMs } from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import { tokenSecretOf } from '../src/app.ts';
import { serviceSecret, startHarness, type Harness } from './support/harness.ts';
import { connectUser, errorUri } from './support/wamp-client.ts';

let h: Harness;
let chat: WampService;
before(async () => {
  h = await startHarness(import.meta.filename, { REQUIRE_VERIFIED_EMAIL: 'false' });
  chat = await connectService({
    url: h.routerUrl,
    authid: 'service:chat',
    secret: serviceSecret,
    log: createLogger({ service: 't', level: 'silent' }),
  });
});
after(async () => {
  await chat?.close();
  await h?.close();
});

async function user(name: string) {
  const email = `${name}@example.org`;
  const created = await h.gateway.app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { email, password: 'long enough password', displayName: name },
  });
  assert.equal(created.statusCode, 201);
  const login = await h.gateway.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email, password: 'long enough password' },
  });
  return login.json<{ accessToken: string; userId: string; refreshToken: string }>();
}

describe('a user on the WAMP router', () => {
  it('logs in with the access token as ticket and gets authid = user id, role user', async () => {
    const alice = await user('alice');
    const client = await connectUser(h.routerUrl, alice.userId, alice.accessToken);
    assert.equal(client.details['authid'], alice.userId);
    assert.equal(client.details['authrole'], 'user');
    client.close();
  });

  it('receives its own topic and is refused every topic outside its prefix, publish, register and call', async () => {
    const bob = await user('bob');
    const carol = await user('carol');
    const client = await connectUser(h.routerUrl, bob.userId, bob.accessToken);
    const received: unknown[] = [];
    await client.session.subscribe(`veche.user.${bob.userId}.rooms`, (_args, kwargs) =>
      received.push(kwargs),
    );
    for (const topic of [
      `veche.user.${carol.userId}.rooms`,
      `veche.user.${bob.userId}`,
      'veche.user',
      `veche.user.${bob.userId.slice(0, 8)}.rooms`,
      'veche.user.#',
      `veche.user.${bob.userId}x.rooms`,
      'veche.chat.rooms',
    ]) {
      await assert.rejects(
        client.session.subscribe(topic, () => {}),
        (e) => errorUri(e) === 'wamp.error.not_authorized',
        topic,
      );
    }
    await assert.rejects(
      client.session.publish(`veche.user.${bob.userId}.rooms`, [], {}, { acknowledge: true }) ??
        Promise.reject(new Error('no ack')),
      (e) => errorUri(e) === 'wamp.error.not_authorized',
    );
    await assert.rejects(
      client.session.register('veche.chat.post', () => null),
      (e) => errorUri(e) === 'wamp.error.not_authorized',
    );
    await assert.rejects(
      client.session.call('veche.gateway.authenticate', ['veche', bob.userId, { ticket: bob.accessToken }]),
      (e) => errorUri(e) === 'wamp.error.not_authorized',
    );
    await chat.publish(`veche.user.${bob.userId}.rooms`, { type: 'hello' }, { acknowledge: true });
    await chat.publish(`veche.user.${carol.userId}.rooms`, { type: 'secret' }, { acknowledge: true });
    await eventually(() => received.length > 0, { message: 'the event on bob’s topic' });
    assert.deepEqual(received, [{ type: 'hello' }]);
    client.close();
  });

  it('is refused with another user’s id, a forged, expired or alg-none token, or a service name', async () => {
    const dave = await user('dave');
    const erin = await user('erin');
    const key = new TextEncoder().encode(tokenSecretOf(h.config));
    const claims = { sid: 'x', role: 'user' };
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(dave.userId)
      .setIssuer('veche-gateway')
      .setAudience('veche')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(key);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(dave.userId)
      .setIssuer('veche-gateway')
      .setAudience('veche')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('another key of at least 32 characters'));
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const algNone = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: dave.userId, sid: 'x', role: 'user', iss: 'veche-gateway', aud: 'veche', exp: 9_999_999_999 })}.`;
    for (const [authid, ticket] of [
      [erin.userId, dave.accessToken],
      [dave.userId, expired],
      [dave.userId, forged],
      [dave.userId, algNone],
      [dave.userId, dave.refreshToken],
      ['service:chat', dave.accessToken],
    ] as const) {
      await assert.rejects(connectUser(h.routerUrl, authid, ticket), /refused/);
    }
  });

  it('a disabled user’s live sessions end at once, and it cannot join any more', async () => {
    // alice registered first in this file: she is the admin.
    const admin = (
      await h.gateway.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: 'alice@example.org', password: 'long enough password' },
      })
    ).json<{ accessToken: string }>();
    const frank = await user('frank');
    const client = await connectUser(h.routerUrl, frank.userId, frank.accessToken);
    const r = await h.gateway.app.inject({
      method: 'POST',
      url: `/api/admin/users/${frank.userId}/disable`,
      headers: { authorization: `Bearer ${admin.accessToken}` },
    });
    assert.equal(r.statusCode, 200);
    // The router ended the live session (wamp.session.kill_by_authid) before the answer came back.
    const closedWithin = await Promise.race([
      client.closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('still open'), scaledMs(2_000))),
    ]);
    assert.match(closedWithin, /veche\.close\.account_disabled/);
    await assert.rejects(connectUser(h.routerUrl, frank.userId, frank.accessToken), /refused/);
  });
});

describe('logging out everywhere', () => {
  it('ends the live WAMP sessions too', async () => {
    const heidi = await user('heidi');
    const client = await connectUser(h.routerUrl, heidi.userId, heidi.accessToken);
    const r = await h.gateway.app.inject({
      method: 'POST',
      url: '/api/auth/logout-all',
      headers: { authorization: `Bearer ${heidi.accessToken}` },
    });
    assert.equal(r.statusCode, 200);
    const closedWithin = await Promise.race([
      client.closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('still open'), scaledMs(2_000))),
    ]);
    assert.match(closedWithin, /veche\.close\.logged_out/);
    await assert.rejects(connectUser(h.routerUrl, heidi.userId, heidi.accessToken), /refused/);
  });
});

describe('a router restart', () => {
  it('the gateway registers its authenticator again, users log in again and forwarding recovers', async () => {
    const grace = await user('grace');
    await h.restartRouter();
    // The gateway's sessions reconnect with growing delay; the authenticator answers again soon after.
    const client = await eventually(
      async () => connectUser(h.routerUrl, grace.userId, grace.accessToken).catch(() => undefined),
      { timeoutMs: 15_000, message: 'a user session after the router restart' },
    );
    assert.equal(client.details['authid'], grace.userId);
    client.close();
    await eventually(async () => (await h.gateway.ready()).wamp, {
      timeoutMs: 15_000,
      message: 'the gateway ready again',
    });
  });
});
