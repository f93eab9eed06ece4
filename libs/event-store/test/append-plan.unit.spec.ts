import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isVecheError } from '@veche/errors';
import {
  encodeEvents,
  encodeExpectedVersion,
  notificationChannel,
  prepareEvents,
  takeBatch,
} from '../src/append-plan.ts';
import { compareCheckpoints } from '../src/checkpoint.ts';
import { backoffMs } from '../src/subscription.ts';

const sources = (ambient?: string) => {
  let n = 0;
  return {
    now: () => new Date('2026-11-23T10:00:00.000Z'),
    newId: () => `id-${++n}`,
    ambientCorrelationId: () => ambient,
  };
};

describe('prepareEvents', () => {
  it("gives each event its own id and the append's context; a chain without correlation starts at the first event", () => {
    const [a, b] = prepareEvents(
      [
        { type: 'x', data: 1 },
        { type: 'y', data: undefined, metadata: { actor: 'user-2', extra: true } },
      ],
      { actor: 'user-1' },
      sources(),
    );
    assert.deepEqual(a, {
      type: 'x',
      data: 1,
      metadata: {
        eventId: 'id-1',
        occurredAt: '2026-11-23T10:00:00.000Z',
        actor: 'user-1',
        correlationId: 'id-1',
        causationId: 'id-1',
      },
    });
    assert.equal(b!.data, null);
    assert.equal(b!.metadata.actor, 'user-2');
    assert.equal(b!.metadata['extra'], true);
    assert.equal(b!.metadata.eventId, 'id-2');
    assert.equal(b!.metadata.correlationId, 'id-1');
  });

  it('takes the correlation from the context first, then the ambient request', () => {
    assert.equal(
      prepareEvents([{ type: 'x', data: 1 }], {}, sources('req-1'))[0]!.metadata.correlationId,
      'req-1',
    );
    const [event] = prepareEvents(
      [{ type: 'x', data: 1 }],
      { correlationId: 'c', causationId: 'k' },
      sources('req-1'),
    );
    assert.equal(event!.metadata.correlationId, 'c');
    assert.equal(event!.metadata.causationId, 'k');
  });

  it('rejects an event without a type', () => {
    assert.throws(
      () => prepareEvents([{ type: '', data: 1 }], {}, sources()),
      (e) => isVecheError(e, 'validation'),
    );
  });
});

describe('encodeEvents', () => {
  it("sends an append's shared metadata once and only what differs per event", () => {
    const events = prepareEvents(
      [
        { type: 'x', data: 1 },
        { type: 'y', data: 2, metadata: { actor: 'user-2' } },
        { type: 'z', data: 3, metadata: { extra: undefined } },
        { type: 'w', data: 4 },
      ],
      { actor: 'user-1' },
      sources(),
    );
    const { shared, events: encoded } = encodeEvents(events);
    assert.deepEqual(shared, {
      occurredAt: '2026-11-23T10:00:00.000Z',
      actor: 'user-1',
      correlationId: 'id-1',
      causationId: 'id-1',
    });
    assert.deepEqual(encoded[0], { t: 'x', d: 1, i: 'id-1' });
    assert.deepEqual(encoded[1], { t: 'y', d: 2, m: events[1]!.metadata });
    // A key of its own, even one JSON leaves out, sends the event's metadata whole.
    assert.deepEqual(encoded[2], { t: 'z', d: 3, m: events[2]!.metadata });
    assert.deepEqual(encoded[3], { t: 'w', d: 4, i: 'id-4' });
    // What the server stores for a shared event is the event's metadata.
    assert.deepEqual({ ...shared, eventId: 'id-4' }, events[3]!.metadata);
  });
});

describe('encodeExpectedVersion', () => {
  it('maps every expectation', () => {
    assert.deepEqual(encodeExpectedVersion('any'), { k: 'any', v: null });
    assert.deepEqual(encodeExpectedVersion('exists'), { k: 'exists', v: null });
    assert.deepEqual(encodeExpectedVersion('no_stream'), { k: 'version', v: 0 });
    assert.deepEqual(encodeExpectedVersion(4), { k: 'version', v: 4 });
    assert.throws(
      () => encodeExpectedVersion(1.5),
      (e) => isVecheError(e, 'validation'),
    );
  });
});

describe('takeBatch', () => {
  const item = (streamId: string, eventCount = 1) => ({ streamId, eventCount });

  it('takes queued appends in order up to the limits', () => {
    const queue = [item('a'), item('b'), item('c')];
    const { batch, rest } = takeBatch(queue, new Set(), { maxAppends: 2, maxEvents: 100 });
    assert.deepEqual(batch, [queue[0], queue[1]]);
    assert.deepEqual(rest, [queue[2]]);
  });

  it("leaves a busy stream's appends, and keeps a stream's later appends behind one left over", () => {
    const queue = [item('a'), item('big', 50), item('b'), item('big', 1), item('a')];
    const { batch, rest } = takeBatch(queue, new Set(['a']), { maxAppends: 10, maxEvents: 20 });
    assert.deepEqual(batch, [queue[1]]);
    assert.deepEqual(rest, [queue[0], queue[2], queue[3], queue[4]]);
    const next = takeBatch(rest, new Set(['a']), { maxAppends: 10, maxEvents: 20 });
    assert.deepEqual(next.batch, [queue[2], queue[3]]);
  });

  it('always takes the first takeable append, whatever its size', () => {
    const { batch } = takeBatch([item('a', 500)], new Set(), { maxAppends: 10, maxEvents: 20 });
    assert.equal(batch.length, 1);
  });
});

describe('checkpoints and timing', () => {
  it('orders by transaction id as a 64-bit number, then position', () => {
    assert.ok(
      compareCheckpoints(
        { transactionId: '9', globalPosition: 100 },
        { transactionId: '10', globalPosition: 1 },
      ) < 0,
    );
    assert.ok(
      compareCheckpoints(
        { transactionId: '18446744073709551000', globalPosition: 1 },
        { transactionId: '18446744073709550999', globalPosition: 9 },
      ) > 0,
    );
    assert.equal(
      compareCheckpoints(
        { transactionId: '5', globalPosition: 3 },
        { transactionId: '5', globalPosition: 3 },
      ),
      0,
    );
  });

  it('backs off exponentially up to 30 s', () => {
    const middle = () => 0.5;
    assert.equal(backoffMs(1, middle), 100);
    assert.equal(backoffMs(4, middle), 800);
    assert.equal(backoffMs(50, middle), 30_000);
  });

  it("derives a channel name that fits PostgreSQL's 63 bytes", () => {
    assert.equal(notificationChannel('chat'), 'chat.events');
    assert.ok(notificationChannel('x'.repeat(63)).length <= 63);
  });
});
