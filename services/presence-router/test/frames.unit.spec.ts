/**
 * The `/pubsub` frames of seed 002: its examples parse and encode as its clients expect, the timestamp
 * goes back out byte for byte, and every kind of bad frame is refused with a message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeErrorFrame,
  encodeStatusFrame,
  parseClientFrame,
  sharedTextFrame,
  type FrameLimits,
} from '../src/pubsub/frames.ts';

const limits: FrameLimits = { maxFrameBytes: 16_384, maxEvents: 100 };
const parse = (text: string, custom: FrameLimits = limits) =>
  parseClientFrame(text, Buffer.byteLength(text), custom);

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

describe('seed 002 examples', () => {
  it('the published message: status ENABLE, two subscriptions, two unsubscriptions, the timestamp', () => {
    const result = parse(seedPublication);
    assert.deepEqual(result, {
      ok: true,
      frame: {
        status: 1,
        events: [
          { address: 'uid1', operation: 9 },
          { address: 'uid2', operation: 9 },
          { address: 'uid3', operation: 10 },
          { address: 'uid4', operation: 10 },
        ],
        timestamp: '"1627128694.693686"',
      },
    });
  });

  it('the two received notifications, with and without a timestamp', () => {
    const withTime = encodeStatusFrame(1, 'uid1', '"1627128694.693686"');
    const without = encodeStatusFrame(2, 'uid2');
    assert.equal(withTime, '{"status":1,"publisher":"uid1","timestamp":"1627128694.693686"}');
    assert.equal(without, '{"status":2,"publisher":"uid2"}');
    assert.deepEqual(JSON.parse(withTime), { status: 1, publisher: 'uid1', timestamp: '1627128694.693686' });
    assert.deepEqual(Object.keys(JSON.parse(withTime) as object), ['status', 'publisher', 'timestamp']);
  });

  it('the subscription-only message of the seed client (events alone)', () => {
    const uid = '75f7e0ed-3f10-4ba1-8445-3ccbab91d4d8';
    assert.deepEqual(parse(JSON.stringify({ events: { [uid]: 9 } })), {
      ok: true,
      frame: { events: [{ address: uid, operation: 9 }] },
    });
  });

  it('a status-only message, and the empty message (every attribute is optional)', () => {
    assert.deepEqual(parse('{"status": 5}'), { ok: true, frame: { status: 5, events: [] } });
    assert.deepEqual(parse('{}'), { ok: true, frame: { events: [] } });
  });
});

describe('timestamp kept exactly as sent', () => {
  for (const raw of [
    '"1627128694.693686"',
    '1627128694.693686',
    '1627128694.6936861234567890123',
    '1e3',
    '1.0',
    '"2021-07-24T12:11:34.693686+03:00"',
    '"caf\\u00e9 \\"quoted\\""',
    '-0',
  ]) {
    it(`round-trips ${raw}`, () => {
      const result = parse(`{"status":2,"timestamp":${raw}}`);
      assert.ok(result.ok);
      assert.equal(result.frame.timestamp, raw);
      const out = encodeStatusFrame(2, 'u', result.frame.timestamp);
      assert.equal(out, `{"status":2,"publisher":"u","timestamp":${raw}}`);
      JSON.parse(out);
    });
  }

  it('a nested `timestamp` is not taken for the frame’s', () => {
    const result = parse('{"events":{},"x":{"timestamp":"inner"}}');
    assert.deepEqual(result, { ok: true, frame: { events: [] } });
  });
});

describe('the publisher is the server’s to set', () => {
  it('a client’s publisher is ignored', () => {
    assert.deepEqual(parse('{"status":1,"publisher":"someone-else"}'), {
      ok: true,
      frame: { status: 1, events: [] },
    });
  });
});

describe('bad frames are refused with a message', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"status":', /not JSON/],
    ['plain text', 'close', /not JSON/],
    ['an array', '[1,2]', /JSON object/],
    ['null', 'null', /JSON object/],
    ['a number', '42', /JSON object/],
    ['status 0', '{"status":0}', /status codes 1 to 8/],
    ['status 9 (an operation)', '{"status":9}', /status codes 1 to 8/],
    ['status as a string', '{"status":"1"}', /status codes 1 to 8/],
    ['status fractional', '{"status":1.5}', /status codes 1 to 8/],
    ['status null', '{"status":null}', /status codes 1 to 8/],
    ['events as an array', '{"events":["uid1"]}', /events must be an object/],
    ['events as a string', '{"events":"uid1"}', /events must be an object/],
    ['operation 11', '{"events":{"uid1":11}}', /9 \(SUBSCRIBE\) or 10/],
    ['operation 1', '{"events":{"uid1":1}}', /9 \(SUBSCRIBE\) or 10/],
    ['operation as a string', '{"events":{"uid1":"9"}}', /9 \(SUBSCRIBE\) or 10/],
    ['a uid with a dot', '{"events":{"a.b":9}}', /not a user id/],
    ['an empty uid', '{"events":{"":9}}', /not a user id/],
    ['a wildcard uid', '{"events":{"*":9}}', /not a user id/],
    ['a nine-digit number', '{"events":{"123456789":9}}', /not a user id/],
    ['timestamp as an object', '{"timestamp":{}}', /timestamp must be/],
    ['timestamp as true', '{"timestamp":true}', /timestamp must be/],
    ['timestamp null', '{"timestamp":null}', /timestamp must be/],
    ['timestamp too long', `{"timestamp":"${'1'.repeat(200)}"}`, /timestamp must be/],
    ['timestamp infinite', '{"timestamp":1e999}', /timestamp must be/],
  ];
  for (const [name, text, message] of cases) {
    it(name, () => {
      const result = parse(text);
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.message, message);
    });
  }

  it('more uids than allowed', () => {
    const events = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`u${i}`, 9]));
    const result = parse(JSON.stringify({ events }));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.message, /at most 100 uids/);
    const exactly = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`u${i}`, 9]));
    assert.equal(parse(JSON.stringify({ events: exactly })).ok, true);
  });

  it('an oversize frame is refused before it is parsed', () => {
    const text = JSON.stringify({ status: 1, padding: 'x'.repeat(20_000) });
    const result = parse(text);
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.message, /larger than 16384 bytes/);
  });

  it('error frames have the one shape', () => {
    assert.deepEqual(JSON.parse(encodeErrorFrame('validation', 'The frame is not JSON')), {
      error: { code: 'validation', message: 'The frame is not JSON' },
    });
  });

  it('a refused frame never echoes what the client sent', () => {
    const hostile = '<script>alert(1)</script>';
    const result = parse(JSON.stringify({ events: { [hostile]: 9 } }));
    assert.equal(result.ok, false);
    assert.ok(!(result.ok ? '' : result.message).includes('script'));
  });
});

describe('a frame shared by many connections', () => {
  it('is the whole unmasked text frame of RFC 6455 §5.2, for each length encoding', () => {
    const cases: [number, number[]][] = [
      [0, [0x81, 0]],
      [125, [0x81, 125]],
      [126, [0x81, 126, 0, 126]],
      [65_535, [0x81, 126, 0xff, 0xff]],
      [65_536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    ];
    for (const [length, header] of cases) {
      const text = 'é'.repeat(length >> 1) + 'x'.repeat(length & 1);
      const { payload, wire } = sharedTextFrame(text);
      assert.equal(payload.toString('utf8'), text);
      assert.equal(payload.length, length);
      assert.deepEqual([...wire.subarray(0, header.length)], header, `length ${length}`);
      assert.ok(wire.subarray(header.length).equals(payload));
    }
  });
});
