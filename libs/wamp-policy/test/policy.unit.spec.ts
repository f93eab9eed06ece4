import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  authorize,
  createWampPolicy,
  isAllowed,
  isSafeUri,
  userStreams,
  userTopic,
  vecheRealm,
  wampActions,
  type WampPrincipal,
} from '../src/index.ts';

const user1: WampPrincipal = { authrole: 'user', authid: '1' };
const user12: WampPrincipal = { authrole: 'user', authid: '12' };
const uuidUser: WampPrincipal = { authrole: 'user', authid: '0195f0d2-7a1b-7c3e-9d4f-5a6b7c8d9e0f' };
const service: WampPrincipal = { authrole: 'service', authid: 'service:chat' };

/** Representative URIs: the user's own topics, their neighbours' and every trick we know. */
const ownTopicsOf1 = userStreams
  .map((stream) => `veche.user.1.${stream}`)
  .concat(['veche.user.1.rooms.extra']);
const foreignOrTrickyTopicsFor1 = [
  'veche.user.12.rooms', // the prefix `veche.user.1` without the dot would match this
  'veche.user.10.presence',
  'veche.user.2.rooms',
  'veche.user.1', // the prefix itself is not a topic under it
  'veche.user.1.', // empty last component (WAMP wildcard syntax)
  'veche.user.1..rooms', // empty middle component
  'veche.user.1.#', // fox-wamp multi-level wildcard
  'veche.user.1.*', // fox-wamp single-level wildcard
  'veche.user.*.rooms',
  'veche.user.#',
  'veche.user..rooms',
  'veche.user.',
  'veche.user',
  'veche.#',
  '#',
  '*',
  '',
  'veche.user.1.rooms ',
  'veche.user.1.ro oms',
  'veche.user.1.rooms\n',
  'veche.user.1.+',
  'Veche.user.1.rooms',
  'veche.User.1.rooms',
  'xveche.user.1.rooms',
  'prefix.veche.user.1.rooms',
  'veche.user.01.rooms', // a different id, not a normalised one
  'wamp.session.on_join',
  'veche.chat.postMessage',
  `veche.user.1.${'a'.repeat(300)}`,
];
const procedures = [
  'veche.chat.postMessage',
  'veche.gateway.authenticate',
  'wamp.session.list',
  'veche.user.1.rooms',
];

describe('wamp policy: role user', () => {
  for (const uri of ownTopicsOf1) {
    it(`user 1 may subscribe to its own ${uri}`, () => {
      assert.equal(isAllowed(user1, 'subscribe', uri), true);
    });
  }

  for (const uri of foreignOrTrickyTopicsFor1) {
    it(`user 1 may not subscribe to ${JSON.stringify(uri.slice(0, 40))}`, () => {
      const decision = authorize(user1, 'subscribe', uri);
      assert.equal(decision.allowed, false);
      assert.ok(decision.reason.length > 0);
    });
  }

  it('exact-prefix: user 12 owns veche.user.12.* and not veche.user.1.*', () => {
    assert.equal(isAllowed(user12, 'subscribe', 'veche.user.12.rooms'), true);
    assert.equal(isAllowed(user12, 'subscribe', 'veche.user.1.rooms'), false);
    assert.equal(isAllowed(user12, 'subscribe', 'veche.user.123.rooms'), false);
    assert.equal(isAllowed(user1, 'subscribe', 'veche.user.12.rooms'), false);
  });

  it('a UUID user id works as a topic component', () => {
    assert.equal(isAllowed(uuidUser, 'subscribe', userTopic(uuidUser.authid, 'rooms')), true);
    assert.equal(isAllowed(uuidUser, 'subscribe', 'veche.user.0195f0d2-7a1b.rooms'), false);
  });

  for (const authid of ['', '1.rooms', '#', '*', '1 ', 'a.b', '1#']) {
    it(`an authid that is not one URI component (${JSON.stringify(authid)}) may subscribe to nothing`, () => {
      const principal = { authrole: 'user', authid };
      for (const uri of [`veche.user.${authid}.rooms`, 'veche.user.1.rooms', 'veche.user..rooms']) {
        assert.equal(isAllowed(principal, 'subscribe', uri), false, uri);
      }
    });
  }

  for (const action of ['publish', 'register'] as const) {
    for (const uri of [...ownTopicsOf1, ...procedures, 'veche.user.12.rooms']) {
      it(`user 1 may never ${action} ${uri}`, () => {
        assert.equal(isAllowed(user1, action, uri), false);
      });
    }
  }

  for (const uri of [...procedures, ...ownTopicsOf1]) {
    it(`with no public procedures, user 1 may not call ${uri}`, () => {
      assert.equal(isAllowed(user1, 'call', uri), false);
    });
  }
});

