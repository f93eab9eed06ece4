/**
 * Privacy on the real paths: a rule change reaches existing `/pubsub` subscriptions and WAMP
 * watchers at once (the newly blocked get 8, the newly allowed the real status), lookups and history
 * say 8 with no hint, and admin group rules hide one group from another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { presenceProcedures as P, type PresenceRealtimeEvent } from '@veche/contracts';
import { isVecheError } from '@veche/errors';
import { connectWampClient, eventually } from '@veche/testing';
import { startHarness, tokenOf, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename);
});
after(() => h?.close());

/** A user's WAMP session, collecting what arrives on `veche.user.<id>.presence`. */
async function watcherSession(userId: string) {
  const client = await connectWampClient(h.router.url, userId, tokenOf(userId));
  const events: PresenceRealtimeEvent[] = [];
  await client.session.subscribe(`veche.user.${userId}.presence`, (_args, kwargs) => {
    events.push(kwargs as PresenceRealtimeEvent);
  });
  return { client, events };
}

describe('a rule change applies at once to existing subscriptions', () => {
  it('on /pubsub: blacklist, whitelist, back to everyone', async () => {
    const target = await h.connect('t1');
    const viewer = await h.connect('v1');
    const other = await h.connect('o1');
    target.send({ status: 2 });
    await eventually(async () => (await h.app.api.myPresence('t1')).status === 2, { message: 't1 busy' });
    viewer.send({ events: { t1: 9 } });
    other.send({ events: { t1: 9 } });
    assert.equal(await viewer.next(), '{"status":2,"publisher":"t1"}');
    assert.equal(await other.next(), '{"status":2,"publisher":"t1"}');

    await h.call('t1', P.setPrivacy, { mode: 'blacklist', users: ['v1'] });
    assert.equal(await viewer.next(), '{"status":8,"publisher":"t1"}');
    // Every change is still told to the blocked subscriber, as 8, with no timestamp.
    target.send({ status: 5, timestamp: 'secret time' });
    assert.equal(await viewer.next(), '{"status":8,"publisher":"t1"}');
    assert.equal(await other.next(), '{"status":5,"publisher":"t1","timestamp":"secret time"}');
    // A new SUBSCRIBE is 8 too.
    viewer.send({ events: { t1: 9 } });
    assert.equal(await viewer.next(), '{"status":8,"publisher":"t1"}');

    await h.call('t1', P.setPrivacy, { mode: 'whitelist', users: ['v1'] });
    assert.equal(await viewer.next(), '{"status":5,"publisher":"t1","timestamp":"secret time"}');
    assert.equal(await other.next(), '{"status":8,"publisher":"t1"}');

    await h.call('t1', P.setPrivacy, { mode: 'everyone', users: [] });
    assert.equal(await other.next(), '{"status":5,"publisher":"t1","timestamp":"secret time"}');
    assert.equal(viewer.frames.length, 5, 'the viewer, still allowed, was told nothing new');
    for (const c of [target, viewer, other]) await c.close();
  });

  it('on WAMP: only the watchers whose answer flips are told', async () => {
    const target = await h.connect('t2');
    await eventually(async () => (await h.app.api.myPresence('t2')).status === 1, {
      message: 't2 connected',
    });
    const blocked = await watcherSession('v2');
    const bystander = await watcherSession('o2');
    const seen = await h.call<{ statuses: { userId: string; status: number }[] }>('v2', P.subscribe, {
      subscribe: ['t2'],
    });
    assert.deepEqual(
      seen.statuses.map((s) => s.status),
      [1],
    );
    await h.call('o2', P.subscribe, { subscribe: ['t2'] });
    target.send({ status: 4 });
    await eventually(() => blocked.events.some((e) => e.status === 4), { message: 'v2 told 4' });
    await eventually(() => bystander.events.some((e) => e.status === 4), { message: 'o2 told 4' });

    await h.call('t2', P.setPrivacy, { mode: 'blacklist', users: ['v2'] });
    await eventually(() => blocked.events.at(-1)?.status === 8, { message: 'v2 told 8' });
    const blockedEvent = blocked.events.at(-1)!;
    assert.deepEqual(Object.keys(blockedEvent).sort(), ['extension', 'status', 'type', 'userId']);
    // Lookups say 8 too, with nothing that tells a rule from a choice.
    const lookup = await h.call<{ statuses: { status: number; changedAt?: string }[] }>('v2', P.getStatuses, {
      users: 't2',
    });
    assert.deepEqual(lookup.statuses, [{ userId: 't2', extension: null, status: 8 }]);
    // Allowed again: the real status.
    await h.call('t2', P.setPrivacy, { mode: 'everyone', users: [] });
    await eventually(() => blocked.events.at(-1)?.status === 4, { message: 'v2 told 4 again' });
    assert.equal(
      bystander.events.filter((e) => e.status === 4).length,
      1,
      'the bystander learnt nothing of the rule changes',
    );
    blocked.client.close();
    bystander.client.close();
    await target.close();
  });

  it('tells a status committed after a rule change under the new rules while the replica reloads them', async () => {
    // The replica hears the rule change, then the status, in commit order; its reload of the rules
    // is held on a lock of the privacy table (the change itself is still uncommitted behind it), so
    // the status arrives while the reload is in flight. A sentinel user's change, notified after both,
    // proves the replica has taken the status notification before the reload is let go.
    const target = await h.connect('t3');
    const viewer = await h.connect('v3');
    const sentinel = await h.connect('s3');
    const watcher = await h.connect('w3');
    target.send({ status: 2 });
    sentinel.send({ status: 1 });
    await eventually(async () => (await h.app.api.myPresence('t3')).status === 2, { message: 't3 busy' });
    await eventually(async () => (await h.app.api.myPresence('s3')).status === 1, { message: 's3 on' });
    viewer.send({ events: { t3: 9 } });
    watcher.send({ events: { s3: 9 } });
    assert.equal(await viewer.next(), '{"status":2,"publisher":"t3"}');
    assert.equal(await watcher.next(), '{"status":1,"publisher":"s3"}');

    const channel = `${h.database.schema}.presence`;
    const notify = (notification: object) =>
      h.database.pool.query('select pg_notify($1, $2)', [channel, JSON.stringify(notification)]);
    const locker = await h.database.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table privacy in access exclusive mode');
      await locker.query(
        `insert into privacy (user_id, version, mode, users) values ('t3', 1000, 'blacklist', '{v3}')
         on conflict (user_id) do update set version = 1000, mode = 'blacklist', users = '{v3}'`,
      );
      await notify({ k: 'privacy', u: 't3', v: 1000 });
      await eventually(
        async () =>
          (
            await h.database.pool.query(
              `select 1 from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock' and query like '%from "privacy"%'`,
            )
          ).rowCount === 1,
        { message: 'the replica’s reload of t3’s rules waiting on the lock' },
      );
      await notify({ k: 'status', u: 't3', v: 1_000_000, s: 5 });
      await notify({ k: 'status', u: 's3', v: 1_000_000, s: 2 });
      assert.equal(await watcher.next(), '{"status":2,"publisher":"s3"}');
      await locker.query('commit');
    } finally {
      await locker.end();
    }
    // The rule change (8 from now on), then the status, told as 8: never a 5 under the old rules.
    assert.equal(await viewer.next(), '{"status":8,"publisher":"t3"}');
    assert.equal(await viewer.next(), '{"status":8,"publisher":"t3"}');
    assert.equal(viewer.frames.length, 3);
    for (const c of [target, viewer, sentinel, watcher]) await c.close();
  });
});

