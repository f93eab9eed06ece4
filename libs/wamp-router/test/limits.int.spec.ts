/**
 * The router's limits on idle and greedy clients, and request targets that must not throw: each
 * case runs on its own small router with tight settings.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startRouter, type Authenticator, type WampRouter } from '../src/index.ts';
import { capturedLogger, connectClient, rawClient, rawJoin } from './support/clients.ts';

const users: Authenticator = ({ authid, ticket }) =>
  Promise.resolve(ticket === `ticket-${authid}` ? { authrole: 'user' } : null);

/** Sends a raw HTTP upgrade request for `target` and returns the status line of the answer. */
function rawUpgrade(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
          'Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n',
      );
    });
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) {
        resolve(answer.split('\r\n', 1)[0]!);
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n', 1)[0] ?? ''));
  });
}

describe('wamp router limits', () => {
  const captured = capturedLogger('debug');
  let router: WampRouter;

  before(async () => {
    router = await startRouter({
      log: captured.log,
      authenticate: users,
      path: '/ws',
      // Long enough that a loaded machine's client says HELLO in time (300 ms closed a joining one).
      authTimeoutMs: 1_500,
      maxSubscriptionsPerSession: 3,
    });
  });
  after(() => router.close());

  it('answers odd request targets with 404 instead of throwing, and keeps serving', async () => {
    for (const target of ['//', '//x', '/ws/../x', 'http://[', '*', '/%zz']) {
      assert.match(await rawUpgrade(router.port, target), /^HTTP\/1\.1 404/, target);
    }
    const client = await connectClient(router.url, '1', 'ticket-1');
    client.close();
    assert.equal(
      captured.lines.filter((line) => String(line['msg']).includes('unhandled')).length,
      0,
      'no unhandled errors',
    );
  });

  it('closes a connection that never says HELLO (1008), but not one that has joined', async () => {
    const idle = await rawClient(router.url);
    const joined = await rawClient(router.url);
    const welcome = await rawJoin(joined, '2', 'ticket-2');
    assert.equal(welcome[0], 2);
    const started = Date.now();
    assert.equal(await idle.closed, 1008);
    assert.ok(Date.now() - started < 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    assert.equal(joined.socket.readyState, joined.socket.OPEN);
    joined.socket.close();
  });

  it('refuses subscriptions beyond the per-session limit, and counts unsubscribes', async () => {
    const client = await rawClient(router.url);
    await rawJoin(client, '3', 'ticket-3');
    const subscribe = async (requestId: number, topic: string) => {
      client.send([32, requestId, {}, topic]);
      return client.next();
    };
    const ids: unknown[] = [];
    for (const [index, stream] of ['rooms', 'presence', 'logs'].entries()) {
      const reply = await subscribe(index + 1, `veche.user.3.${stream}`);
      assert.equal(reply[0], 33, JSON.stringify(reply));
      ids.push(reply[2]);
    }
    // The same topic again is one more subscription in WAMP terms: still refused at the limit.
    const refused = await subscribe(4, 'veche.user.3.account');
    assert.deepEqual([refused[0], refused[2], refused[4]], [8, 4, 'veche.error.rate_limited']);
    client.send([34, 5, ids[0]]);
    assert.equal((await client.next())[0], 35);
    // An unsubscribe of an id it does not hold does not make room.
    client.send([34, 6, 123456789]);
    assert.equal((await client.next())[0], 8);
    assert.equal((await subscribe(7, 'veche.user.3.account'))[0], 33);
    assert.equal((await subscribe(8, 'veche.user.3.other'))[0], 8);
    client.socket.close();
  });
});
