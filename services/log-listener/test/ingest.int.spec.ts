/**
 * Sources and ingest on the real paths: a registered source gets a port from the range and listens at
 * once; lines sent over TCP (LF and octet counting) and TLS land in the API with their fields and in
 * the owner's live tail; another user gets 404; hostile input (garbage, invalid UTF-8, a 10 MB line,
 * idle and refused connections) is stored, flagged or counted and never stops the listener; listeners
 * come back after a restart; deleting a source closes its port.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import {
  logProcedures as P,
  type LogEventsPage,
  type LogRealtimeEvent,
  type LogSource,
} from '@veche/contracts';
import { isVecheError } from '@veche/errors';
import { connectWampClient, eventually } from '@veche/testing';
import { sender, startHarness, testCertificate, tokenOf, write, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, {
    tls: true,
    // The idle limit short enough for the idle test, long enough that a sender of the other tests
    // is not cut off between two writes by a loaded machine (1.5 s was not: write ECANCELED at load 20).
    overrides: { LOGS_MAX_LINE_BYTES: '4096', LOGS_IDLE_MS: '5000' },
  });
});
after(() => h?.close());

const events = (userId: string, sourceId: string, query: Record<string, unknown> = {}) =>
  h.call<LogEventsPage>(userId, P.events, { sourceId, ...query });

const source = (userId: string, sourceId: string) => h.call<LogSource>(userId, P.getSource, { sourceId });

describe('sources', () => {
  it('registers a source with a port from the range, setup snippets, and owner-only access', async () => {
    const s = await h.createSource('alice', { name: 'web servers', timeZone: '+02.00' });
    assert.ok(s.port >= h.config.LOGS_PORT_MIN && s.port <= h.config.LOGS_PORT_MAX);
    assert.equal(s.timeZone, '+02:00');
    assert.equal(s.userId, `127.0.0.1:${s.port}`);
    assert.match(s.setup.rsyslog, new RegExp(`port="${s.port}"`));
    assert.match(s.setup.remoteSyslog2, new RegExp(`port: ${s.port}`));
    const second = await h.createSource('alice', { name: 'db' });
    assert.notEqual(second.port, s.port);
    const list = await h.call<{ sources: LogSource[] }>('alice', P.listSources);
    assert.deepEqual(
      list.sources.map((x) => x.sourceId),
      [s.sourceId, second.sourceId],
    );
    assert.deepEqual((await h.call<{ sources: LogSource[] }>('bob', P.listSources)).sources, []);
    for (const attempt of [
      () => source('bob', s.sourceId),
      () => events('bob', s.sourceId),
      () => h.call('bob', P.deleteSource, { sourceId: s.sourceId }),
    ]) {
      await assert.rejects(attempt(), (e) => isVecheError(e, 'not_found'));
    }
    // Admins may read it.
    assert.equal(
      (await h.call<LogSource>('root', P.getSource, { sourceId: s.sourceId }, 'admin')).name,
      'web servers',
    );
    await assert.rejects(h.createSource('alice', { timeZone: 'Nowhere/Atlantis' }), (e) =>
      isVecheError(e, 'validation'),
    );
    await assert.rejects(h.createSource('alice', { allowedIps: ['10.0.0.0/99'] }), (e) =>
      isVecheError(e, 'validation'),
    );
    await assert.rejects(h.createSource('alice', { name: '' }), (e) => isVecheError(e, 'validation'));
  });
});

describe('ingest', () => {
  it('stores LF-framed and octet-counted lines with their fields, in the source zone, and tails them live', async () => {
    const s = await h.createSource('carol', { timeZone: '+03:00' });
    const client = await connectWampClient(h.router.url, 'carol', tokenOf('carol'));
    const tail: LogRealtimeEvent[] = [];
    await client.session.subscribe('veche.user.carol.logs', (_args, kwargs) => {
      tail.push(kwargs as LogRealtimeEvent);
    });
    const socket = await sender(s.port);
    const r5424 = '<165>1 2026-12-02T01:02:03.000Z web-1 nginx 99 - - GET /index 200';
    await write(socket, `${Buffer.byteLength(r5424)} ${r5424}`);
    await write(socket, '<13>Dec  2 06:00:00 web-2 app.log: local time line\n');
    await write(socket, '<22>2026-12-02T03:04:05Z host-a worker.log: remote_syslog2 line\n');
    const page = await eventually(
      async () => {
        const p = await events('carol', s.sourceId);
        return p.events.length === 3 ? p : undefined;
      },
      { message: 'three lines' },
    );
    assert.equal(page.isOldestEventReached, true);
    const [flavour, bsd, rfc5424] = page.events;
    assert.deepEqual(
      {
        createdAt: rfc5424!.createdAt,
        host: rfc5424!.hostname,
        app: rfc5424!.appName,
        file: rfc5424!.fileName,
        msg: rfc5424!.message,
        sev: rfc5424!.severity,
        fac: rfc5424!.facility,
      },
      {
        createdAt: '2026-12-02T01:02:03.000Z',
        host: 'web-1',
        app: 'nginx',
        file: 'nginx',
        msg: 'GET /index 200',
        sev: 5,
        fac: 20,
      },
    );
    assert.equal(
      bsd!.createdAt.slice(11),
      '03:00:00.000Z',
      'a zone-less stamp is read in the source zone (+03:00)',
    );
    assert.equal(bsd!.fileName, 'app.log');
    assert.equal(flavour!.message, 'remote_syslog2 line');
    assert.equal(flavour!.senderIp, '127.0.0.1');
    assert.equal(flavour!.userId, `127.0.0.1:${s.port}`);
    assert.ok(BigInt(flavour!.id) > BigInt(bsd!.id));
    await eventually(() => tail.flatMap((t) => (t.type === 'lines' ? t.events : [])).length === 3, {
      message: 'tail',
    });
    const tailed = tail.flatMap((t) => (t.type === 'lines' ? t.events : []));
    assert.deepEqual(
      tailed.map((e) => e.id),
      [...page.events].reverse().map((e) => e.id),
    );
    socket.destroy();
    client.close();
  });

  it('pages back with before/after and limit, filters and searches with highlights', async () => {
    const s = await h.createSource('dave');
    const socket = await sender(s.port);
    let text = '';
    for (let i = 1; i <= 25; i++)
      text += `<${i % 2 === 0 ? 11 : 14}>2026-12-02T00:00:${String(i).padStart(2, '0')}Z h${i % 3} f${i % 2}.log: line ${i}${i === 7 ? ' Needle needle' : ''}\n`;
    await write(socket, text);
    await eventually(async () => (await events('dave', s.sourceId, { limit: 1000 })).events.length === 25, {
      message: '25 lines',
    });
    const first = await events('dave', s.sourceId, { limit: 10 });
    assert.deepEqual(
      first.events.map((e) => e.message),
      Array.from({ length: 10 }, (_, i) => `line ${25 - i}`),
    );
    assert.equal(first.isOldestEventReached, false);
    const second = await events('dave', s.sourceId, { limit: 10, before: first.events.at(-1)!.id });
    const third = await events('dave', s.sourceId, { limit: 10, before: second.events.at(-1)!.id });
    assert.equal(third.events.length, 5);
    assert.equal(third.isOldestEventReached, true);
    const after = await events('dave', s.sourceId, { limit: 3, after: third.events.at(-1)!.id });
    assert.deepEqual(
      after.events.map((e) => e.message),
      ['line 2', 'line 3', 'line 4'],
    );
    const found = await events('dave', s.sourceId, { q: 'NEEDLE' });
    assert.equal(found.events.length, 1);
    assert.deepEqual(found.events[0]!.highlights, [
      [7, 13],
      [14, 20],
    ]);
    assert.equal(
      (await events('dave', s.sourceId, { q: '100%' })).events.length,
      0,
      'LIKE wildcards are literal',
    );
    assert.equal((await events('dave', s.sourceId, { severity: 3, limit: 100 })).events.length, 12);
    assert.equal((await events('dave', s.sourceId, { fileName: 'f1.log', limit: 100 })).events.length, 13);
    assert.equal((await events('dave', s.sourceId, { hostname: 'h0', limit: 100 })).events.length, 8);
    assert.equal((await events('dave', s.sourceId, { senderIp: '127.0.0.1', limit: 100 })).events.length, 25);
    assert.equal((await events('dave', s.sourceId, { senderIp: '10.0.0.1' })).events.length, 0);
    const window = await events('dave', s.sourceId, {
      from: '2026-12-02T00:00:10Z',
      to: '2026-12-02T00:00:15Z',
      limit: 100,
    });
    assert.deepEqual(window.events.map((e) => e.message).reverse(), [
      'line 10',
      'line 11',
      'line 12',
      'line 13',
      'line 14',
    ]);
    socket.destroy();
  });

  it('takes TLS on a TLS source', async () => {
    const s = await h.createSource('erin', { tls: true });
    assert.equal(s.tls, true);
    const ca = readFileSync(h.config.LOGS_TLS_CERT_FILE!);
    const socket = await sender(s.port, { tls: ca });
    await write(socket, '<14>1 - tls-host app - - - over tls\n');
    await eventually(async () => (await events('erin', s.sourceId)).events[0]?.message === 'over tls', {
      message: 'tls line',
    });
    socket.destroy();
    // Plain text on the TLS port is not a line.
    const plain = await sender(s.port);
    await write(plain, '<14>1 - h app - - - not tls\n');
    await eventually(() => plain.destroyed || plain.readableEnded, { message: 'plain socket closed' });
    assert.equal((await events('erin', s.sourceId)).events.length, 1);
  });

  it('takes a renewed certificate for the next connections, without a restart', async () => {
    const s = await h.createSource('erin', { name: 'renewed', tls: true });
    const fingerprintOf = (pem: Buffer) => new X509Certificate(pem).fingerprint256;
    const served = (ca: Buffer) =>
      sender(s.port, { tls: ca }).then((socket) => {
        const fingerprint =
          socket instanceof TLSSocket ? socket.getPeerX509Certificate()?.fingerprint256 : undefined;
        socket.destroy();
        return fingerprint;
      });
    const before = readFileSync(h.config.LOGS_TLS_CERT_FILE!);
    assert.equal(await served(before), fingerprintOf(before));
    // The renewal, as certbot's or a secret's: new files in place of the old (each replaced at once).
    const renewed = testCertificate();
    copyFileSync(renewed.keyFile, `${h.config.LOGS_TLS_KEY_FILE!}.new`);
    copyFileSync(renewed.certFile, `${h.config.LOGS_TLS_CERT_FILE!}.new`);
    renameSync(`${h.config.LOGS_TLS_KEY_FILE!}.new`, h.config.LOGS_TLS_KEY_FILE!);
    renameSync(`${h.config.LOGS_TLS_CERT_FILE!}.new`, h.config.LOGS_TLS_CERT_FILE!);
    await eventually(async () => (await served(renewed.cert)) === fingerprintOf(renewed.cert), {
      message: 'the renewed certificate served',
    });
    const socket = await sender(s.port, { tls: renewed.cert });
    await write(socket, '<14>1 - tls-host app - - - after the renewal\n');
    await eventually(
      async () => (await events('erin', s.sourceId)).events[0]?.message === 'after the renewal',
      {
        message: 'a line over the renewed certificate',
      },
    );
    socket.destroy();
  });
});

describe('hostile input', () => {
  it('stores garbage and invalid UTF-8 flagged, truncates a 10 MB line, and keeps serving', async () => {
    const s = await h.createSource('frank');
    const socket = await sender(s.port);
    await write(
      socket,
      Buffer.concat([
        Buffer.from('<13>bad '),
        Buffer.from([0xff, 0xc3, 0x28, 0x00]),
        Buffer.from(' bytes\n'),
      ]),
    );
    await write(socket, Buffer.from([0x00, 0x01, 0x02, 0x0a]));
    const huge = Buffer.alloc(10 * 1024 * 1024, 0x78);
    await write(socket, Buffer.concat([Buffer.from('<13>huge: '), huge, Buffer.from('\n<13>after: fine\n')]));
    const page = await eventually(
      async () => {
        const p = await events('frank', s.sourceId);
        return p.events.length === 4 ? p : undefined;
      },
      { message: 'four lines', timeoutMs: 30_000 },
    );
    const [fine, big, control, bad] = page.events;
    assert.equal(fine!.message, 'fine');
    assert.equal(big!.truncated, true);
    assert.ok(big!.message.length <= 4096);
    // A NUL that starts a frame is skipped like an empty line; one inside a line becomes U+FFFD.
    assert.equal(control!.message, '\u0001\u0002');
    assert.equal(bad!.invalidUtf8, true);
    assert.match(bad!.message, /^bad \uFFFD\uFFFD\(\uFFFD bytes$/);
    const counters = (await source('frank', s.sourceId)).counters;
    assert.equal(counters.received, 4);
    assert.equal(counters.truncated, 1);
    assert.equal(counters.invalidUtf8, 1);
    socket.destroy();
  });

  it('refuses senders outside the allowed addresses, counted for the owner', async () => {
    const s = await h.createSource('gina', { allowedIps: ['10.9.9.0/24'] });
    const socket = await sender(s.port);
    socket.on('error', () => {});
    socket.write('<13>t: refused\n');
    await eventually(() => socket.destroyed || socket.readableEnded, { message: 'closed' });
    await eventually(async () => (await source('gina', s.sourceId)).counters.rejectedConnections === 1, {
      message: 'counted',
    });
    assert.equal((await events('gina', s.sourceId)).events.length, 0);
  });

  it('closes idle connections (counted) and holds 1,000 idle ones while another sender gets through', async () => {
    const s = await h.createSource('hank');
    const idle: net.Socket[] = [];
    for (let i = 0; i < 1000; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: s.port });
      socket.on('error', () => {});
      idle.push(socket);
    }
    await Promise.all(
      idle.map(
        (socket) =>
          new Promise((resolve) => (socket.connecting ? socket.once('connect', resolve) : resolve(null))),
      ),
    );
    const live = await sender(s.port);
    await write(live, '<13>t: through\n');
    await eventually(async () => (await events('hank', s.sourceId)).events.length === 1, {
      message: 'line through',
    });
    // Half a line, then silence: closed after LOGS_IDLE_MS.
    await eventually(() => idle.every((socket) => socket.destroyed || socket.readableEnded), {
      message: 'idle closed',
      timeoutMs: 30_000,
    });
    await eventually(async () => (await source('hank', s.sourceId)).counters.closedConnections >= 1000, {
      message: 'counted',
      timeoutMs: 15_000,
    });
    for (const socket of idle) socket.destroy();
    live.destroy();
  });
});

describe('lifecycle', () => {
  it('reopens listeners after a restart, and closes the port of a deleted source', async () => {
    const s = await h.createSource('ivan');
    await h.restart();
    const socket = await sender(s.port);
    await write(socket, '<13>t: after restart\n');
    await eventually(async () => (await events('ivan', s.sourceId)).events.length === 1, {
      message: 'line after restart',
    });
    socket.destroy();
    await h.call('ivan', P.deleteSource, { sourceId: s.sourceId });
    await assert.rejects(sender(s.port), /ECONNREFUSED/);
    await assert.rejects(source('ivan', s.sourceId), (e) => isVecheError(e, 'not_found'));
    const { deletedLines } = await h.app.maintenance.runOnce();
    assert.ok(deletedLines >= 1);
  });
});
