import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyFailure, decideAfterAttempt, retryDelayMs } from '../src/domain/delivery.ts';
import { createTokenBucket } from '../src/domain/rate-limit.ts';
import { unsubscribeToken, verifyUnsubscribeToken } from '../src/domain/unsubscribe.ts';
import { relayIdFrom } from '../src/transport.ts';

const minute = 60_000;
const day = 24 * 60 * minute;
const policy = { baseMs: minute, maxMs: day, maxAttempts: 13 };

describe('delivery decisions', () => {
  it('classifies relay replies: 4xx and lost connections are temporary, 5xx permanent', () => {
    assert.deepEqual(
      classifyFailure({ message: 'x', code: 'EENVELOPE', responseCode: 451, command: 'RCPT TO' }).kind,
      'temporary',
    );
    assert.equal(classifyFailure({ message: 'x', code: 'ECONNECTION' }).kind, 'temporary');
    assert.equal(classifyFailure({ message: 'x', code: 'ETIMEDOUT', command: 'CONN' }).kind, 'temporary');
    const rejected = classifyFailure({
      message: 'x',
      code: 'EENVELOPE',
      responseCode: 550,
      command: 'RCPT TO',
      response: '550 5.1.1 no',
    });
    assert.deepEqual(rejected, {
      kind: 'permanent',
      suppressAddress: true,
      reason: 'EENVELOPE at RCPT TO 550 5.1.1 no',
    });
    assert.equal(
      classifyFailure({ message: 'x', code: 'EMESSAGE', responseCode: 554, command: 'DATA' }).suppressAddress,
      true,
    );
  });

  it("does not blame the recipient for the operator's problems: refused credentials or sender wait and retry", () => {
    assert.equal(
      classifyFailure({ message: 'x', code: 'EAUTH', responseCode: 535, command: 'AUTH PLAIN' }).kind,
      'temporary',
    );
    const sender = classifyFailure({
      message: 'x',
      code: 'EENVELOPE',
      responseCode: 553,
      command: 'MAIL FROM',
    });
    assert.deepEqual([sender.kind, sender.suppressAddress], ['temporary', false]);
  });

  it('waits 1 min × 2^n between attempts, at most a day', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 10, 11, 12, 50].map((n) => retryDelayMs(n, policy) / minute),
      [1, 2, 4, 8, 512, 1024, 1440, 1440],
    );
  });

  it('sends, defers with the next attempt, fails at once on 5xx, and gives up after the last attempt', () => {
    const now = new Date('2026-11-23T10:00:00Z');
    assert.deepEqual(
      decideAfterAttempt(1, { ok: true, relayMessageId: 'q1', response: '250 ok' }, policy, now),
      {
        state: 'sent',
        relayMessageId: 'q1',
        response: '250 ok',
      },
    );
    const deferred = decideAfterAttempt(
      3,
      { ok: false, failure: { message: 'x', responseCode: 421 } },
      policy,
      now,
    );
    assert.equal(deferred.state, 'deferred');
    assert.equal(
      deferred.state === 'deferred' && deferred.nextAttemptAt.getTime() - now.getTime(),
      4 * minute,
    );
    const rejected = decideAfterAttempt(
      1,
      { ok: false, failure: { message: 'x', responseCode: 550, command: 'RCPT TO' } },
      policy,
      now,
    );
    assert.equal(rejected.state === 'failed' && rejected.failure, 'rejected');
    const exhausted = decideAfterAttempt(
      13,
      { ok: false, failure: { message: 'x', responseCode: 451 } },
      policy,
      now,
    );
    assert.equal(exhausted.state === 'failed' && exhausted.failure, 'exhausted');
  });

  it("reads the relay's queue id from its reply", () => {
    assert.equal(relayIdFrom('250 2.0.0 Ok: queued as 4BxT1z2Q'), '4BxT1z2Q');
    assert.equal(relayIdFrom('250 OK id=1tABC-000123-AB'), '1tABC-000123-AB');
    assert.equal(relayIdFrom('250 OK'), undefined);
  });
});

describe('the send rate limit', () => {
  it('grants a burst of one second, then the rate, and gives back unused tokens', () => {
    const bucket = createTokenBucket({ ratePerSecond: 10, nowMs: 0 });
    assert.equal(bucket.take(100, 0), 10);
    assert.equal(bucket.take(1, 0), 0);
    assert.equal(bucket.waitMs(0), 100);
    assert.equal(bucket.take(100, 500), 5);
    bucket.refund(3);
    assert.equal(bucket.take(100, 500), 3);
    assert.equal(bucket.take(100, 10_000), 10, 'never more than the burst');
  });
});

describe('unsubscribe tokens', () => {
  it('round-trips the user id and refuses forgeries', () => {
    const token = unsubscribeToken('secret-1', 'user-42');
    assert.equal(verifyUnsubscribeToken('secret-1', token), 'user-42');
    assert.equal(verifyUnsubscribeToken('secret-2', token), undefined);
    const forged = `${Buffer.from('user-43').toString('base64url')}.${token.split('.')[1]}`;
    assert.equal(verifyUnsubscribeToken('secret-1', forged), undefined);
    assert.equal(verifyUnsubscribeToken('secret-1', 'garbage'), undefined);
  });
});
