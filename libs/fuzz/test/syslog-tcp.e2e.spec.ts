/**
 * Syslog fuzzed over real TCP and TLS connections to the log-listener of the running local fleet (not
 * only its parser): each case is one connection carrying generated frames (text lines framed by LF,
 * CRLF or an octet count, empty octet-counted frames, blank lines, lines over the size limit, invalid
 * UTF-8), cut into random chunks. The sources' counters must say exactly what was received, truncated, not UTF-8 and dropped;
 * each line is stored once; streams of random bytes (and plain text to a TLS port, and senders outside
 * `allowedIps`) go to other sources and must not stop anything. Meanwhile a witness connection to
 * another source keeps sending: every line of it is committed while the fuzzing goes on, and no
 * process restarts. `FUZZ_RUNS` / `FUZZ_LONG=1` for more cases.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import fc from 'fast-check';
import { eventually, freePortRange } from '@veche/testing';
import { startFleet, type Fleet } from '../../../scripts/fleet/test/support/fleet.ts';
import { FuzzTally, fuzzParameters, fuzzRuns } from '../src/index.ts';

const runs = fuzzRuns(100);
const maxLineBytes = 512;

/** A self-signed certificate for 127.0.0.1, made with openssl for this run. */
function certificate(): { certFile: string; keyFile: string; cert: Buffer } {
  const dir = mkdtempSync(path.join(tmpdir(), 'fuzz-syslog-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile) };
}

interface Counters {
  received: number;
  rejectedConnections: number;
  truncated: number;
  invalidUtf8: number;
  dropped: number;
  closedConnections: number;
}
const zero = (): Counters => ({
  received: 0,
  rejectedConnections: 0,
  truncated: 0,
  invalidUtf8: 0,
  dropped: 0,
  closedConnections: 0,
});

/** One generated frame: its wire bytes once it carries a marker, and what the counters must say. */
interface FrameSpec {
  /** `empty`: an octet-counted frame of 0 bytes (dropped, counted); `blank`: a bare LF or CRLF between
   *  frames (skipped as separators, as rsyslog does: no frame, no count). */
  kind: 'text' | 'long' | 'not-utf8' | 'empty' | 'blank';
  framing: 'lf' | 'crlf' | 'octet';
  /** Bytes after the marker. */
  body: Buffer;
}

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 60,
});
const framing = fc.constantFrom<FrameSpec['framing']>('lf', 'crlf', 'octet');
const frameSpec: fc.Arbitrary<FrameSpec> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('text' as const),
      framing,
      body: printable.map((s) => Buffer.from(s)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('long' as const),
      framing: fc.constantFrom<FrameSpec['framing']>('lf', 'octet'),
      body: fc.integer({ min: maxLineBytes, max: maxLineBytes * 4 }).map((n) => Buffer.alloc(n, 'y')),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('not-utf8' as const),
      framing,
      body: fc
        .tuple(fc.constantFrom([0xff], [0xfe, 0xfe], [0xc3, 0x28], [0x80], [0xed, 0xa0, 0x80]), printable)
        .map(([bad, text]) => Buffer.concat([Buffer.from(' '), Buffer.from(bad), Buffer.from(text)])),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('empty' as const),
      framing: fc.constant<FrameSpec['framing']>('octet'),
      body: fc.constant(Buffer.alloc(0)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('blank' as const),
      framing: fc.constantFrom<FrameSpec['framing']>('lf', 'crlf'),
      body: fc.constant(Buffer.alloc(0)),
    }),
  },
);

function wire(spec: FrameSpec, marker: string): Buffer {
  const payload =
    spec.kind === 'empty' || spec.kind === 'blank'
      ? Buffer.alloc(0)
      : Buffer.concat([Buffer.from(marker), spec.body]);
  if (spec.framing === 'octet') return Buffer.concat([Buffer.from(`${payload.length} `), payload]);
  return Buffer.concat([payload, Buffer.from(spec.framing === 'crlf' ? '\r\n' : '\n')]);
}

