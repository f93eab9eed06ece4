import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeEvent, headers } from '../src/index.ts';
import {
  appendHistory,
  attemptsOf,
  batchContentType,
  decodeEntries,
  encodeEvents,
  groupForPublish,
  historyOf,
  retryDelayFor,
} from '../src/message.ts';
import { assertQueueName, formatDelay, topologyNames } from '../src/topology.ts';
import { sampleEvent } from './support.ts';

describe('message format', () => {
  it('encodes an event as a persistent JSON message keyed by its id and type', () => {
    const event = sampleEvent('account.registered', { userId: 'u1' });
    const message = encodeEvent(event);
    assert.equal(message.routingKey, 'account.registered');
    assert.equal(message.options.messageId, event.metadata.eventId);
    assert.equal(message.options.type, 'account.registered');
    assert.equal(message.options.persistent, true);
    assert.equal(message.options.headers?.[headers.correlationId], event.metadata.correlationId);
    assert.equal(message.options.headers?.[headers.causationId], event.metadata.causationId);
    assert.deepEqual(JSON.parse(message.content.toString()), event);
  });

  it('decodes what it encodes', () => {
    const event = sampleEvent('chat.message_posted', { text: 'hi' });
    const message = encodeEvent(event);
    const decoded = decodeMessage(message.content, { messageId: event.metadata.eventId });
    assert.deepEqual(decoded, { ok: true, messageId: event.metadata.eventId, event });
  });

  it('rejects malformed JSON, missing fields and a messageId that is not the event id', () => {
    const event = sampleEvent('x.y');
    const id = event.metadata.eventId;
    const reasonOf = (content: string, messageId: string | undefined): string => {
      const result = decodeMessage(Buffer.from(content), { messageId });
      assert.equal(result.ok, false);
      return result.ok ? '' : result.reason;
    };
    assert.match(reasonOf('{not json', id), /malformed JSON/);
    assert.match(reasonOf('[1,2]', id), /not a JSON object/);
    assert.match(reasonOf(JSON.stringify({ ...event, type: '' }), id), /type/);
    assert.match(reasonOf(JSON.stringify({ type: 'x.y', metadata: event.metadata }), id), /data/);
    const { correlationId: _dropped, ...metadata } = event.metadata;
    assert.match(reasonOf(JSON.stringify({ ...event, metadata }), id), /metadata\.correlationId/);
    assert.match(reasonOf(JSON.stringify(event), undefined), /messageId/);
    assert.match(reasonOf(JSON.stringify(event), 'another-id'), /differs/);
  });

  it('reads attempts and history back from headers, tolerating garbage', () => {
    assert.equal(attemptsOf(undefined), 0);
    assert.equal(attemptsOf({ [headers.attempts]: 2 }), 2);
    assert.equal(attemptsOf({ [headers.attempts]: 'nonsense' }), 0);
    const history = appendHistory([], { attempt: 1, error: 'boom', at: 'now' });
    assert.deepEqual(historyOf({ [headers.history]: Buffer.from(history) }), [
      { attempt: 1, error: 'boom', at: 'now' },
    ]);
    assert.deepEqual(historyOf({ [headers.history]: '{oops' }), []);
  });

  it('grows the retry delay with the attempts and keeps the last one', () => {
    const delays = [1_000, 5_000, 30_000];
    assert.deepEqual(
      [1, 2, 3, 4, 9].map((attempts) => retryDelayFor(attempts, delays)),
      [1_000, 5_000, 30_000, 30_000, 30_000],
    );
  });
});

describe('batch messages', () => {
  const limits = { maxEvents: 3, maxBytes: 1_000_000 };

  it('packs only consecutive events of one type, so a queue sees events in publish order', () => {
    const [a1, a2, b1, a3, a4, a5, a6] = ['a', 'a', 'b', 'a', 'a', 'a', 'a'].map((t, n) =>
      sampleEvent(`x.${t}`, { n }),
    );
    const groups = groupForPublish([a1!, a2!, b1!, a3!, a4!, a5!, a6!], limits);
    assert.deepEqual(
      groups.map((g) => g.map((e) => (e.data as { n: number }).n)),
      [[0, 1], [2], [3, 4, 5], [6]],
    );
  });

  it('cuts a run at the byte limit, but never leaves an event out', () => {
    const big = Array.from({ length: 4 }, (_, n) => sampleEvent('x.big', { n, blob: 'x'.repeat(600) }));
    const groups = groupForPublish(big, { maxEvents: 100, maxBytes: 2_000 });
    assert.deepEqual(
      groups.map((g) => g.length),
      [2, 2],
    );
    assert.equal(groupForPublish([sampleEvent('x.huge', { blob: 'y'.repeat(5_000) })], limits).length, 1);
  });

  it('encodes a run as one message keyed by its type, and decodes each event with its own id and JSON', () => {
    const events = [1, 2, 3].map((n) => sampleEvent('room.message_posted', { n }));
    const message = encodeEvents(events);
    assert.equal(message.routingKey, 'room.message_posted');
    assert.equal(message.options.contentType, batchContentType);
    assert.equal(message.options.headers?.[headers.events], 3);
    assert.equal(message.options.messageId, `batch:${events[0]!.metadata.eventId}:3`);
    const entries = decodeEntries(message.content, {
      messageId: message.options.messageId,
      contentType: message.options.contentType,
    });
    assert.deepEqual(
      entries.map((entry) =>
        entry.ok ? [entry.messageId, JSON.parse(entry.content.toString())] : entry.reason,
      ),
      events.map((event) => [event.metadata.eventId, event]),
    );
    // A single event is still a plain message.
    assert.deepEqual(encodeEvents([events[0]!]), encodeEvent(events[0]!));
    assert.throws(() => encodeEvents([events[0]!, sampleEvent('other.type')]), /one type/);
  });

  it('fails a malformed event of a batch alone, and an unreadable batch as a whole', () => {
    const good = sampleEvent('x.ok', { n: 1 });
    const content = Buffer.from(JSON.stringify({ events: [good, { type: 'x.ok', data: {} }] }));
    const entries = decodeEntries(content, { messageId: 'batch:1:2', contentType: batchContentType });
    assert.deepEqual(
      entries.map((e) => (e.ok ? e.messageId : e.reason)),
      [good.metadata.eventId, 'missing field: metadata'],
    );
    for (const bad of ['{', '{"events":[]}', '[]']) {
      const whole = decodeEntries(Buffer.from(bad), { messageId: 'batch:x', contentType: batchContentType });
      assert.equal(whole.length, 1);
      assert.equal(whole[0]!.ok, false);
    }
  });
});

describe('topology names', () => {
  it('names retry queues for their delay and the dead-letter queue for the consumer', () => {
    assert.deepEqual(topologyNames('mailer.account-mails', [1_000, 120_000, 250, 1_000]), {
      queue: 'mailer.account-mails',
      retryQueues: [
        { delayMs: 1_000, name: 'mailer.account-mails.retry.1s' },
        { delayMs: 120_000, name: 'mailer.account-mails.retry.2m' },
        { delayMs: 250, name: 'mailer.account-mails.retry.250ms' },
      ],
      deadLetterQueue: 'mailer.account-mails.dead',
    });
    assert.equal(formatDelay(3_600_000), '1h');
  });

  it('insists on <service>.<purpose> queue names', () => {
    assert.equal(assertQueueName('chat.bot-commands'), 'chat.bot-commands');
    assert.throws(() => assertQueueName('nodot'));
    assert.throws(() => assertQueueName('Upper.case'));
  });
});
