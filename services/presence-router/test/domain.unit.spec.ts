/**
 * The presence aggregate (what others are told, and when), the privacy and group-policy aggregates,
 * and addressing by user id, extension and pattern: pure decide/evolve, no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decide,
  effectiveStatus,
  evolve,
  initialPresence,
  type Facts,
  type PresenceCommand,
  type PresenceState,
} from '../src/domain/presence.ts';
import {
  decideGroupPolicy,
  decidePrivacy,
  evolveGroupPolicy,
  evolvePrivacy,
  initialGroupPolicy,
  initialPrivacy,
} from '../src/domain/policy.ts';
import { extensionLike, extensionMatcher, isExtensionPattern, parseAddress } from '../src/domain/address.ts';

const online: Facts = { connected: true, idle: false };
const idle: Facts = { connected: true, idle: true };
const offline: Facts = { connected: false, idle: false };

function run(commands: PresenceCommand[], state: PresenceState = initialPresence) {
  const told: { status: number; cause: string; timestamp?: string }[] = [];
  for (const command of commands) {
    for (const event of decide(state, command)) {
      state = evolve(state, event);
      if (event.type !== 'presence.status_changed') continue;
      const { status, cause, timestamp } = event.data;
      told.push(timestamp === undefined ? { status, cause } : { status, cause, timestamp });
    }
  }
  return { state, told };
}

describe('the status others see', () => {
  it('follows the table: offline 3, chosen, idle 6, else 1', () => {
    assert.equal(effectiveStatus(null, offline), 3);
    assert.equal(effectiveStatus({ status: 2 }, offline), 3);
    assert.equal(effectiveStatus({ status: 2 }, online), 2);
    assert.equal(effectiveStatus({ status: 2 }, idle), 2, 'a chosen status is kept while idle');
    assert.equal(effectiveStatus(null, idle), 6);
    assert.equal(effectiveStatus(null, online), 1);
  });

  it('connecting, idling, coming back and leaving each tell subscribers once', () => {
    const { told, state } = run([
      { type: 'observe', facts: online },
      { type: 'observe', facts: online },
      { type: 'observe', facts: idle },
      { type: 'observe', facts: online },
      { type: 'observe', facts: offline },
    ]);
    assert.deepEqual(told, [
      { status: 1, cause: 'connected' },
      { status: 6, cause: 'idle' },
      { status: 1, cause: 'active' },
      { status: 3, cause: 'disconnected' },
    ]);
    assert.equal(state.version, 4);
  });

  it('a chosen status stays across idleness and reconnection until changed', () => {
    const { told, state } = run([
      { type: 'observe', facts: online },
      { type: 'publish', status: 5, by: 'u', facts: online },
      { type: 'observe', facts: idle },
      { type: 'observe', facts: offline },
      { type: 'observe', facts: online },
    ]);
    assert.deepEqual(told, [
      { status: 1, cause: 'connected' },
      { status: 5, cause: 'published' },
      { status: 3, cause: 'disconnected' },
      { status: 5, cause: 'connected' },
    ]);
    assert.deepEqual(state.chosen, { status: 5 });
  });

  it('a re-publication of the same status is told again, with its timestamp', () => {
    const { told } = run([
      { type: 'publish', status: 2, timestamp: '"1"', by: 'u', facts: online },
      { type: 'publish', status: 2, timestamp: '"2"', by: 'u', facts: online },
      { type: 'publish', status: 2, by: 'u', facts: online },
    ]);
    assert.deepEqual(told, [
      { status: 2, cause: 'published', timestamp: '"1"' },
      { status: 2, cause: 'published', timestamp: '"2"' },
      { status: 2, cause: 'published' },
    ]);
  });

  it('a status chosen while offline is remembered, not told, until the user connects', () => {
    const { told, state } = run([
      { type: 'publish', status: 2, by: 'cli', facts: offline },
      { type: 'observe', facts: online },
    ]);
    assert.deepEqual(told, [{ status: 2, cause: 'connected' }]);
    assert.equal(state.status, 2);
  });

  it('clearing the choice goes back to automatic; clearing twice does nothing', () => {
    const first = run([
      { type: 'publish', status: 2, by: 'u', facts: idle },
      { type: 'clear', by: 'u', facts: idle },
    ]);
    assert.deepEqual(first.told, [
      { status: 2, cause: 'published' },
      { status: 6, cause: 'cleared' },
    ]);
    assert.deepEqual(decide(first.state, { type: 'clear', by: 'u', facts: idle }), []);
  });

  it('the user may choose 3 (appear offline) or 8 (unknown) like any other code', () => {
    const { told } = run([
      { type: 'observe', facts: online },
      { type: 'publish', status: 3, by: 'u', facts: online },
      { type: 'publish', status: 8, by: 'u', facts: online },
    ]);
    assert.deepEqual(
      told.map((t) => t.status),
      [1, 3, 8],
    );
  });
});

describe('privacy aggregate', () => {
  it('records a change, sorted, without duplicates or the owner; the same rules append nothing', () => {
    const events = decidePrivacy(initialPrivacy, {
      owner: 'me',
      mode: 'blacklist',
      users: ['b', 'a', 'b', 'me'],
    });
    assert.deepEqual(events, [
      { type: 'presence.privacy_changed', data: { mode: 'blacklist', users: ['a', 'b'] } },
    ]);
    const state = evolvePrivacy(initialPrivacy, events[0]!);
    assert.deepEqual(decidePrivacy(state, { owner: 'me', mode: 'blacklist', users: ['a', 'b'] }), []);
    assert.equal(decidePrivacy(state, { owner: 'me', mode: 'whitelist', users: ['a', 'b'] }).length, 1);
  });
});

describe('group policy aggregate', () => {
  it('rules must name existing groups; deleting a group deletes its rules', () => {
    let state = initialGroupPolicy;
    assert.throws(
      () => decideGroupPolicy(state, { type: 'setRules', rules: [{ viewerGroup: 'a', targetGroup: 'b' }] }),
      (error: { code?: string }) => error.code === 'validation',
    );
    for (const command of [
      { type: 'setGroup', name: 'a', members: ['u1'] },
      { type: 'setGroup', name: 'b', members: ['u2', 'u3'] },
      {
        type: 'setRules',
        rules: [
          { viewerGroup: 'a', targetGroup: 'b' },
          { viewerGroup: 'a', targetGroup: 'b' },
        ],
      },
    ] as const) {
      for (const event of decideGroupPolicy(state, command)) state = evolveGroupPolicy(state, event);
    }
    assert.deepEqual(state.rules, [{ viewerGroup: 'a', targetGroup: 'b' }]);
    assert.deepEqual(decideGroupPolicy(state, { type: 'setGroup', name: 'b', members: ['u3', 'u2'] }), []);
    for (const event of decideGroupPolicy(state, { type: 'deleteGroup', name: 'b' })) {
      state = evolveGroupPolicy(state, event);
    }
    assert.deepEqual(state.rules, []);
    assert.equal(state.groups.has('b'), false);
    assert.deepEqual(decideGroupPolicy(state, { type: 'deleteGroup', name: 'b' }), []);
  });
});

describe('addresses', () => {
  it('user ids, extensions, and what is neither', () => {
    assert.deepEqual(parseAddress('0190b3c4-1234-7abc-8def-0123456789ab'), {
      kind: 'user',
      userId: '0190b3c4-1234-7abc-8def-0123456789ab',
    });
    assert.deepEqual(parseAddress('1001'), { kind: 'extension', extension: '1001' });
    assert.equal(parseAddress('1'), undefined, 'one digit is neither');
    assert.equal(parseAddress('123456789'), undefined, 'nine digits is neither');
    assert.equal(parseAddress('a.b'), undefined);
    assert.equal(parseAddress('x'.repeat(65)), undefined);
  });

  it('patterns: * any digits, ? one digit', () => {
    assert.equal(isExtensionPattern('1000*'), true);
    assert.equal(isExtensionPattern('1000'), false);
    const match = extensionMatcher('1000*');
    assert.equal(match('1000'), true);
    assert.equal(match('10001'), true);
    assert.equal(match('2000'), false);
    const one = extensionMatcher('10?1');
    assert.equal(one('1021'), true);
    assert.equal(one('10221'), false);
    assert.equal(extensionLike('10?1*'), '10_1%');
    assert.throws(() => extensionMatcher('10%'));
  });
});
