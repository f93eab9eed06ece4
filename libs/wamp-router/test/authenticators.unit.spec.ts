import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isVecheError } from '@veche/errors';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  type Authenticator,
  type RouterCalls,
} from '../src/index.ts';

const secret = 'a-long-enough-service-secret';
const noCalls: RouterCalls = {
  call: () => Promise.reject(new Error('no procedure in a unit test')),
};
const request = (authid: string, ticket: string) => ({ realm: 'veche', authid, ticket });
const isUnauthorized = (error: unknown) => isVecheError(error, 'unauthorized');

describe('service authenticator', () => {
  const authenticate = serviceAuthenticator(secret);

  it('gives service:<name> with the secret the role service', async () => {
    assert.deepEqual(await authenticate(request('service:chat', secret), noCalls), { authrole: 'service' });
    assert.deepEqual(await authenticate(request('service:presence-router', secret), noCalls), {
      authrole: 'service',
    });
  });

  it('rejects a wrong, shorter, longer or empty secret', async () => {
    for (const ticket of ['wrong', secret.slice(0, -1), `${secret}x`, '']) {
      await assert.rejects(authenticate(request('service:chat', ticket), noCalls), isUnauthorized);
    }
  });

  it('rejects malformed service names even with the secret', async () => {
    for (const authid of [
      'service:',
      'service:Chat',
      'service:chat.x',
      'service:-chat',
      `service:${'a'.repeat(64)}`,
    ]) {
      await assert.rejects(authenticate(request(authid, secret), noCalls), isUnauthorized, authid);
    }
  });

  it('does not answer for authids that are not services', async () => {
    assert.equal(await authenticate(request('42', secret), noCalls), null);
  });

  it('refuses a short secret at construction', () => {
    assert.throws(() => serviceAuthenticator('short'), RangeError);
  });
});

describe('composed authenticators', () => {
  const users: Authenticator = async ({ authid, ticket }) =>
    ticket === `t-${authid}` ? { authrole: 'user' } : null;

  it('asks each in turn and the first answer decides', async () => {
    const authenticate = composeAuthenticators(serviceAuthenticator(secret), users);
    assert.equal((await authenticate(request('service:chat', secret), noCalls))?.authrole, 'service');
    assert.equal((await authenticate(request('7', 't-7'), noCalls))?.authrole, 'user');
  });

  it('stops at a rejection and rejects when nobody answers', async () => {
    const authenticate = composeAuthenticators(serviceAuthenticator(secret), users);
    await assert.rejects(authenticate(request('service:chat', 't-service:chat'), noCalls), isUnauthorized);
    await assert.rejects(authenticate(request('7', 'wrong'), noCalls), isUnauthorized);
  });
});

describe('procedure authenticator', () => {
  const answering = (answer: unknown): RouterCalls => ({ call: async () => [answer] });

  it('accepts Crossbar’s answers: a role string or {role, authid, extra}', async () => {
    const authenticate = procedureAuthenticator('veche.gateway.authenticate');
    assert.deepEqual(await authenticate(request('7', 't'), answering('user')), { authrole: 'user' });
    assert.deepEqual(
      await authenticate(request('8', 't'), answering({ role: 'user', authid: '8', extra: { a: 1 } })),
      {
        authrole: 'user',
        authid: '8',
        authextra: { a: 1 },
      },
    );
    // A client that sent no authid takes the one the ticket proves.
    assert.deepEqual(await authenticate(request('', 't'), answering({ role: 'user', authid: '8' })), {
      authrole: 'user',
      authid: '8',
    });
  });

  it('refuses a client whose authid is not the identity its ticket proves', async () => {
    const authenticate = procedureAuthenticator('veche.gateway.authenticate');
    await assert.rejects(
      authenticate(request('7', 't'), answering({ role: 'user', authid: '8' })),
      isUnauthorized,
    );
  });

  it('passes realm, authid and the ticket in Crossbar’s argument order', async () => {
    let seen: unknown[] = [];
    const calls: RouterCalls = {
      call: async (procedure, args) => {
        seen = [procedure, ...args];
        return ['user'];
      },
    };
    await procedureAuthenticator('veche.gateway.authenticate')(request('7', 'tok'), calls);
    assert.deepEqual(seen, [
      'veche.gateway.authenticate',
      'veche',
      '7',
      { authmethod: 'ticket', ticket: 'tok' },
    ]);
  });

  it('rejects an empty answer and leaves service authids to the service authenticator', async () => {
    const authenticate = procedureAuthenticator('veche.gateway.authenticate');
    for (const answer of [null, '', {}, { role: 5 }]) {
      await assert.rejects(authenticate(request('7', 't'), answering(answer)), isUnauthorized);
    }
    assert.equal(await authenticate(request('service:chat', 't'), answering('user')), null);
  });
});
