/**
 * `/pubsub` as seed 002's clients use it, with a plain `ws` client against the real app (PostgreSQL,
 * the WAMP router, RabbitMQ): SUBSCRIBE answered at once, publications with the publisher set by the
 * server and the timestamp kept byte for byte, every connection of a user told, bad frames answered
 * and survived, floods closed with the documented code, upgrades without a valid token refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { presenceConnections } from '@veche/metrics';
import { eventually } from '@veche/testing';
import { refusedUpgrade } from './support/pubsub-client.ts';
import { startHarness, tokenOf, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename);
});
after(() => h?.close());

const liveConnections = async (userId: string) =>
  (
    await h.database.db
      .$extendTables<{ connections: { user_id: string } }>()
      .selectFrom('connections')
      .select('user_id')
      .where('user_id', '=', userId)
      .execute()
  ).length;

describe('the seed’s exchange', () => {
  it('answers SUBSCRIBE at once, then tells every change with the server’s publisher and the exact timestamp', async () => {
    const watcher = await h.connect('w1');
    watcher.send({ events: { p1: 9 } });
    // p1 has never connected.
    assert.equal(await watcher.next(), '{"status":3,"publisher":"p1"}');

    const publisher = await h.connect('p1');
    assert.equal(await watcher.next(), '{"status":1,"publisher":"p1"}');

    publisher.send('{"status": 2, "timestamp": "1627128694.693686"}');
    assert.equal(await watcher.next(), '{"status":2,"publisher":"p1","timestamp":"1627128694.693686"}');

    // A number timestamp, and a forged publisher: the number goes out as written, the publisher is p1.
    publisher.send('{"status":5,"publisher":"someone-else","timestamp":1627128694.6936861234567}');
    assert.equal(await watcher.next(), '{"status":5,"publisher":"p1","timestamp":1627128694.6936861234567}');

    // The same status again is a publication too (seed clients measure delivery this way).
    publisher.send({ status: 5 });
    assert.equal(await watcher.next(), '{"status":5,"publisher":"p1"}');

    // A second SUBSCRIBE is answered again with the current status and the timestamp it came with.
    watcher.send({ events: { p1: 9 } });
    assert.equal(await watcher.next(), '{"status":5,"publisher":"p1"}');

    await publisher.close();
    assert.equal(await watcher.next(), '{"status":3,"publisher":"p1"}');
    await watcher.close();
  });

  it('the seed’s full publication: a status and subscriptions and unsubscriptions in one frame', async () => {
    const a = await h.connect('seed-a');
    const b = await h.connect('seed-b');
    b.send({ status: 4 });
    await eventually(async () => (await h.app.api.myPresence('seed-b')).status === 4, {
      message: 'b is INCOMING',
    });
    a.send(
      '{"status": 1, "events": {"seed-b": 9, "seed-c": 9, "seed-d": 10, "seed-e": 10}, "timestamp": "1627128694.693686"}',
    );
    const answers = [await a.nextJson(), await a.nextJson()];
    assert.deepEqual(
      answers.sort((x, y) => String(x['publisher']).localeCompare(String(y['publisher']))),
      [
        { status: 4, publisher: 'seed-b' },
        { status: 3, publisher: 'seed-c' },
      ],
    );
    // b unsubscribes from nothing and subscribes to a: told a's status with a's timestamp.
    b.send({ events: { 'seed-a': 9 } });
    assert.equal(await b.next(), '{"status":1,"publisher":"seed-a","timestamp":"1627128694.693686"}');
    // a unsubscribes (a later answer proves it was handled), b changes, a subscribes again.
    a.send({ events: { 'seed-b': 10, 'seed-z': 9 } });
    assert.equal(await a.next(), '{"status":3,"publisher":"seed-z"}');
    b.send({ status: 2 });
    await eventually(async () => (await h.app.api.myPresence('seed-b')).status === 2, {
      message: 'b is BUSY',
    });
    a.send({ events: { 'seed-b': 9 } });
    // Told b's current status at once; the change it missed while unsubscribed was not sent.
    assert.equal(await a.next(), '{"status":2,"publisher":"seed-b"}');
    assert.equal(a.frames.length, 4);
    await a.close();
    await b.close();
  });

  it('tells every connection of a user that subscribed', async () => {
    const phone = await h.connect('multi');
    const desk = await h.connect('multi', { via: 'query' });
    phone.send({ events: { 'multi-target': 9 } });
    desk.send({ events: { 'multi-target': 9 } });
    assert.equal(await phone.next(), '{"status":3,"publisher":"multi-target"}');
    assert.equal(await desk.next(), '{"status":3,"publisher":"multi-target"}');
    const target = await h.connect('multi-target');
    assert.equal(await phone.next(), '{"status":1,"publisher":"multi-target"}');
    assert.equal(await desk.next(), '{"status":1,"publisher":"multi-target"}');
    target.send({ status: 7, timestamp: 'x' });
    assert.equal(await phone.next(), '{"status":7,"publisher":"multi-target","timestamp":"x"}');
    assert.equal(await desk.next(), '{"status":7,"publisher":"multi-target","timestamp":"x"}');
    // Unsubscribing one connection leaves the other subscribed.
    desk.send({ events: { 'multi-target': 10 } });
    desk.send({ events: { 'nobody-here': 9 } });
    assert.equal(await desk.next(), '{"status":3,"publisher":"nobody-here"}');
    target.send({ status: 1 });
    assert.equal(await phone.next(), '{"status":1,"publisher":"multi-target"}');
    assert.equal(desk.frames.length, 4, 'the unsubscribed connection was not told');
    for (const client of [phone, desk, target]) await client.close();
  });

  it('a user’s connections keep the user registered until the last one closes', async () => {
    const pubsubGauge = async () =>
      (await presenceConnections.get()).values.find((v) => v.labels.transport === 'pubsub')?.value ?? 0;
    // The earlier tests closed every client they opened: the server's side of them closes soon after.
    await eventually(async () => (await pubsubGauge()) === 0, { message: 'no connection left open' });
    const watcher = await h.connect('reg-w');
    watcher.send({ events: { 'reg-u': 9 } });
    assert.equal(await watcher.next(), '{"status":3,"publisher":"reg-u"}');
    const first = await h.connect('reg-u');
    const second = await h.connect('reg-u');
    assert.equal(await watcher.next(), '{"status":1,"publisher":"reg-u"}');
    assert.equal(await pubsubGauge(), 3, 'veche_presence_connections{transport="pubsub"}');
    await first.close();
    // The server records the close once it has read it (after the client's close handshake ends).
    await eventually(async () => (await liveConnections('reg-u')) === 1, { message: 'the first one gone' });
    await second.close();
    assert.equal(await watcher.next(), '{"status":3,"publisher":"reg-u"}');
    assert.equal(watcher.frames.length, 3, 'closing the first connection told nobody anything');
    await watcher.close();
    await eventually(async () => (await pubsubGauge()) === 0, { message: 'the gauge back down' });
  });
});

describe('bad frames', () => {
  it('get an error frame each, and the connection goes on working', async () => {
    const client = await h.connect('bad-frames');
    const bad = [
      'not json',
      '[]',
      '{"status":0}',
      '{"status":"2"}',
      '{"events":{"x":11}}',
      '{"events":{"a.b":9}}',
      '{"events":[]}',
      '{"timestamp":{}}',
      JSON.stringify({ events: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`u${i}`, 9])) }),
      JSON.stringify({ status: 1, padding: 'x'.repeat(20_000) }),
    ];
    for (const frame of bad) {
      client.send(frame);
      const answer = await client.nextJson<{ error: { code: string; message: string } }>();
      assert.equal(answer.error.code, 'validation', frame.slice(0, 40));
      assert.equal(typeof answer.error.message, 'string');
      assert.deepEqual(Object.keys(answer), ['error']);
    }
    client.socket.send(Buffer.from('{"status":1}'), { binary: true });
    assert.equal((await client.nextJson<{ error: { code: string } }>()).error.code, 'validation');
    // Still working: a good frame after all of that.
    client.send({ events: { 'bad-frames-target': 9 } });
    assert.equal(await client.next(), '{"status":3,"publisher":"bad-frames-target"}');
    assert.equal((await h.app.api.myPresence('bad-frames')).status, 1, 'no bad frame changed the status');
    await client.close();
  });
});

describe('upgrades', () => {
  it('without a valid token answer 401 and open nothing', async () => {
    // The earlier tests closed every client; the server counts a close when it has read it.
    await eventually(() => h.app.pubsub.connectionCount() === 0, { message: 'earlier clients closed' });
    const cases = [
      {},
      { headers: { authorization: 'Bearer not-a-token' } },
      { headers: { authorization: 'Basic dXNlcjpwYXNz' } },
    ];
    for (const options of cases) {
      const refused = await refusedUpgrade(h.url, options);
      assert.equal(refused.status, 401);
      // Both ways in are offered (issue 20: Kerberos as well as access tokens).
      assert.equal(refused.headers['www-authenticate'], 'Bearer, Negotiate');
      assert.deepEqual(JSON.parse(refused.body), {
        error: { code: 'unauthorized', message: 'Authentication required' },
      });
    }
    const viaQuery = await refusedUpgrade(`${h.url}?access_token=forged`);
    assert.equal(viaQuery.status, 401);
    assert.equal(h.app.pubsub.connectionCount(), 0, 'no refused upgrade left a connection open');
    const other = await refusedUpgrade(h.url.replace('/pubsub', '/elsewhere'), {
      headers: { authorization: `Bearer ${tokenOf('u')}` },
    });
    assert.equal(other.status, 404);
  });
});

describe('floods', () => {
  it('are told once, then closed with 1008', async () => {
    const flood = await startHarness(`${import.meta.filename}-flood`, {
      overrides: { PUBSUB_FRAMES_PER_SECOND: '1', PUBSUB_FRAME_BURST: '5' },
    });
    try {
      const client = await flood.connect('flooder');
      for (let i = 0; i < 30; i++) client.send({ events: { [`f${i}`]: 9 } });
      const { code, reason } = await client.closed;
      assert.equal(code, 1008);
      assert.equal(reason, 'rate limit exceeded');
      const errors = client.frames.filter((f) => f.includes('"error"'));
      assert.equal(errors.length, 1);
      assert.equal((JSON.parse(errors[0]!) as { error: { code: string } }).error.code, 'rate_limited');
      assert.ok(client.frames.length <= 7, 'at most the burst was answered');
    } finally {
      await flood.close();
    }
  });
});
