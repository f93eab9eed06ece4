/**
 * Addressing by extension number (from the gateway's account events), patterns, setting a status by
 * number, a disabled account's connections, idleness, and `/ws` sessions counting as connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  presenceProcedures as P,
  presenceServiceProcedures as S,
  presenceServiceTopic,
  type PresenceServiceEvent,
} from '@veche/contracts';
import { isVecheError } from '@veche/errors';
import { connectWampClient, eventually } from '@veche/testing';
import { startHarness, tokenOf, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename);
});
after(() => h?.close());

async function giveExtension(userId: string, extension: string | null): Promise<void> {
  await h.accountEvent('account.directory_updated', { userId, extension });
  await eventually(async () => (await h.app.api.myPresence(userId)).extension === extension, {
    message: `${userId} has ${extension ?? 'no number'}`,
  });
}

describe('extension numbers', () => {
  it('are looked up, listed with *, found by pattern, and set by their owner or an admin', async () => {
    await h.accountEvent('account.registered', {
      userId: 'x1001',
      email: 'a@b.c',
      displayName: 'X',
      locale: 'en',
      sealedToken: 'sealed',
    });
    await giveExtension('x1001', '1001');
    await giveExtension('x1002', '1002');
    await giveExtension('x2001', '2001');
    const found = await h.call<{ extensions: { extension: string; userId: string }[] }>(
      'u',
      P.findExtensions,
      {
        pattern: '100*',
      },
    );
    assert.deepEqual(found.extensions, [
      { extension: '1001', userId: 'x1001' },
      { extension: '1002', userId: 'x1002' },
    ]);
    const one = await h.call<{ extensions: unknown[] }>('u', P.findExtensions, { pattern: '20?1' });
    assert.equal(one.extensions.length, 1);

    const phone = await h.connect('x1001');
    phone.send({ status: 4 });
    await eventually(async () => (await h.app.api.myPresence('x1001')).status === 4, { message: 'INCOMING' });
    const byNumber = await h.call<{ statuses: { userId: string; extension: string; status: number }[] }>(
      'u',
      P.getStatuses,
      { extensions: '1001,1002,9999' },
    );
    assert.deepEqual(
      byNumber.statuses.map((s) => [s.extension, s.status]),
      [
        ['1001', 4],
        ['1002', 3],
      ],
    );
    const everyone = await h.call<{ statuses: { extension: string }[] }>('u', P.getStatuses, {
      extensions: '*',
    });
    assert.deepEqual(
      everyone.statuses.map((s) => s.extension),
      ['1001', '1002', '2001'],
    );

    // The owner sets their own number's status; someone else may not; an admin may.
    const set = await h.call<{ status: number }>('x1002', P.setExtensionStatus, {
      extension: '1002',
      status: 5,
    });
    assert.equal(set.status, 3, 'chosen while offline: others still see 3');
    assert.equal((await h.app.api.myPresence('x1002')).chosen, 5);
    await assert.rejects(
      h.call('x2001', P.setExtensionStatus, { extension: '1001', status: 2 }),
      (error: unknown) => isVecheError(error, 'forbidden'),
    );
    await h.call('boss', P.setExtensionStatus, { extension: '1001', status: 2 }, 'admin');
    assert.equal((await h.app.api.myPresence('x1001')).status, 2);
    await assert.rejects(
      h.call('boss', P.setExtensionStatus, { extension: '7777', status: 2 }, 'admin'),
      (error: unknown) => isVecheError(error, 'not_found'),
    );
    // The CLI with service credentials: the operator sets and reads any number.
    await h.caller.call(S.setExtensionStatus, { extension: '2001', status: 7 });
    await h.caller.call(S.clearExtensionStatus, { extension: '1001' });
    const all = await h.caller.call<{ statuses: { extension: string; status: number }[] }>(S.getStatuses, {
      extensions: ['*'],
    });
    assert.deepEqual(
      all.statuses.map((s) => [s.extension, s.status]),
      [
        ['1001', 1],
        ['1002', 3],
        ['2001', 3],
      ],
    );
    await phone.close();
  });

  it('a /pubsub subscription by number follows the number to its new owner', async () => {
    await giveExtension('num-old', '3001');
    const oldOwner = await h.connect('num-old');
    oldOwner.send({ status: 2 });
    const watcher = await h.connect('num-w');
    await eventually(async () => (await h.app.api.myPresence('num-old')).status === 2, { message: 'busy' });
    watcher.send({ events: { '3001': 9 } });
    assert.equal(await watcher.next(), '{"status":2,"publisher":"3001"}');
    await giveExtension('num-old', null);
    assert.equal(await watcher.next(), '{"status":3,"publisher":"3001"}');
    const newOwner = await h.connect('num-new');
    await eventually(async () => (await h.app.api.myPresence('num-new')).status === 1, {
      message: 'new online',
    });
    await giveExtension('num-new', '3001');
    assert.equal(await watcher.next(), '{"status":1,"publisher":"3001"}');
    for (const c of [oldOwner, watcher, newOwner]) await c.close();
  });

  it('a pattern subscription (WAMP, and the services’ topic) includes users who start matching later', async () => {
    const cli = await connectWampClient(h.router.url, 'pat-w', tokenOf('pat-w'));
    const told: { userId: string; status: number }[] = [];
    await cli.session.subscribe('veche.user.pat-w.presence', (_a, kwargs) =>
      told.push(kwargs as { userId: string; status: number }),
    );
    const service: PresenceServiceEvent[] = [];
    await h.caller.subscribe(presenceServiceTopic, (payload) => {
      service.push(payload as PresenceServiceEvent);
    });
    await giveExtension('pat-a', '5001');
    const first = await h.call<{ statuses: { userId: string }[] }>('pat-w', P.subscribe, {
      subscribe: ['500*'],
    });
    assert.deepEqual(
      first.statuses.map((s) => s.userId),
      ['pat-a'],
    );
    const later = await h.connect('pat-b');
    await giveExtension('pat-b', '5002');
    await eventually(() => told.some((t) => t.userId === 'pat-b' && t.status === 1), {
      message: 'the newcomer to the pattern is told',
    });
    await eventually(() => service.some((e) => e.type === 'extension' && e.userId === 'pat-b'), {
      message: 'services hear of the new number',
    });
    const subscriptions = await h.call<{ subscriptions: string[] }>('pat-w', P.listSubscriptions);
    assert.deepEqual(subscriptions.subscriptions, ['500*']);
    cli.close();
    await later.close();
  });
});

describe('accounts', () => {
  it('a disabled account’s /pubsub connections close with 4403', async () => {
    const victim = await h.connect('disabled-1');
    await h.accountEvent('account.disabled', { userId: 'disabled-1', by: 'admin' });
    const { code, reason } = await victim.closed;
    assert.equal(code, 4403);
    assert.equal(reason, 'account disabled');
  });
});

describe('time and sessions', () => {
  it('idle past the configured time is ABSENT, unless a status was chosen; activity brings it back', async () => {
    const idle = await startHarness(`${import.meta.filename}-idle`, {
      overrides: { PRESENCE_IDLE_MS: '1500' },
    });
    after(() => idle.close());
    const watcher = await idle.connect('idle-w');
    const idler = await idle.connect('idle-u');
    await eventually(async () => (await idle.app.api.myPresence('idle-u')).connected, {
      message: 'idle-u connected',
    });
    watcher.send({ events: { 'idle-u': 9 } });
    // Nothing more is sent by idle-u: after PRESENCE_IDLE_MS the sweep makes it 6.
    const untilAbsent = async () => {
      for (;;) if ((await watcher.next()) === '{"status":6,"publisher":"idle-u"}') return;
    };
    await untilAbsent();
    await idle.call('idle-u', P.activity);
    assert.equal(await watcher.next(), '{"status":1,"publisher":"idle-u"}');
    idler.send({ status: 2 });
    // On a slow machine the sweep may make it 6 again before the choice arrives; then 2.
    for (;;) {
      const next = await watcher.next();
      if (next === '{"status":2,"publisher":"idle-u"}') break;
      assert.equal(next, '{"status":6,"publisher":"idle-u"}');
    }
    assert.equal((await idle.app.api.myPresence('idle-u')).chosen, 2);
    // Clearing is activity too: 1, then 6 once idle again.
    await idle.call('idle-u', P.clearStatus);
    assert.equal(await watcher.next(), '{"status":1,"publisher":"idle-u"}');
    await untilAbsent();
    await idler.close();
    await watcher.close();
  });

  it('a /ws session is a connection: joining registers the user, leaving ends it', async () => {
    const watcher = await h.connect('ws-w');
    watcher.send({ events: { 'ws-u': 9 } });
    assert.equal(await watcher.next(), '{"status":3,"publisher":"ws-u"}');
    const browser = await connectWampClient(h.router.url, 'ws-u', tokenOf('ws-u'));
    assert.equal(await watcher.next(), '{"status":1,"publisher":"ws-u"}');
    browser.close();
    assert.equal(await watcher.next(), '{"status":3,"publisher":"ws-u"}');
    // A session the tracker missed (it was not listening) is found by the reconciliation.
    const second = await connectWampClient(h.router.url, 'ws-u', tokenOf('ws-u'));
    assert.equal(await watcher.next(), '{"status":1,"publisher":"ws-u"}');
    await h.database.db
      .$extendTables<{ connections: { user_id: string } }>()
      .deleteFrom('connections')
      .where('user_id', '=', 'ws-u')
      .execute();
    await h.app.statuses.observe('ws-u');
    assert.equal(await watcher.next(), '{"status":3,"publisher":"ws-u"}');
    await h.app.reconcileWsSessions();
    assert.equal(await watcher.next(), '{"status":1,"publisher":"ws-u"}');
    second.close();
    await watcher.close();
  });
});
