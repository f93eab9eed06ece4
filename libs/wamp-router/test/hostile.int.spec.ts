/**
 * Hostile clients against the router: each attack must end (at most) the attacker's own connection,
 * while a witness session keeps receiving and a new well-behaved client still authenticates,
 * subscribes, receives, and is still refused what users may not do. fox-wamp as shipped crashes the
 * process on several of these (see docs/adr/0004-local-wamp-router.md).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@veche/testing';
import type { Authenticator } from '../src/index.ts';
import { rawClient, rawJoin, type RawClient, type TestClient } from './support/clients.ts';
import { testSecret, testUsers, useTestRouter } from './support/router.ts';

/** `slow` takes 300 ms to be admitted (a handshake in progress); the others as testUsers. */
const users: Authenticator = async (request, calls) => {
  if (request.authid === 'slow') {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { authrole: 'user' };
  }
  return testUsers(request, calls);
};

const ABORT = 3;
const protocolViolation = 1002;

describe('wamp router under hostile clients', () => {
  const router = useTestRouter({ logLevel: 'debug', maxPayloadBytes: 64 * 1024, users });
  const { captured } = router;
  let service: TestClient;
  let witness: TestClient;
  const witnessEvents: unknown[] = [];
  let healthChecks = 0;

  before(async () => {
    service = await router.connect('service:chat');
    witness = await router.connect('100');
    await witness.session.subscribe('veche.user.100.rooms', (args) => witnessEvents.push(args));
  });

  /** What must hold after every attack. */
  async function assertRouterHealthy(): Promise<void> {
    healthChecks += 1;
    // The session that was there all along still receives.
    await service.session.publish('veche.user.100.rooms', [healthChecks], {}, { acknowledge: true });
    await eventually(() => witnessEvents.some((args) => (args as number[])[0] === healthChecks), {
      timeoutMs: 5_000,
      message: 'the witness event',
    });
    // A new user authenticates, subscribes to their own topic and receives.
    const user = await router.connect('200');
    try {
      const received: unknown[] = [];
      await user.session.subscribe('veche.user.200.rooms', (args) => received.push(args));
      await service.session.publish('veche.user.200.rooms', ['hello'], {}, { acknowledge: true });
      await eventually(() => received.length === 1, { timeoutMs: 5_000, message: 'the new user’s event' });
      // …and is still refused what users may not do.
      const refused = async (promise: Promise<unknown> | undefined) =>
        assert.rejects(promise!, (error: { error?: string }) => error.error === 'wamp.error.not_authorized');
      await refused(user.session.subscribe('veche.user.100.rooms', () => {}));
      await refused(user.session.publish('veche.user.200.rooms', [], {}, { acknowledge: true }));
      await refused(user.session.register('veche.user.200.rpc', () => null));
      await refused(user.session.call('wamp.session.count', []));
    } finally {
      user.close();
    }
    assert.equal(
      captured.lines.filter((line) => line['msg'] === 'unhandled promise rejection (kept the router running)')
        .length,
      0,
    );
  }

  async function expectProtocolViolation(client: RawClient): Promise<void> {
    const abort = await client.next();
    assert.equal(abort[0], ABORT);
    assert.equal(abort[2], 'wamp.error.protocol_violation');
    assert.equal(await client.closed, protocolViolation);
  }

  it('is healthy before any attack', async () => {
    await assertRouterHealthy();
  });

  for (const realm of ['Bad Realm!', 'veche2', '', 'VECHE', 'a'.repeat(10_000)]) {
    it(`aborts an unknown realm name (${JSON.stringify(realm.slice(0, 12))}) with no_such_realm`, async () => {
      const client = await rawClient(router.url);
      client.send([1, realm, { authmethods: ['ticket'], authid: '1' }]);
      const abort = await client.next();
      assert.deepEqual([abort[0], abort[2]], [ABORT, 'wamp.error.no_such_realm']);
      await client.closed;
      await assertRouterHealthy();
    });
  }

  for (const realm of [42, null, { name: 'veche' }, ['veche']]) {
    it(`treats a realm that is not a string (${JSON.stringify(realm)}) as a protocol violation`, async () => {
      const client = await rawClient(router.url);
      client.send([1, realm, { authmethods: ['ticket'], authid: '1' }]);
      await expectProtocolViolation(client);
      await assertRouterHealthy();
    });
  }

  it('closes a connection that sends invalid UTF-8 in a text frame (1007)', async () => {
    const client = await rawClient(router.url);
    client.socket.send(Buffer.from([0x5b, 0x31, 0xff, 0xfe, 0x5d]), { binary: false });
    assert.equal(await client.closed, 1007);
    await eventually(() => captured.lines.some((line) => line['msg'] === 'socket error'), {
      timeoutMs: 2_000,
    });
    await assertRouterHealthy();
  });

  it('closes a connection that sends an oversized frame (1009)', async () => {
    const client = await rawClient(router.url);
    client.socket.send(JSON.stringify([1, 'veche', { authid: 'x'.repeat(128 * 1024) }]));
    assert.equal(await client.closed, 1009);
    await assertRouterHealthy();
  });

  it('closes a connection that sends an unmasked frame (1002)', async () => {
    const client = await rawClient(router.url);
    client.socket.send(JSON.stringify([1, 'veche', { authmethods: ['ticket'], authid: '1' }]), {
      mask: false,
    });
    assert.equal(await client.closed, protocolViolation);
    await assertRouterHealthy();
  });

  for (const text of ['not json', '{"unterminated": ', '', 'null', '42', '"hello"', '{"a":1}', '[]']) {
    it(`aborts a non-WAMP text message ${JSON.stringify(text)} as a protocol violation`, async () => {
      const client = await rawClient(router.url);
      client.socket.send(text);
      await expectProtocolViolation(client);
      await assertRouterHealthy();
    });
  }

  it('aborts a binary frame on wamp.2.json as a protocol violation', async () => {
    const client = await rawClient(router.url);
    client.socket.send(Buffer.from(JSON.stringify([1, 'veche', {}])), { binary: true });
    await expectProtocolViolation(client);
    await assertRouterHealthy();
  });

  it('refuses an upgrade that does not offer wamp.2.json', async () => {
    await assert.rejects(rawClient(router.url, ['mqtt']), /Unexpected server response: 400/);
    await assertRouterHealthy();
  });

  const beforeWelcome: [string, unknown[]][] = [
    ['a HELLO without details', [1, 'veche']],
    ['a HELLO with details of the wrong type', [1, 'veche', 'details']],
    ['a REGISTER without anything', [64]],
    ['a CALL before joining', [48, 1, {}, 'veche.chat.x', [], {}]],
    ['a SUBSCRIBE before joining', [32, 1, {}, 'veche.user.1.rooms']],
    ['an AUTHENTICATE before HELLO', [5, 'ticket', {}]],
    ['a router-to-client message type', [2, 1, {}]],
    ['an unknown message type', [999, 1]],
    ['a message type that is not a number', ['1', 'veche', {}]],
  ];
  for (const [name, message] of beforeWelcome) {
    it(`aborts ${name} as a protocol violation`, async () => {
      const client = await rawClient(router.url);
      client.send(message);
      await expectProtocolViolation(client);
      await assertRouterHealthy();
    });
  }

  it('aborts a HELLO without ticket, or without an authid', async () => {
    for (const details of [{ authmethods: ['anonymous'], authid: '1' }, { authmethods: ['ticket'] }]) {
      const client = await rawClient(router.url);
      client.send([1, 'veche', details]);
      const abort = await client.next();
      assert.equal(abort[0], ABORT);
      await client.closed;
    }
    await assertRouterHealthy();
  });

  it('aborts a second HELLO and a second AUTHENTICATE', async () => {
    const twiceHello = await rawClient(router.url);
    twiceHello.send([1, 'veche', { authmethods: ['ticket'], authid: '1' }]);
    assert.equal((await twiceHello.next())[0], 4);
    twiceHello.send([1, 'veche', { authmethods: ['ticket'], authid: '1' }]);
    await expectProtocolViolation(twiceHello);

    const twiceAuthenticate = await rawClient(router.url);
    twiceAuthenticate.send([1, 'veche', { authmethods: ['ticket'], authid: 'slow' }]);
    assert.equal((await twiceAuthenticate.next())[0], 4);
    twiceAuthenticate.send([5, 'x', {}]);
    twiceAuthenticate.send([5, 'x', {}]);
    await expectProtocolViolation(twiceAuthenticate);
    await assertRouterHealthy();
  });

  it('does not join a session whose client left during authentication', async () => {
    // The service, the witness and fox-wamp's internal API session; the health check's user has left.
    const baseline = 3;
    await eventually(() => router.sessionCount() === baseline, {
      timeoutMs: 2_000,
      message: 'settled sessions',
    });
    const client = await rawClient(router.url);
    client.send([1, 'veche', { authmethods: ['ticket'], authid: 'slow' }]);
    assert.equal((await client.next())[0], 4);
    client.send([5, 'ticket', {}]);
    client.socket.terminate();
    await new Promise((resolve) => setTimeout(resolve, 500)); // past the slow authenticator
    assert.equal(router.sessionCount(), baseline);
    await assertRouterHealthy();
  });

  const afterWelcome: [string, unknown[]][] = [
    ['a SUBSCRIBE with null options', [32, 1, null, 'veche.user.300.rooms']],
    ['a CALL with a string request id', [48, 'a', {}, 'veche.chat.x']],
    ['a PUBLISH with a numeric topic', [16, 1, {}, 5]],
    ['a REGISTER with an empty procedure', [64, 1, {}, '']],
    ['a CALL with args that are not a list', [48, 2, {}, 'veche.chat.x', 'args']],
    ['an UNSUBSCRIBE without ids', [34]],
    ['a YIELD with kwargs that are a list', [70, 1, {}, [], []]],
    ['a second HELLO', [1, 'veche', { authmethods: ['ticket'], authid: '300' }]],
  ];
  for (const [name, message] of afterWelcome) {
    it(`aborts ${name} from a joined user as a protocol violation`, async () => {
      const client = await rawClient(router.url);
      assert.equal((await rawJoin(client, '300', 'ticket-300'))[0], 2);
      client.send(message);
      await expectProtocolViolation(client);
      await assertRouterHealthy();
    });
  }

  it('answers well-formed messages about unknown ids without closing anything', async () => {
    const client = await rawClient(router.url);
    assert.equal((await rawJoin(client, 'service:attacker', testSecret))[0], 2);
    client.send([8, 68, 123456, {}, 'veche.error.internal', [], {}]); // ERROR for no pending invocation
    client.send([70, 123457, {}, ['result']]); // YIELD for no pending invocation
    client.send([34, 1, 987654]); // UNSUBSCRIBE of nothing
    client.send([32, 2, {}, 'veche.user.400.rooms']);
    let reply = await client.next();
    while (reply[0] !== 33) reply = await client.next(); // SUBSCRIBED: the session is still served
    client.socket.close();
    await assertRouterHealthy();
  });

  it('ignores fox-wamp subscribe filters that would make a publisher’s delivery throw', async () => {
    const client = await rawClient(router.url);
    assert.equal((await rawJoin(client, '500', 'ticket-500'))[0], 2);
    client.send([32, 1, { filter: { a: 1 }, retained: true }, 'veche.user.500.rooms']);
    assert.equal((await client.next())[0], 33);
    await service.session.publish('veche.user.500.rooms', [5], {}, { acknowledge: true });
    const event = await client.next();
    assert.deepEqual([event[0], event[4]], [36, [5]]);
    client.socket.close();
    await assertRouterHealthy();
  });

  it('refuses a user’s wildcard subscription and publication in fox-wamp syntax', async () => {
    const client = await rawClient(router.url);
    assert.equal((await rawJoin(client, '600', 'ticket-600'))[0], 2);
    for (const [id, topic] of [
      [1, 'veche.user.#'],
      [2, 'veche.user.*.rooms'],
      [3, 'veche.user.600.#'],
      [4, '#'],
    ] as const) {
      client.send([32, id, {}, topic]);
      const reply = await client.next();
      assert.deepEqual([reply[0], reply[1], reply[2], reply[4]], [8, 32, id, 'wamp.error.not_authorized']);
    }
    client.send([16, 9, { acknowledge: true }, 'veche.user.100.rooms', ['spoof']]);
    const reply = await client.next();
    assert.deepEqual([reply[0], reply[1], reply[4]], [8, 16, 'wamp.error.not_authorized']);
    client.socket.close();
    await assertRouterHealthy();
    assert.ok(!witnessEvents.some((args) => (args as unknown[])[0] === 'spoof'));
  });

  it('survives a flood of connections that close mid-handshake', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => rawClient(router.url)));
    for (const [index, client] of clients.entries()) {
      if (index % 2 === 0) client.send([1, 'veche', { authmethods: ['ticket'], authid: '1' }]);
      client.socket.terminate();
    }
    await assertRouterHealthy();
  });
});