describe('history', () => {
  it('answers when a user was last ENABLE, and a hidden user’s history is one 8', async () => {
    const user = await h.connect('hist');
    user.send({ status: 2 });
    user.send({ status: 1 });
    user.send({ status: 5 });
    await eventually(async () => (await h.app.api.myPresence('hist')).status === 5, { message: 'hist 5' });
    const all = await h.call<{ status: number; changes: { status: number; at: string }[] }>(
      'reader',
      P.history,
      {
        userId: 'hist',
      },
    );
    assert.equal(all.status, 5);
    assert.deepEqual(
      all.changes.map((c) => c.status),
      [5, 1, 2, 1],
    );
    const lastEnable = await h.call<{ changes: { status: number; at: string }[]; hasMore: boolean }>(
      'reader',
      P.history,
      { userId: 'hist', status: 1, limit: 1 },
    );
    assert.equal(lastEnable.changes.length, 1);
    assert.equal(lastEnable.changes[0]!.at, all.changes[1]!.at);
    assert.equal(lastEnable.hasMore, true);

    await h.call('hist', P.setPrivacy, { mode: 'whitelist', users: [] });
    const hidden = await h.call<{ status: number; changes: { status: number }[]; hasMore: boolean }>(
      'reader',
      P.history,
      { userId: 'hist' },
    );
    assert.equal(hidden.status, 8);
    assert.deepEqual(
      hidden.changes.map((c) => c.status),
      [8],
    );
    assert.equal(hidden.hasMore, false);
    const own = await h.call<{ changes: unknown[] }>('hist', P.history, { userId: 'hist' });
    assert.equal(own.changes.length, 4, 'a user always sees their own history');
    await user.close();
  });
});

