import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { delayAfterFailures, loginGuards, throttleKeys } from '../src/domain/login-throttle.ts';
import { createDeviceTokens } from '../src/domain/tokens.ts';

const policy = { freeFailures: 3, firstDelaySeconds: 1, maxDelaySeconds: 60 };

describe('login throttle: growing delays', () => {
  const table: [failures: number, seconds: number][] = [
    [1, 0],
    [3, 0],
    [4, 1],
    [5, 2],
    [6, 4],
    [9, 32],
    [10, 60],
    [1_000, 60],
  ];
  it('starts from the configured first wait', () => {
    assert.deepEqual(
      [4, 5, 6, 7].map((n) => delayAfterFailures(n, { ...policy, firstDelaySeconds: 10 })),
      [10, 20, 40, 60],
    );
  });
  for (const [failures, seconds] of table) {
    it(`after ${failures} failure(s) in a row the next try waits ${seconds} s`, () => {
      assert.equal(delayAfterFailures(failures, policy), seconds);
    });
  }
});

describe('login throttle: which keys judge an attempt', () => {
  const policies = { address: policy, account: { ...policy, freeFailures: 5 }, device: policy };
  it('a client without a known device is judged by its address and by the account asked for', () => {
    assert.deepEqual(
      loginGuards({ ip: '192.0.2.1', email: 'Ann@Example.org', knownDeviceId: undefined }, policies).map(
        (g) => [g.key, g.policy.freeFailures],
      ),
      [
        ['address:192.0.2.1', 3],
        ['account:ann@example.org', 5],
      ],
    );
  });
  it('a known device is judged on its own failures alone, not the account’s or the address’s', () => {
    assert.deepEqual(
      loginGuards({ ip: '192.0.2.1', email: 'ann@example.org', knownDeviceId: 'd1' }, policies).map(
        (g) => g.key,
      ),
      [throttleKeys.device('d1')],
    );
  });
});

describe('device tokens', () => {
  const devices = createDeviceTokens('s'.repeat(40));
  it('names the account and a fresh device; anything altered or foreign is not ours', () => {
    const token = devices.issue('user-1');
    const seen = devices.verify(token);
    assert.equal(seen?.userId, 'user-1');
    assert.notEqual(devices.verify(devices.issue('user-1'))?.deviceId, seen?.deviceId);
    const [, deviceId, mac] = token.split('.');
    assert.equal(devices.verify(`user-2.${deviceId}.${mac}`), undefined);
    assert.equal(devices.verify(`${token}x`), undefined);
    assert.equal(devices.verify(createDeviceTokens('o'.repeat(40)).issue('user-1')), undefined);
    assert.equal(devices.verify('a.b'), undefined);
  });
});
