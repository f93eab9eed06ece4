/**
 * `wamp.session.kill_by_authid`, the meta procedure Crossbar offers and the gateway calls when an
 * administrator disables a user: every session of that authid ends with a GOODBYE, others stay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { unauthorized } from '@veche/errors';
import {
  composeAuthenticators,
  serviceAuthenticator,
  startRouter,
  type Authenticator,
  type WampRouter,
} from '../src/index.ts';
import { capturedLogger, connectClient } from './clients.ts';

const secret = 'test-service-secret-0123456789';
const users: Authenticator = async ({ authid, ticket }) => {
  if (!/^\d+$/.test(authid)) return null;
  if (ticket !== `ticket-${authid}`) throw unauthorized('bad ticket');
  return { authrole: 'user' };
};

async function join(url: string, authid: string, ticket: string) {
  const client = await connectClient(url, authid, ticket);
  return { ...client, id: client.session.id, closed: client.ended };
}

describe('wamp.session.kill_by_authid', { timeout: 30_000 }, () => {
  const { log } = capturedLogger('silent');
  let router: WampRouter;
  before(async () => {
    router = await startRouter({
      log,
      authenticate: composeAuthenticators(serviceAuthenticator(secret), users),
    });
  });
  after(() => router.close());

  it('ends every session of the authid with a GOODBYE and answers with their ids; others stay', async () => {
    const first = await join(router.url, '7', 'ticket-7');
    const second = await join(router.url, '7', 'ticket-7');
    const bystander = await join(router.url, '8', 'ticket-8');
    const service = await join(router.url, 'service:gateway', secret);
    const result = await service.session.call('wamp.session.kill_by_authid', ['7'], {
      reason: 'veche.close.account_disabled',
    });
    // autobahn unwraps a single positional result: the list of ended session ids.
    const killed = result as number[];
    assert.deepEqual([...killed].sort(), [first.id, second.id].sort());
    for (const victim of [first, second]) {
      const { details } = await victim.closed;
      assert.equal(details['reason'], 'veche.close.account_disabled');
    }
    // The bystander still works.
    await bystander.session.subscribe('veche.user.8.rooms', () => {});
    assert.deepEqual(await service.session.call('wamp.session.kill_by_authid', ['nobody']), []);
    bystander.close();
    service.close();
  });

  it('is refused to users, and asks for an authid', async () => {
    const user = await join(router.url, '9', 'ticket-9');
    await assert.rejects(
      user.session.call('wamp.session.kill_by_authid', ['8']),
      (e: { error?: string }) => e.error === 'wamp.error.not_authorized',
    );
    const service = await join(router.url, 'service:gateway', secret);
    await assert.rejects(
      service.session.call('wamp.session.kill_by_authid', []),
      (e: { error?: string }) => e.error === 'wamp.error.invalid_argument',
    );
    user.close();
    service.close();
  });
});