describe('group rules', () => {
  it('an admin hides one group from another, at once; users may not touch them', async () => {
    const boss = await h.connect('g-boss');
    const intern = await h.connect('g-intern');
    // A connection registers its user asynchronously: wait until both are ENABLE before subscribing.
    for (const id of ['g-boss', 'g-intern']) {
      await eventually(async () => (await h.app.api.myPresence(id)).status === 1, {
        message: `${id} connected`,
      });
    }
    intern.send({ events: { 'g-boss': 9 } });
    assert.equal(await intern.next(), '{"status":1,"publisher":"g-boss"}');
    await assert.rejects(
      h.call('g-intern', P.setGroup, { name: 'interns', members: ['g-intern'] }),
      (error: unknown) => isVecheError(error, 'forbidden'),
    );
    await h.call('admin', P.setGroup, { name: 'interns', members: ['g-intern'] }, 'admin');
    await h.call('admin', P.setGroup, { name: 'board', members: ['g-boss'] }, 'admin');
    await assert.rejects(
      h.call(
        'admin',
        P.setGroupRules,
        { rules: [{ viewerGroup: 'interns', targetGroup: 'nobody' }] },
        'admin',
      ),
      (error: unknown) => isVecheError(error, 'validation'),
    );
    const policy = await h.call<{ rules: unknown[] }>(
      'admin',
      P.setGroupRules,
      { rules: [{ viewerGroup: 'interns', targetGroup: 'board' }] },
      'admin',
    );
    assert.deepEqual(policy.rules, [{ viewerGroup: 'interns', targetGroup: 'board' }]);
    assert.equal(await intern.next(), '{"status":8,"publisher":"g-boss"}');
    // The boss still sees the intern: rules go one way.
    boss.send({ events: { 'g-intern': 9 } });
    assert.equal(await boss.next(), '{"status":1,"publisher":"g-intern"}');
    // The boss's white list cannot lift the admins' rule.
    await h.call('g-boss', P.setPrivacy, { mode: 'whitelist', users: ['g-intern'] });
    const lookup = await h.call<{ statuses: { status: number }[] }>('g-intern', P.getStatuses, {
      users: 'g-boss',
    });
    assert.equal(lookup.statuses[0]!.status, 8);
    // Deleting the group deletes its rules: the intern sees the boss again (the white list allows it).
    await h.call('admin', P.deleteGroup, { name: 'board' }, 'admin');
    assert.equal(await intern.next(), '{"status":1,"publisher":"g-boss"}');
    await boss.close();
    await intern.close();
  });
});