/** Random bytes and framing edge cases, for the sources whose counts are not predicted. */
const garbagePiece = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc
    .constantFrom(
      '\n',
      '\r\n',
      '\0',
      ' ',
      '12 ',
      '0 ',
      '99999999999 ',
      '5 ab',
      '<13>Oct 11 22:14:15 h t: x\n',
    )
    .map((s) => Buffer.from(s)),
  fc.integer({ min: maxLineBytes - 2, max: maxLineBytes * 3 }).map((n) => Buffer.from(`${'z'.repeat(n)}\n`)),
);

const cutsOf = fc.array(fc.nat(), { maxLength: 6 });

/** Splits `bytes` at the cut points (modulo its length). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const point of [...points, bytes.length]) {
    if (point > at) out.push(bytes.subarray(at, point));
    at = Math.max(at, point);
  }
  return out;
}

type Transport = 'tcp' | 'tls';
/** Garbage also goes as plain TCP to a TLS port (a failed handshake). */
type GarbageTransport = Transport | 'plain-to-tls';

/** Connects, writes each chunk in turn, ends, and resolves once the connection is closed. */
function sendOnce(
  port: number,
  transport: Transport,
  parts: Buffer[],
  ca: Buffer,
): Promise<'sent' | 'closed early'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`port ${port} (${transport}): the connection did not finish within 30 s`));
    }, 30_000);
    let early = false;
    const socket: net.Socket =
      transport === 'tls'
        ? tls.connect({ host: '127.0.0.1', port, ca }, () => void write(0))
        : net.connect({ host: '127.0.0.1', port }, () => void write(0));
    socket.on('error', () => {
      early = true;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(early ? 'closed early' : 'sent');
    });
    // The server never writes; reading keeps the half-closed connection's end observable.
    socket.resume();
    function write(index: number): void {
      if (index >= parts.length) {
        socket.end();
        return;
      }
      socket.write(parts[index]!, (error) => {
        if (error) early = true;
        else write(index + 1);
      });
    }
  });
}

