/**
 * The authorizer Crossbar calls, over the whole table: every role × every action × every kind of URI,
 * each with its expected answer. The same pure policy runs inside the local router.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWampPolicy, wampActions } from '@veche/wamp-policy';
import { authenticateWamp, authorizeWamp } from '../src/wamp-security.ts';

const policy = createWampPolicy();
const me = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const other = '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

/** URI kinds, and which (role, action) pairs may use them. */
const uris: { name: string; uri: string; user: readonly string[]; service: readonly string[] }[] = [
  { name: 'own rooms topic', uri: `veche.user.${me}.rooms`, user: ['subscribe'], service: wampActions },
  { name: 'own presence topic', uri: `veche.user.${me}.presence`, user: ['subscribe'], service: wampActions },
  {
    name: 'own deeper topic',
    uri: `veche.user.${me}.logs.source1`,
    user: ['subscribe'],
    service: wampActions,
  },
  { name: 'another user’s topic', uri: `veche.user.${other}.rooms`, user: [], service: wampActions },
  { name: 'own prefix without a stream', uri: `veche.user.${me}`, user: [], service: wampActions },
  { name: 'own prefix with a trailing dot', uri: `veche.user.${me}.`, user: [], service: [] },
  { name: 'a prefix of own id', uri: `veche.user.${me.slice(0, 10)}.rooms`, user: [], service: wampActions },
  { name: 'own id extended', uri: `veche.user.${me}0.rooms`, user: [], service: wampActions },
  { name: 'the users root', uri: 'veche.user', user: [], service: wampActions },
  { name: 'a wildcard (#)', uri: 'veche.user.#', user: [], service: wampActions },
  { name: 'a wildcard (*)', uri: `veche.user.*.rooms`, user: [], service: wampActions },
  { name: 'an empty component', uri: `veche.user..rooms`, user: [], service: [] },
  { name: 'a service procedure', uri: 'veche.chat.postMessage', user: [], service: wampActions },
  { name: 'the authenticator', uri: 'veche.gateway.authenticate', user: [], service: wampActions },
  { name: 'a router meta procedure', uri: 'wamp.session.kill_by_authid', user: [], service: wampActions },
  { name: 'whitespace', uri: `veche.user.${me}.rooms x`, user: [], service: [] },
  { name: 'the empty URI', uri: '', user: [], service: [] },
  { name: 'an over-long URI', uri: `veche.user.${me}.${'a'.repeat(300)}`, user: [], service: [] },
];

const session = (authrole: string, authid: string) => ({
  session: 1,
  authid,
  authrole,
  authmethod: 'ticket',
  realm: 'veche',
});

describe('the dynamic authorizer over the whole table', () => {
  for (const row of uris) {
    for (const action of wampActions) {
      it(`user ${action} ${row.name}: ${row.user.includes(action) ? 'allowed' : 'refused'}`, () => {
        assert.equal(
          authorizeWamp(policy, [session('user', me), row.uri, action, {}]).allow,
          row.user.includes(action),
        );
      });
      it(`service ${action} ${row.name}: ${row.service.includes(action) ? 'allowed' : 'refused'}`, () => {
        assert.equal(
          authorizeWamp(policy, [session('service', 'service:chat'), row.uri, action, {}]).allow,
          row.service.includes(action),
        );
      });
      for (const role of ['admin', 'anonymous', '', 'USER', 'trusted']) {
        it(`role ${JSON.stringify(role)} ${action} ${row.name}: refused`, () => {
          assert.equal(authorizeWamp(policy, [session(role, me), row.uri, action, {}]).allow, false);
        });
      }
    }
  }

  it('refuses malformed calls and unknown actions, and lets Crossbar cache answers', () => {
    for (const args of [
      [],
      [null, 'veche.user.x.rooms', 'subscribe'],
      [session('user', me), 42, 'subscribe'],
      [session('user', me), `veche.user.${me}.rooms`, 'delete'],
      [{ authrole: 'user' }, `veche.user.${me}.rooms`, 'subscribe'],
    ]) {
      assert.equal(authorizeWamp(policy, args).allow, false, JSON.stringify(args));
    }
    assert.deepEqual(
      authorizeWamp(policy, [session('user', me), `veche.user.${me}.rooms`, 'subscribe', {}]),
      { allow: true, disclose: false, cache: true },
    );
  });

  it('lets users call exactly the configured public procedures', () => {
    const open = createWampPolicy({ publicProcedures: ['veche.presence.ping'] });
    assert.equal(authorizeWamp(open, [session('user', me), 'veche.presence.ping', 'call']).allow, true);
    assert.equal(authorizeWamp(open, [session('user', me), 'veche.presence.pingx', 'call']).allow, false);
    assert.equal(authorizeWamp(open, [session('user', me), 'veche.presence.ping', 'register']).allow, false);
  });
});

describe('the dynamic authenticator', () => {
  const secret = 'service-secret-0123456789';
  const deps = {
    serviceSecret: secret,
    authenticateToken: async (token: string) => {
      if (token !== 'good-token') throw Object.assign(new Error('bad'), { code: 'unauthorized' });
      return { userId: me, sessionId: 's1', role: 'user' as const };
    },
  };
  it('maps a valid token to role user with authid = subject', async () => {
    assert.deepEqual(
      await authenticateWamp(deps, ['veche', me, { authmethod: 'ticket', ticket: 'good-token' }]),
      {
        role: 'user',
        authid: me,
        extra: { sessionId: 's1', admin: false },
      },
    );
    assert.equal((await authenticateWamp(deps, ['veche', '', { ticket: 'good-token' }])).authid, me);
  });
  it('maps a service credential to role service', async () => {
    assert.deepEqual(await authenticateWamp(deps, ['veche', 'service:chat', { ticket: secret }]), {
      role: 'service',
      authid: 'service:chat',
    });
  });
  it('refuses other realms, other authids, bad tickets and bad service credentials', async () => {
    for (const args of [
      ['other', me, { ticket: 'good-token' }],
      ['veche', other, { ticket: 'good-token' }],
      ['veche', me, { ticket: 'bad-token' }],
      ['veche', me, { ticket: '' }],
      ['veche', me, {}],
      ['veche', me, { authmethod: 'wampcra', ticket: 'good-token' }],
      ['veche', 'service:chat', { ticket: 'wrong secret' }],
      ['veche', 'service:Bad Name', { ticket: secret }],
      ['veche', me, null],
    ]) {
      await assert.rejects(authenticateWamp(deps, args), JSON.stringify(args));
    }
  });
});
