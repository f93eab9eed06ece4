import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Message, Receipt } from '../src/api/types.ts';
import {
  judgeSeq,
  mentionQuery,
  mentions,
  mergeMessages,
  patchMessage,
  tickFor,
} from '../src/chat/timeline.ts';

function message(seq: number, overrides: Partial<Message> = {}): Message {
  return {
    messageId: `m${seq}`,
    roomId: 'r1',
    seq,
    senderId: 'u1',
    text: `text ${seq}`,
    sentAt: '2026-11-23T12:00:00Z',
    replyTo: null,
    mentions: [],
    attachments: [],
    reactions: [],
    editedAt: null,
    deleted: false,
    ...overrides,
  };
}

describe('timeline', () => {
  it('merges pages in seq order without doubling a message seen twice', () => {
    const merged = mergeMessages([message(3), message(1)], [message(2), message(3, { text: 'again' })]);
    assert.deepEqual(
      merged.map((m) => m.seq),
      [1, 2, 3],
    );
    assert.equal(merged.find((m) => m.seq === 3)?.text, 'again');
  });

  it('patches only the named message and keeps the array when nothing matches', () => {
    const timeline = [message(1), message(2)];
    const patched = patchMessage(timeline, 'm2', { deleted: true });
    assert.equal(patched[1]?.deleted, true);
    assert.equal(patched[0], timeline[0]);
    assert.equal(patchMessage(timeline, 'missing', { deleted: true }), timeline);
  });

  it('judges a realtime seq: duplicate, next, or a gap to catch up from the held seq', () => {
    assert.deepEqual(judgeSeq(5, 5), { kind: 'duplicate' });
    assert.deepEqual(judgeSeq(5, 3), { kind: 'duplicate' });
    assert.deepEqual(judgeSeq(5, 6), { kind: 'next' });
    assert.deepEqual(judgeSeq(5, 9), { kind: 'gap', after: 5 });
    assert.deepEqual(judgeSeq(0, 1), { kind: 'next' });
  });

  it('ticks: sent until every other member has it, delivered, then read by all, naming the readers', () => {
    const marks = (bob: [number, number], carol: [number, number]): Receipt[] => [
      { userId: 'me', deliveredUpTo: 10, readUpTo: 10 },
      { userId: 'bob', deliveredUpTo: bob[0], readUpTo: bob[1] },
      { userId: 'carol', deliveredUpTo: carol[0], readUpTo: carol[1] },
    ];
    assert.deepEqual(tickFor(7, 'me', marks([7, 0], [6, 0])), { tick: 'sent', readBy: [] });
    assert.deepEqual(tickFor(7, 'me', marks([7, 0], [9, 0])), { tick: 'delivered', readBy: [] });
    assert.deepEqual(tickFor(7, 'me', marks([9, 8], [9, 0])), { tick: 'delivered', readBy: ['bob'] });
    // A read mark implies delivery even when the delivery mark lags.
    assert.deepEqual(tickFor(7, 'me', marks([0, 7], [7, 7])), { tick: 'read', readBy: ['bob', 'carol'] });
    assert.deepEqual(tickFor(7, 'me', [{ userId: 'me', deliveredUpTo: 7, readUpTo: 7 }]), {
      tick: 'sent',
      readBy: [],
    });
  });

  it('finds a mention by display name or id, case-insensitively', () => {
    const me = { userId: 'u-42', displayName: 'Bob Stone' };
    assert.equal(mentions('hey @bob stone, look', me), true);
    assert.equal(mentions('ping @U-42', me), true);
    assert.equal(mentions('bob stone without the at sign', me), false);
  });

  it('offers completion only for an @word being typed at the caret', () => {
    assert.deepEqual(mentionQuery('hello @Bo', 9), { start: 6, query: 'Bo' });
    assert.deepEqual(mentionQuery('@', 1), { start: 0, query: '' });
    assert.equal(mentionQuery('mail@example', 12), undefined);
    assert.equal(mentionQuery('hello @Bob and more', 19), undefined);
    assert.deepEqual(mentionQuery('привет @Бо', 10), { start: 7, query: 'Бо' });
  });
});