describe(
  `fuzzing syslog over TCP and TLS to the fleet's log-listener (${runs} cases)`,
  { timeout: 240_000 + runs * 1_500 },
  () => {
    let fleet: Fleet;
    let token = '';
    const tlsFiles = certificate();
    const sources: Record<string, { sourceId: string; port: number }> = {};

    const api = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${fleet.origin}/api${url}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await response.json()) as T;
      assert.ok(response.ok, `${method} ${url}: ${response.status} ${JSON.stringify(json)}`);
      return json;
    };
    const counters = async (name: string): Promise<Counters> => {
      const { counters: all } = await api<{ counters: Counters }>(
        'GET',
        `/logs/sources/${sources[name]!.sourceId}`,
      );
      const { received, rejectedConnections, truncated, invalidUtf8, dropped, closedConnections } = all;
      return { received, rejectedConnections, truncated, invalidUtf8, dropped, closedConnections };
    };
    /** Every stored message of a source, oldest first. */
    const messages = async (name: string): Promise<string[]> => {
      const out: string[] = [];
      let afterId = '0';
      for (;;) {
        const page = await api<{ events: { id: string; message: string }[] }>(
          'GET',
          `/logs/sources/${sources[name]!.sourceId}/events?after=${afterId}&limit=1000`,
        );
        if (page.events.length === 0) return out;
        out.push(...page.events.map((e) => e.message));
        afterId = page.events.at(-1)!.id;
      }
    };

    before(async () => {
      // A port range of its own: other fleets on this machine use the default one.
      const { min: base } = await freePortRange(100);
      fleet = await startFleet({
        env: {
          REQUIRE_VERIFIED_EMAIL: 'false',
          ACCESS_TOKEN_TTL_SECONDS: '3600',
          LOGS_TLS_CERT_FILE: tlsFiles.certFile,
          LOGS_TLS_KEY_FILE: tlsFiles.keyFile,
          LOGS_MAX_LINE_BYTES: String(maxLineBytes),
          LOGS_PORT_MIN: String(base),
          LOGS_PORT_MAX: String(base + 99),
        },
      });
      const account = { email: 'owner@example.org', password: 'a long enough password' };
      const registered = await fetch(`${fleet.origin}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...account, displayName: 'owner' }),
      });
      assert.equal(registered.status, 201, await registered.text());
      const login = await fetch(`${fleet.origin}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(account),
      });
      token = ((await login.json()) as { accessToken: string }).accessToken;
      for (const [name, options] of [
        ['exact', {}],
        ['exact-tls', { tls: true }],
        ['garbage', {}],
        ['garbage-tls', { tls: true }],
        ['fenced', { allowedIps: ['192.0.2.1'] }],
        ['witness', {}],
      ] as const) {
        const created = await api<{ sourceId: string; port: number }>('POST', '/logs/sources', {
          name,
          timeZone: 'UTC',
          ...options,
        });
        sources[name] = { sourceId: created.sourceId, port: created.port };
      }
      // Every listener accepts before the cases start (a source listens at once on every replica).
      for (const [name, { port }] of Object.entries(sources))
        if (name !== 'fenced')
          await eventually(
            () =>
              new Promise<boolean>((resolve) => {
                const probe = net.connect({ host: '127.0.0.1', port }, () => {
                  probe.destroy();
                  resolve(true);
                });
                probe.on('error', () => resolve(false));
              }),
            { message: `the listener of ${name}` },
          );
    });

    after(async () => {
      await fleet?.stop();
    });

    it(
      'counts exactly what it received, truncated, could not decode and dropped; stores each line once; serves the witness meanwhile',
      { timeout: 120_000 + runs * 1_500 },
      async () => {
        const expected: Record<string, Counters> = { exact: zero(), 'exact-tls': zero(), fenced: zero() };
        const markers: Record<string, string[]> = { exact: [], 'exact-tls': [] };
        const tally = new FuzzTally('syslog over TCP/TLS to a running log-listener');
        const witness = await new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ host: '127.0.0.1', port: sources['witness']!.port }, () =>
            resolve(socket),
          );
          socket.once('error', reject);
        });
        let witnessSent = 0;
        let caseNo = 0;
        const sendWitness = () =>
          new Promise<void>((resolve, reject) =>
            witness.write(`witness-${++witnessSent}\n`, (error) => (error ? reject(error) : resolve())),
          );

        const exactCase = fc.record({
          kind: fc.constant('exact' as const),
          transport: fc.constantFrom<Transport>('tcp', 'tls'),
          frames: fc.array(frameSpec, { minLength: 1, maxLength: 8 }),
          cuts: cutsOf,
        });
        const garbageCase = fc.record({
          kind: fc.constant('garbage' as const),
          transport: fc.constantFrom<GarbageTransport>('tcp', 'tls', 'plain-to-tls'),
          bytes: fc.array(garbagePiece, { maxLength: 10 }).map((pieces) => Buffer.concat(pieces)),
          cuts: cutsOf,
        });
        const fencedCase = fc.record({ kind: fc.constant('fenced' as const), line: printable });

        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              { weight: 6, arbitrary: exactCase },
              { weight: 3, arbitrary: garbageCase },
              { weight: 1, arbitrary: fencedCase },
            ),
            async (fuzzCase) => {
              caseNo += 1;
              if (fuzzCase.kind === 'exact') {
                const name = fuzzCase.transport === 'tls' ? 'exact-tls' : 'exact';
                const want = expected[name]!;
                const bytes = Buffer.concat(
                  fuzzCase.frames.map((spec, i) => {
                    const marker = `fz${caseNo}-${i}:`;
                    if (spec.kind === 'empty') {
                      want.dropped += 1;
                    } else if (spec.kind === 'blank') {
                      // a separator between frames: nothing to count
                    } else {
                      want.received += 1;
                      markers[name]!.push(marker);
                      const size = Buffer.byteLength(marker) + spec.body.length;
                      if (spec.kind === 'long' || size > maxLineBytes) want.truncated += 1;
                      if (spec.kind === 'not-utf8') want.invalidUtf8 += 1;
                    }
                    return wire(spec, marker);
                  }),
                );
                const outcome = await sendOnce(
                  sources[name]!.port,
                  fuzzCase.transport,
                  chunks(bytes, fuzzCase.cuts),
                  tlsFiles.cert,
                );
                assert.equal(outcome, 'sent', `the ${name} listener cut the connection`);
                tally.count(`${fuzzCase.transport} frames`);
              } else if (fuzzCase.kind === 'garbage') {
                const toTls = fuzzCase.transport !== 'tcp';
                const port = sources[toTls ? 'garbage-tls' : 'garbage']!.port;
                await sendOnce(
                  port,
                  fuzzCase.transport === 'tls' ? 'tls' : 'tcp',
                  chunks(fuzzCase.bytes, fuzzCase.cuts),
                  tlsFiles.cert,
                );
                tally.count(`${fuzzCase.transport} random bytes`);
              } else {
                expected['fenced']!.rejectedConnections += 1;
                await sendOnce(
                  sources['fenced']!.port,
                  'tcp',
                  [Buffer.from(`${fuzzCase.line}\n`)],
                  tlsFiles.cert,
                );
                tally.count('sender outside allowedIps');
              }
              await sendWitness();
              // Every 25 cases: the witness's lines so far are committed (served meanwhile, not after).
              if (caseNo % 25 === 0) {
                const sent = witnessSent;
                await eventually(async () => (await counters('witness')).received === sent, {
                  timeoutMs: 30_000,
                  message: `the witness's ${sent} lines committed`,
                });
              }
            },
          ),
          fuzzParameters(runs),
        );
        tally.print();
        witness.end();

        for (const name of ['exact', 'exact-tls', 'fenced'] as const)
          await eventually(
            async () => JSON.stringify(await counters(name)) === JSON.stringify(expected[name]),
            {
              timeoutMs: 60_000,
              message: `${name}'s counters ${JSON.stringify(expected[name])}`,
            },
          ).catch(async (error: unknown) => {
            throw new Error(
              `${name}: counters ${JSON.stringify(await counters(name))}, expected ${JSON.stringify(expected[name])}`,
              { cause: error },
            );
          });
        for (const name of ['exact', 'exact-tls'] as const) {
          const stored = await messages(name);
          assert.equal(stored.length, markers[name]!.length, `${name}: ${stored.length} lines stored`);
          const byMarker = new Map<string, number>();
          for (const message of stored) {
            const marker = /^fz\d+-\d+:/.exec(message)?.[0];
            assert.ok(marker, `${name}: a stored line without its marker: ${message.slice(0, 80)}`);
            byMarker.set(marker, (byMarker.get(marker) ?? 0) + 1);
          }
          for (const marker of markers[name]!)
            assert.equal(
              byMarker.get(marker),
              1,
              `${name}: ${marker} stored ${byMarker.get(marker) ?? 0} times`,
            );
        }
        // The last witness lines since the last check of 25 cases (FUZZ_RUNS need not be a multiple).
        await eventually(async () => (await counters('witness')).received === witnessSent, {
          timeoutMs: 30_000,
          message: `the witness's ${witnessSent} lines committed`,
        });
        const witnessLines = await messages('witness');
        assert.deepEqual(
          witnessLines,
          Array.from({ length: witnessSent }, (_, i) => `witness-${i + 1}`),
        );
        assert.deepEqual(await messages('fenced'), []);
        const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as {
          processes: { name: string; restarts: number; lastExit?: string }[];
        };
        for (const process of status.processes)
          assert.equal(
            process.restarts,
            0,
            `${process.name} restarted (${process.lastExit}):\n${fleet.output().slice(-3000)}`,
          );
      },
    );
  },
);
