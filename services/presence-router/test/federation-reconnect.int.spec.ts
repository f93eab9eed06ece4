/**
 * A federation link whose reconnection meets a PostgreSQL failure (its row cannot be read) keeps
 * trying, and comes back once PostgreSQL answers and the other domain is reachable again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from '@veche/db';
import { capturedLogger, eventually } from '@veche/testing';
import { startHarness, type Harness } from './support/harness.ts';
import type { PubsubClient } from './support/pubsub-client.ts';
import { tcpRelay, type TcpRelay } from './support/tcp-relay.ts';

const secret = 'secret between a and b, reconnecting';

describe('a federation link reconnecting', () => {
  let a!: Harness;
  let b!: Harness;
  let relay: TcpRelay | undefined;
  const clients: PubsubClient[] = [];
  const captured = capturedLogger('presence-test', 'info');

  before(async () => {
    a = await startHarness('fedre_a', { overrides: { PRESENCE_DOMAIN: 'a.test' }, log: captured.log });
    b = await startHarness('fedre_b', { overrides: { PRESENCE_DOMAIN: 'b.test' } });
    relay = await tcpRelay(Number(new URL(b.url.replace('ws', 'http')).port));
    await a.app.federation.link('b.test', { url: `ws://127.0.0.1:${relay.port}/pubsub/federation`, secret });
    await b.app.federation.link('a.test', { url: `${a.url}/federation`, secret });
  });
  after(async () => {
    for (const client of clients) client.socket.terminate();
    await relay?.close();
    await a?.close();
    await b?.close();
  });

  const about = (client: PubsubClient, publisher: string) =>
    client.frames
      .map((f) => JSON.parse(f) as { status?: number; publisher?: string })
      .filter((f) => f.publisher === publisher)
      .map((f) => f.status);

  it('keeps trying after an attempt could not read its link, and carries changes again', async () => {
    const watcher = await a.connect('fedre-a1');
    const watched = await b.connect('fedre-b1');
    clients.push(watcher, watched);
    const address = 'fedre-b1@b.test';
    watched.send('{"status": 1}');
    watcher.send({ events: { [address]: 9 } });
    await eventually(() => about(watcher, address).includes(1), { message: 'a1 sees b1 over the link' });

    // The link goes down; while it retries, A's row of it cannot be read.
    const failuresBefore = captured.lines.filter(
      (l) => l['msg'] === 'reconnecting the federation link failed; trying again',
    ).length;
    await sql`alter table federation_links rename to federation_links_away`.execute(a.app.database.db);
    try {
      await relay!.cut();
      await eventually(
        () =>
          captured.lines.filter((l) => l['msg'] === 'reconnecting the federation link failed; trying again')
            .length > failuresBefore,
        { message: 'a reconnection that failed to read the link' },
      );
    } finally {
      await sql`alter table federation_links_away rename to federation_links`.execute(a.app.database.db);
    }
    await relay!.restore();
    watched.send('{"status": 2}');
    await eventually(() => about(watcher, address).includes(2), {
      message: 'b1’s change on A, over the link come back',
    });
    assert.equal((await a.app.federation.list()).find((l) => l.domain === 'b.test')?.connected, true);
  });
});
