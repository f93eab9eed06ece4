import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadOutbox,
  nextToSend,
  saveOutbox,
  updatePending,
  type KeyValueStorage,
  type PendingMessage,
} from '../src/chat/outbox.ts';

function memoryStorage(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

const pending = (key: string, state: PendingMessage['state'] = 'queued'): PendingMessage => ({
  idempotencyKey: key,
  roomId: 'r1',
  text: key,
  createdAt: '2026-11-23T12:00:00Z',
  state,
});

describe('outbox', () => {
  it('sends in order, one at a time', () => {
    assert.equal(nextToSend([pending('a'), pending('b')])?.idempotencyKey, 'a');
    assert.equal(nextToSend([pending('a', 'sending'), pending('b')]), undefined);
    assert.equal(nextToSend([pending('a', 'failed'), pending('b')])?.idempotencyKey, 'b');
    assert.equal(nextToSend([]), undefined);
  });

  it('survives a reload per user, and a message caught mid-send goes out again with the same key', () => {
    const storage = memoryStorage();
    saveOutbox(storage, 'u1', [pending('a', 'sending'), pending('b'), pending('c', 'failed')]);
    const loaded = loadOutbox(storage, 'u1');
    assert.deepEqual(
      loaded.map((p) => [p.idempotencyKey, p.state]),
      [
        ['a', 'queued'],
        ['b', 'queued'],
        ['c', 'failed'],
      ],
    );
    assert.deepEqual(loadOutbox(storage, 'someone-else'), []);
  });

  it('ignores a corrupt stored value rather than failing the app', () => {
    const storage = memoryStorage();
    storage.setItem('veche.outbox.u1', '{not json');
    assert.deepEqual(loadOutbox(storage, 'u1'), []);
    storage.setItem('veche.outbox.u1', '{"an":"object"}');
    assert.deepEqual(loadOutbox(storage, 'u1'), []);
  });

  it('updates or removes one message by key', () => {
    const box = [pending('a'), pending('b')];
    assert.equal(updatePending(box, 'b', { state: 'failed' })[1]?.state, 'failed');
    assert.deepEqual(
      updatePending(box, 'a', undefined).map((p) => p.idempotencyKey),
      ['b'],
    );
  });
});