describe('wamp policy: public procedures', () => {
  const policy = createWampPolicy({ publicProcedures: ['veche.presence.ping'] });

  it('a user may call exactly the listed procedures', () => {
    assert.equal(policy.isAllowed(user1, 'call', 'veche.presence.ping'), true);
    assert.equal(policy.isAllowed(user12, 'call', 'veche.presence.ping'), true);
  });

  for (const uri of [
    'veche.presence.ping.x',
    'veche.presence',
    'veche.presence.pin',
    'veche.presence.#',
    'Veche.presence.ping',
  ]) {
    it(`the list is exact: ${uri} is not callable`, () => {
      assert.equal(policy.isAllowed(user1, 'call', uri), false);
    });
  }

  it('the list grants calls only: not register, publish or subscribe', () => {
    for (const action of ['register', 'publish', 'subscribe'] as const) {
      assert.equal(policy.isAllowed(user1, action, 'veche.presence.ping'), false, action);
    }
  });

  it('the list does not leak into the default policy', () => {
    assert.equal(isAllowed(user1, 'call', 'veche.presence.ping'), false);
  });
});

describe('wamp policy: role service', () => {
  for (const action of wampActions) {
    for (const uri of [...procedures, 'veche.user.1.rooms', 'veche.user.12.presence', 'veche.user.#']) {
      it(`a service may ${action} ${uri}`, () => {
        assert.equal(isAllowed(service, action, uri), true);
      });
    }
    for (const uri of ['', 'veche..chat', 'veche.chat.', '.veche', 'veche. chat']) {
      it(`a service may not ${action} the malformed ${JSON.stringify(uri)}`, () => {
        assert.equal(isAllowed(service, action, uri), false);
      });
    }
  }
});

describe('wamp policy: any other role', () => {
  const others = ['', 'anonymous', 'admin', 'Service', 'USER', 'service ', 'users', 'trusted'];
  for (const authrole of others) {
    for (const action of wampActions) {
      it(`role ${JSON.stringify(authrole)} may not ${action}`, () => {
        for (const uri of ['veche.user.1.rooms', 'veche.chat.postMessage', 'wamp.session.list']) {
          assert.equal(isAllowed({ authrole, authid: '1' }, action, uri), false, uri);
        }
      });
    }
  }

  it('malformed input from the wire is denied, not thrown', () => {
    const loose = authorize as (principal: unknown, action: unknown, uri: unknown) => { allowed: boolean };
    assert.equal(loose({ authrole: 'service', authid: 's' }, 'subscribe', 42).allowed, false);
    assert.equal(loose({ authrole: 'service' }, 'subscribe', 'a.b').allowed, false);
    assert.equal(loose({ authrole: 'service', authid: 's' }, 'delete', 'a.b').allowed, false);
    assert.equal(loose(null, 'call', 'a.b').allowed, false);
  });
});

describe('user topics', () => {
  it('builds veche.user.<id>.<stream> for every stream', () => {
    assert.deepEqual(
      userStreams.map((stream) => userTopic('42', stream)),
      ['veche.user.42.rooms', 'veche.user.42.presence', 'veche.user.42.logs', 'veche.user.42.account'],
    );
  });

  it('refuses ids that would change the address', () => {
    for (const id of ['', '1.rooms', '#', '*', 'a b'])
      assert.throws(() => userTopic(id, 'rooms'), RangeError);
  });

  it('every user topic is one its owner may subscribe to', () => {
    for (const stream of userStreams)
      assert.equal(isAllowed(user1, 'subscribe', userTopic('1', stream)), true);
  });

  it('the realm is veche', () => {
    assert.equal(vecheRealm, 'veche');
  });

  it('isSafeUri rejects wildcards and empty components', () => {
    assert.equal(isSafeUri('veche.user.1.rooms'), true);
    for (const uri of ['', 'a..b', 'a.#', 'a.*', 'a.+', '.a', 'a.']) assert.equal(isSafeUri(uri), false, uri);
  });
});
