/**
 * The kill meta procedures as Crossbar 21.3.1 offers them (crossbar/router/service.py):
 * `wamp.session.kill_by_authid` (the gateway calls it when an administrator disables a user),
 * `wamp.session.kill` (one session by id) and `wamp.session.kill_by_authrole`. Every session named
 * ends with a GOODBYE, the caller's own included; others stay; bad arguments are Crossbar's
 * `wamp.error.runtime_error`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeAuthenticators, serviceAuthenticator, startRouter } from '../src/index.ts';
import { connectClient, rawClient, rawJoin } from './support/clients.ts';
import { testSecret, testUsers, useTestRouter } from './support/router.ts';

async function join(url: string, authid: string, ticket: string) {
  const client = await connectClient(url, authid, ticket);
  return { ...client, id: client.session.id, closed: client.ended };
}

describe('the kill meta procedures', () => {
  const router = useTestRouter();

  it('ends every session of the authid with a GOODBYE and answers with their ids; others stay', async () => {
    const first = await join(router.url, '7', 'ticket-7');
    const second = await join(router.url, '7', 'ticket-7');
    const bystander = await join(router.url, '8', 'ticket-8');
    const service = await join(router.url, 'service:gateway', testSecret);
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
    const service = await join(router.url, 'service:gateway', testSecret);
    for (const args of [[], [8], ['8', 5], ['8', 'veche.close.x', { not: 'a string' }]]) {
      await assert.rejects(
        service.session.call('wamp.session.kill_by_authid', args),
        (e: { error?: string }) => e.error === 'wamp.error.runtime_error',
        JSON.stringify(args),
      );
    }
    user.close();
    service.close();
  });

  it('wamp.session.kill ends one session by id; others of the same authid stay; an unknown id is no_such_session', async () => {
    const phone = await join(router.url, '11', 'ticket-11');
    const laptop = await join(router.url, '11', 'ticket-11');
    const service = await join(router.url, 'service:gateway', testSecret);
    const result = await service.session.call('wamp.session.kill', [phone.id], {
      reason: 'veche.close.logged_out',
      message: 'logged out',
    });
    assert.equal(result, null);
    const { details } = await phone.closed;
    assert.equal(details['reason'], 'veche.close.logged_out');
    await laptop.session.subscribe('veche.user.11.rooms', () => {});
    await assert.rejects(
      service.session.call('wamp.session.kill', [phone.id]),
      (e: { error?: string }) => e.error === 'wamp.error.no_such_session',
    );
    for (const args of [['x'], [], [1.5]]) {
      await assert.rejects(
        service.session.call('wamp.session.kill', args),
        (e: { error?: string }) => e.error === 'wamp.error.runtime_error',
        JSON.stringify(args),
      );
    }
    const user = await join(router.url, '12', 'ticket-12');
    await assert.rejects(
      user.session.call('wamp.session.kill', [laptop.id]),
      (e: { error?: string }) => e.error === 'wamp.error.not_authorized',
    );
    laptop.close();
    user.close();
    service.close();
  });

  it('a killed client that ignores the GOODBYE and keeps its socket receives no further event', async () => {
    const attacker = await rawClient(router.url);
    const welcome = await rawJoin(attacker, '13', 'ticket-13');
    const sessionId = welcome[1] as number;
    attacker.send([32, 1, {}, 'veche.user.13.rooms']);
    assert.equal((await attacker.next())[0], 33);
    const service = await join(router.url, 'service:chat', testSecret);
    await service.session.publish('veche.user.13.rooms', [], { n: 1 }, { acknowledge: true });
    assert.equal((await attacker.next())[0], 36, 'receives events before the kill');
    await service.session.call('wamp.session.kill', [sessionId], { reason: 'veche.close.token_expired' });
    const goodbye = await attacker.next();
    assert.deepEqual([goodbye[0], goodbye[2]], [6, 'veche.close.token_expired']);
    // The attacker does not answer the GOODBYE; events keep being published to its topic.
    for (let n = 2; n < 5; n += 1)
      await service.session.publish('veche.user.13.rooms', [], { n }, { acknowledge: true });
    await assert.rejects(attacker.next(500), /no message/);
    // Its messages are ignored too: no subscription, no call.
    attacker.send([32, 2, {}, 'veche.user.13.rooms']);
    await assert.rejects(attacker.next(500), /no message/);
    service.close();
    attacker.socket.terminate();
  });

  it('kill_by_authrole ends every session of the role and answers their ids; other roles stay', async () => {
    // A router of its own: the role `user` must hold exactly these sessions.
    const own = await startRouter({
      log: router.captured.log,
      authenticate: composeAuthenticators(serviceAuthenticator(testSecret), testUsers),
    });
    try {
      const people = [await join(own.url, '21', 'ticket-21'), await join(own.url, '22', 'ticket-22')];
      const service = await join(own.url, 'service:gateway', testSecret);
      const killed = (await service.session.call('wamp.session.kill_by_authrole', ['user'], {
        reason: 'veche.close.maintenance',
        message: 'the service restarts',
      })) as number[];
      assert.deepEqual([...killed].sort(), people.map((p) => p.id).sort());
      for (const person of people) {
        const { details } = await person.closed;
        assert.equal(details['reason'], 'veche.close.maintenance');
      }
      // Nobody left in the role, an unknown role: empty answers. Services still work.
      assert.deepEqual(await service.session.call('wamp.session.kill_by_authrole', ['user']), []);
      assert.deepEqual(await service.session.call('wamp.session.kill_by_authrole', ['trusted']), []);
      const user = await join(own.url, '23', 'ticket-23');
      await assert.rejects(
        user.session.call('wamp.session.kill_by_authrole', ['service']),
        (e: { error?: string }) => e.error === 'wamp.error.not_authorized',
      );
      await assert.rejects(
        service.session.call('wamp.session.kill_by_authrole', [7]),
        (e: { error?: string }) => e.error === 'wamp.error.runtime_error',
      );
      user.close();
      service.close();
    } finally {
      await own.close();
    }
  });

  it('ends the caller too when it is among the named sessions; the default reason is wamp.close.normal', async () => {
    const self = await join(router.url, 'service:janitor', testSecret);
    const twin = await join(router.url, 'service:janitor', testSecret);
    const killed = (await self.session.call('wamp.session.kill_by_authid', ['service:janitor'])) as number[];
    assert.deepEqual([...killed].sort(), [self.id, twin.id].sort());
    for (const session of [self, twin]) {
      const { details } = await session.closed;
      assert.equal(details['reason'], 'wamp.close.normal');
    }
    const lone = await join(router.url, 'service:janitor', testSecret);
    await lone.session.call('wamp.session.kill', [lone.id], { message: 'bye' });
    assert.equal((await lone.closed).details['reason'], 'wamp.close.normal');
  });
});
