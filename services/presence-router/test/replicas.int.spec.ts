/**
 * Two replicas behind one origin give the same answers: a change made through one reaches
 * subscribers connected to the other (including privacy flips), and a replica that dies (SIGKILL)
 * loses no explicit status; its users reconnect to the other, and its connections are buried once
 * its heartbeat runs out.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { presenceProcedures as P } from '@veche/contracts';
import { eventually } from '@veche/testing';
import { connectPubsub } from './support/pubsub-client.ts';
import { spawnReplica } from './support/replica-process.ts';
import { startHarness, tokenOf, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, { replicas: 2 });
});
after(() => h?.close());

const connectionsOf = async (replicaId: string) =>
  (
    await h.database.db
      .$extendTables<{ connections: { replica_id: string | null } }>()
      .selectFrom('connections')
      .select('replica_id')
      .where('replica_id', '=', replicaId)
      .execute()
  ).length;

it('a change made through one replica reaches subscribers of the other', async () => {
  const publisher = await h.connect('r-pub', { replica: 0 });
  const watcher = await h.connect('r-watch', { replica: 1 });
  const other = await h.connect('r-other', { replica: 0 });
  await eventually(async () => (await h.app.api.myPresence('r-pub')).connected, {
    message: 'r-pub connected',
  });
  watcher.send({ events: { 'r-pub': 9 } });
  other.send({ events: { 'r-pub': 9 } });
  assert.equal(await watcher.next(), '{"status":1,"publisher":"r-pub"}');
  assert.equal(await other.next(), '{"status":1,"publisher":"r-pub"}');
  publisher.send({ status: 2, timestamp: 't' });
  assert.equal(await watcher.next(), '{"status":2,"publisher":"r-pub","timestamp":"t"}');
  assert.equal(await other.next(), '{"status":2,"publisher":"r-pub","timestamp":"t"}');
  // A privacy change through the API reaches the subscriber on the other replica at once.
  await h.call('r-pub', P.setPrivacy, { mode: 'blacklist', users: ['r-watch'] });
  assert.equal(await watcher.next(), '{"status":8,"publisher":"r-pub"}');
  // Both replicas answer lookups the same way.
  const [first, second] = await Promise.all(
    h.replicas.map((r) => r.app.api.statusesOf({ userId: 'r-watch' }, { users: ['r-pub'] })),
  );
  assert.deepEqual(first, second);
  for (const c of [publisher, watcher, other]) await c.close();
});

it('a replica that dies loses no explicit status; its users come back through the other', async () => {
  const doomed = await spawnReplica(h.config, h.database.schema, 'doomed-replica');
  const url = h.replicas[0]!.url;
  const watcher = await h.connect('d-watch', { replica: 0 });
  const phone = await connectPubsub(doomed.url, {
    headers: { authorization: `Bearer ${tokenOf('d-user')}` },
  });
  phone.send({ status: 5, timestamp: 'before the crash' });
  await eventually(async () => (await h.app.api.myPresence('d-user')).status === 5, {
    message: 'd-user DND',
  });
  watcher.send({ events: { 'd-user': 9 } });
  assert.equal(await watcher.next(), '{"status":5,"publisher":"d-user","timestamp":"before the crash"}');
  assert.equal(await connectionsOf('doomed-replica'), 1);

  await doomed.kill('SIGKILL');
  const lost = await phone.closed;
  assert.equal(lost.code, 1006, 'the connection was cut, not closed');
  // The client reconnects, to the replica that is left, and publishes nothing.
  const back = await connectPubsub(url, { headers: { authorization: `Bearer ${tokenOf('d-user')}` } });
  // The dead replica's connections go once its lease runs out.
  await eventually(async () => (await connectionsOf('doomed-replica')) === 0, {
    timeoutMs: 20_000,
    message: 'the dead replica’s connections buried',
  });
  const presence = await h.app.api.myPresence('d-user');
  assert.equal(presence.chosen, 5, 'the explicit status survived the crash');
  assert.equal(presence.status, 5);
  assert.equal(presence.connected, true);
  // Whatever the watcher saw meanwhile, it ends on the status the user chose, never on a guess.
  await eventually(() => watcher.frames.at(-1)?.startsWith('{"status":5,') === true, {
    message: 'the watcher sees DND again',
  });
  await back.close();
  await eventually(() => watcher.frames.at(-1) === '{"status":3,"publisher":"d-user"}', {
    message: 'offline once the last connection closed',
  });
  await watcher.close();
});
