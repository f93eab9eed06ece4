/**
 * Three linked domains (issue 20): a.test ↔ b.test ↔ c.test, three presence-routers with their own
 * schemas and WAMP routers, each serving /pubsub and /pubsub/federation on its own port. Nothing a
 * domain receives is sent on (B does not relay A's users to C, nothing comes back to where it came
 * from, a change is told once, also when A and C are linked directly as well); an unlinked domain
 * receives nothing more; a link that was down catches up from its checkpoint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { sql } from '@veche/db';
import { eventually } from '@veche/testing';
import { federationAuthorization } from '../src/federation/protocol.ts';
import { createSecretBox } from '../src/federation/secrets.ts';
import { startHarness, type Harness } from './support/harness.ts';
import type { PubsubClient } from './support/pubsub-client.ts';
import { tcpRelay, type TcpRelay } from './support/tcp-relay.ts';

const secrets = { ab: 'secret between a and b', bc: 'secret between b and c', ac: 'secret between a and c' };

describe('three linked domains', () => {
  const h: Record<'a' | 'b' | 'c', Harness> = {} as never;
  let cToB!: TcpRelay;
  const ids = { a1: 'fed3-a1', b1: 'fed3-b1', c1: 'fed3-c1' };
  const clients: Record<string, PubsubClient> = {};
  const federationUrl = (x: Harness) => `${x.url}/federation`;

  /** Statuses told to `client` about `publisher`, in order. */
  const about = (client: PubsubClient, publisher: string) =>
    client.frames
      .map((f) => JSON.parse(f) as { status?: number; publisher?: string })
      .filter((f) => f.publisher === publisher)
      .map((f) => f.status);
  /**
   * `client` was told each of `statuses` exactly once about `publisher`, in this order (statuses the
   * publisher never had before: a re-told earlier status cannot be mistaken for them).
   */
  const onceEach = (client: PubsubClient, publisher: string, statuses: number[]) => {
    const told = about(client, publisher);
    return (
      statuses.every((status) => told.filter((t) => t === status).length === 1) &&
      told.filter((t) => statuses.includes(t!)).join() === statuses.join()
    );
  };
  const remoteRows = async (x: Harness) =>
    (
      await sql<{ domain: string; remote_user: string; viewer: string }>`
        select domain, remote_user, viewer from remote_statuses order by 1, 2, 3`.execute(x.app.database.db)
    ).rows;
  const connected = async (x: Harness, domain: string) =>
    (await x.app.federation.list()).find((l) => l.domain === domain)?.connected === true;

  before(async () => {
    for (const name of ['a', 'b', 'c'] as const)
      h[name] = await startHarness(`fed3_${name}`, {
        overrides: {
          PRESENCE_DOMAIN: `${name}.test`,
          FEDERATION_BATCH_MAX: '3',
          FEDERATION_BATCH_PAUSE_MS: '5',
        },
      });
    cToB = await tcpRelay(Number(new URL(h.b.url.replace('ws', 'http')).port));
    await h.a.app.federation.link('b.test', { url: federationUrl(h.b), secret: secrets.ab });
    await h.b.app.federation.link('a.test', { url: federationUrl(h.a), secret: secrets.ab });
    await h.b.app.federation.link('c.test', { url: federationUrl(h.c), secret: secrets.bc });
    await h.c.app.federation.link('b.test', {
      url: `ws://127.0.0.1:${cToB.port}/pubsub/federation`,
      secret: secrets.bc,
    });
    clients['a1'] = await h.a.connect(ids.a1);
    clients['b1'] = await h.b.connect(ids.b1);
    clients['c1'] = await h.c.connect(ids.c1);
    for (const name of ['a1', 'b1', 'c1']) clients[name]!.send('{"status": 1}');
    // b1 watches a1; a1 and c1 watch b1; c1 also names a1, whose domain C is not linked to.
    clients['b1'].send({ events: { [`${ids.a1}@a.test`]: 9 } });
    clients['a1'].send({ events: { [`${ids.b1}@b.test`]: 9 } });
    clients['c1'].send({ events: { [`${ids.b1}@b.test`]: 9, [`${ids.a1}@a.test`]: 9 } });
    await eventually(() => about(clients['b1']!, `${ids.a1}@a.test`).includes(1), {
      timeoutMs: 20_000,
      message: 'b1 sees a1',
    });
    await eventually(() => about(clients['c1']!, `${ids.b1}@b.test`).includes(1), {
      timeoutMs: 20_000,
      message: 'c1 sees b1',
    });
    // Every watch in place before the test's changes: one made after them hears only the latest.
    await eventually(() => about(clients['a1']!, `${ids.b1}@b.test`).includes(1), {
      timeoutMs: 20_000,
      message: 'a1 sees b1',
    });
  });

  after(async () => {
    await cToB?.close();
    for (const x of Object.values(h)) await x.close();
  });

  it('tells each change once, never back to where it came from, never on to a third domain', async () => {
    const a1 = `${ids.a1}@a.test`;
    const b1 = `${ids.b1}@b.test`;
    const a1Changes = async () =>
      (await h.a.app.store.readStream(`presence-${ids.a1}`))
        .filter((e) => e.type === 'presence.status_changed')
        .map((e) => (e.data as { status: number }).status);
    const before = await a1Changes();
    for (const status of [2, 5, 6]) clients['a1']!.send({ status });
    for (const status of [4, 7]) clients['b1']!.send({ status });
    await eventually(() => onceEach(clients['b1']!, a1, [2, 5, 6]), {
      timeoutMs: 10_000,
      message: 'b1 told a1’s 2, 5, 6 once each',
    }).catch((error: unknown) => {
      throw new Error(`b1 got ${JSON.stringify(about(clients['b1']!, a1))}`, { cause: error });
    });
    await eventually(() => onceEach(clients['c1']!, b1, [4, 7]), {
      timeoutMs: 10_000,
      message: 'c1 told b1’s 4, 7 once each',
    });
    await eventually(() => onceEach(clients['a1']!, b1, [4, 7]), {
      timeoutMs: 10_000,
      message: 'a1 told b1’s 4, 7 once each',
    });
    // c1 named a1, but C has no link to A and B passes nothing on: only ever 8.
    assert.deepEqual([...new Set(about(clients['c1']!, a1))], [8]);
    // Nothing came back: no domain holds a status of its own users as remote; C holds nothing of A.
    const [atA, atB, atC] = [await remoteRows(h.a), await remoteRows(h.b), await remoteRows(h.c)];
    assert.ok(
      atA.every((r) => r.domain === 'b.test' && r.remote_user === ids.b1),
      JSON.stringify(atA),
    );
    assert.ok(
      atB.every((r) => r.domain === 'a.test' && r.remote_user === ids.a1),
      JSON.stringify(atB),
    );
    assert.ok(
      atC.every((r) => r.domain === 'b.test' && r.remote_user === ids.b1),
      JSON.stringify(atC),
    );
    // A's log holds a1's own changes only (three more statuses), none written by the links.
    assert.deepEqual(await a1Changes(), [...before, 2, 5, 6]);
  });

  it('asks the user’s own domain for their history, its filters applied there', async () => {
    type History = { userId: string; status: number; changes: { status: number }[]; hasMore: boolean };
    const all = await h.a.call<History>(ids.a1, 'veche.presence.history', { userId: `${ids.b1}@b.test` });
    assert.equal(all.userId, `${ids.b1}@b.test`);
    assert.deepEqual(
      all.changes.slice(0, 2).map((c) => c.status),
      [7, 4],
    );
    const lastEnable = await h.a.call<History>(ids.a1, 'veche.presence.history', {
      userId: `${ids.b1}@b.test`,
      status: 1,
      limit: 1,
    });
    assert.deepEqual(
      lastEnable.changes.map((c) => c.status),
      [1],
    );
  });

  it('stores link secrets sealed, and seals one stored plain (before sealing) again', async () => {
    const stored = async () =>
      (
        await sql<{ domain: string; secret: string }>`
          select domain, secret from federation_links order by domain`.execute(h.b.app.database.db)
      ).rows;
    for (const row of await stored()) {
      assert.match(row.secret, /^sealed:v1:svc:/);
      assert.ok(!Object.values(secrets).some((plain) => row.secret.includes(plain)));
    }
    await sql`
      insert into federation_links (domain, url, secret)
      values ('old.test', 'ws://127.0.0.1:9/pubsub/federation', 'a secret stored before sealing')`.execute(
      h.b.app.database.db,
    );
    // What start does (a second replica here would compete for B's links): returns how many.
    assert.equal(await h.b.app.federation.reseal(), 1);
    const old = (await stored()).find((r) => r.domain === 'old.test')!;
    assert.match(old.secret, /^sealed:v1:svc:/);
    assert.equal(
      createSecretBox({ serviceSecret: h.b.config.VECHE_SERVICE_SECRET }).open('old.test', old.secret),
      'a secret stored before sealing',
    );
    await h.b.app.federation.unlink('old.test');
  });

  it('with A and C linked directly too (a triangle), still tells each change once', async () => {
    await h.a.app.federation.link('c.test', { url: federationUrl(h.c), secret: secrets.ac });
    await h.c.app.federation.link('a.test', { url: federationUrl(h.a), secret: secrets.ac });
    const a1 = `${ids.a1}@a.test`;
    const b1 = `${ids.b1}@b.test`;
    const c1 = clients['c1']!;
    const bWatcher = clients['b1']!;
    // c1 subscribes to a1 again: now answered by A itself.
    c1.send({ events: { [a1]: 9 } });
    await eventually(() => about(c1, a1).includes(6), { timeoutMs: 20_000, message: 'c1 sees a1 via A' });
    for (const status of [3, 4, 7]) clients['a1']!.send({ status });
    clients['b1']!.send({ status: 5 });
    await eventually(() => onceEach(c1, a1, [3, 4, 7]), {
      timeoutMs: 10_000,
      message: 'c1 told a1’s 3, 4, 7 once each',
    }).catch((error: unknown) => {
      throw new Error(`c1 got ${JSON.stringify(about(c1, a1))}`, { cause: error });
    });
    await eventually(() => onceEach(bWatcher, a1, [3, 4, 7]), {
      timeoutMs: 10_000,
      message: 'b1 told a1’s 3, 4, 7 once each',
    });
    await eventually(() => onceEach(c1, b1, [5]), {
      timeoutMs: 10_000,
      message: 'c1 told b1’s 5 once',
    });
    // Still nothing of anyone's own users came back to them.
    for (const [x, own] of [
      [h.a, ids.a1],
      [h.b, ids.b1],
      [h.c, ids.c1],
    ] as const)
      assert.ok((await remoteRows(x)).every((r) => r.remote_user !== own));
  });

  it('catches up from its checkpoint after C’s link to B was down', async () => {
    const b1 = `${ids.b1}@b.test`;
    const c1 = clients['c1']!;
    await cToB.cut();
    await eventually(async () => !(await connected(h.c, 'b.test')), { message: 'C sees its link to B down' });
    const before = about(c1, b1).length;
    const during = [2, 4, 6, 7, 3, 5, 1];
    for (const status of during) clients['b1']!.send({ status });
    // A still gets them live (its link is up): they were made, and C's link is what is missing.
    await eventually(() => about(clients['a1']!, b1).slice(-during.length).join() === during.join(), {
      timeoutMs: 10_000,
      message: 'A told every change live',
    });
    assert.equal(about(c1, b1).length, before, 'nothing reaches C while the link is down');
    await cToB.restore();
    await eventually(
      () => {
        let i = 0;
        for (const status of about(c1, b1).slice(before)) if (status === during[i]) i++;
        return i === during.length;
      },
      { timeoutMs: 20_000, message: 'every change made while down, in order' },
    ).catch((error: unknown) => {
      throw new Error(`after the gap c1 got ${JSON.stringify(about(c1, b1).slice(before))}`, {
        cause: error,
      });
    });
    assert.ok(await connected(h.c, 'b.test'));
  });

  it('applies a privacy rule changed after the link told the user’s statuses, both ways, at once', async () => {
    // B's sender keeps what it knows of b1 (rules included) from the log it follows: a rule
    // changed after that must decide the very next change, never the rules it knew before.
    const b1 = `${ids.b1}@b.test`;
    const watcher = clients['a1']!;
    clients['b1']!.send({ status: 4 });
    await eventually(() => about(watcher, b1).at(-1) === 4, { timeoutMs: 10_000, message: 'a1 sees 4' });
    const before = about(watcher, b1).length;
    await h.b.call(ids.b1, 'veche.presence.set_privacy', { mode: 'blacklist', users: [`${ids.a1}@a.test`] });
    clients['b1']!.send({ status: 2 });
    // Told twice (the rule, then the change), both 8: the 2 is never shown to a1.
    await eventually(() => about(watcher, b1).length >= before + 2, {
      timeoutMs: 10_000,
      message: 'a1 told of the rule and the change',
    });
    assert.deepEqual(about(watcher, b1).slice(before), [8, 8]);
    await h.b.call(ids.b1, 'veche.presence.set_privacy', { mode: 'everyone', users: [] });
    clients['b1']!.send({ status: 7 });
    // The rule lifted: b1's real status (2), then the change (7).
    await eventually(() => about(watcher, b1).length >= before + 4, {
      timeoutMs: 10_000,
      message: 'a1 told of the lifted rule and the change',
    });
    assert.deepEqual(about(watcher, b1).slice(before), [8, 8, 2, 7]);
  });

  it('receives nothing more once unlinked', async () => {
    const b1 = `${ids.b1}@b.test`;
    await h.c.app.federation.unlink('b.test');
    assert.deepEqual(
      (await h.c.app.federation.list()).map((l) => l.domain),
      ['a.test'],
    );
    assert.ok((await remoteRows(h.c)).every((r) => r.domain !== 'b.test'));
    const before = about(clients['c1']!, b1).length;
    // unlink waits for the link to stop: a change after it reaches A (still linked), never C.
    clients['b1']!.send({ status: 4 });
    clients['b1']!.send({ status: 2 });
    await eventually(() => about(clients['a1']!, b1).slice(-2).join() === '4,2', {
      timeoutMs: 10_000,
      message: 'A told b1’s 4, 2',
    });
    assert.equal(about(clients['c1']!, b1).length, before);
    // B no longer serves C either once B unlinks too: C's signed upgrade is refused with 401.
    await h.b.app.federation.unlink('c.test');
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(federationUrl(h.b), {
        headers: { authorization: federationAuthorization(secrets.bc, 'c.test', 'b.test') },
      });
      ws.on('unexpected-response', (request, response) => {
        request.destroy();
        resolve(response.statusCode ?? 0);
      });
      ws.on('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.on('error', () => undefined);
    });
    assert.equal(status, 401);
  });
});
