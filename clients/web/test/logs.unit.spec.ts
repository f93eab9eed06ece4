/** The logs screen's merge of pages and live lines: by id (beyond 2^53 too), oldest first, no duplicates. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emitLogEvent, mergeLines, onLogEvent } from '../src/logs/live.ts';

describe('mergeLines', () => {
  it('merges a resumed page with lines that arrived meanwhile, without a gap or a duplicate', () => {
    const page = [{ id: '8' }, { id: '9' }, { id: '10' }];
    const arrived = [{ id: '10' }, { id: '11' }];
    assert.deepEqual(
      mergeLines(page, arrived).map((l) => l.id),
      ['8', '9', '10', '11'],
    );
  });
  it('orders ids numerically, past 2^53', () => {
    const big = [{ id: '9007199254740993' }, { id: '9007199254740992' }, { id: '99' }];
    assert.deepEqual(
      mergeLines([], big).map((l) => l.id),
      ['99', '9007199254740992', '9007199254740993'],
    );
  });
});

describe('live log events', () => {
  it('reach the open screen only while it listens, and only known shapes', () => {
    const seen: string[] = [];
    const stop = onLogEvent((event) => seen.push(event.type));
    emitLogEvent({ type: 'lines', sourceId: 's', events: [] });
    emitLogEvent({ type: 'something-else' });
    stop();
    emitLogEvent({ type: 'lines', sourceId: 's', events: [] });
    assert.deepEqual(seen, ['lines']);
  });
});
