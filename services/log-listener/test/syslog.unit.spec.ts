/** Parsing and framing of syslog lines: RFC 5424, RFC 3164, remote_syslog2's flavour, zones, RFC 6587, hostile bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowList } from '../src/domain/addresses.ts';
import { decodeFrame, Framer, type Frame } from '../src/domain/framing.ts';
import { parseSyslogLine } from '../src/domain/syslog.ts';
import { zoneOffsetMinutes } from '../src/domain/time-zone.ts';

const received = Date.UTC(2026, 11, 2, 3, 0, 0);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('parseSyslogLine', () => {
  it('reads RFC 5424 with structured data and a BOM', () => {
    const p = parseSyslogLine(
      '<165>1 2026-12-02T01:02:03.456+02:00 web-1 nginx 1234 ID47 [ex@32473 a="1\\"]" b="2"] \uFEFFGET / 200',
      'Z',
      received,
    );
    assert.equal(iso(p.createdAt), '2026-12-01T23:02:03.456Z');
    assert.equal(p.facility, 20);
    assert.equal(p.severity, 5);
    assert.equal(p.hostname, 'web-1');
    assert.equal(p.appName, 'nginx');
    assert.equal(p.message, 'GET / 200');
  });

  it('reads RFC 5424 with nil fields and no message', () => {
    const p = parseSyslogLine('<14>1 - - - - - -', '+03:00', received);
    assert.equal(p.createdAt, undefined);
    assert.equal(p.hostname, null);
    assert.equal(p.appName, null);
    assert.equal(p.message, '');
  });

  it('reads RFC 3164 in the source zone, with the nearest year', () => {
    const p = parseSyslogLine("<34>Dec  2 04:30:00 mymachine su[230]: 'su root' failed", '+02:00', received);
    assert.equal(iso(p.createdAt), '2026-12-02T02:30:00.000Z');
    assert.equal(p.hostname, 'mymachine');
    assert.equal(p.appName, 'su');
    assert.equal(p.message, "'su root' failed");
    assert.equal(p.severity, 2);
    assert.equal(p.facility, 4);
    // Late December read in early January belongs to the year before.
    const january = Date.UTC(2027, 0, 1, 0, 10);
    assert.equal(
      iso(parseSyslogLine('<13>Dec 31 23:59:00 h t: m', 'Z', january).createdAt),
      '2026-12-31T23:59:00.000Z',
    );
  });

  it('reads an IANA zone with its daylight saving time', () => {
    const summer = parseSyslogLine('<13>Jul  1 12:00:00 h app: x', 'Europe/Berlin', Date.UTC(2026, 6, 1, 10));
    assert.equal(iso(summer.createdAt), '2026-07-01T10:00:00.000Z');
    const winter = parseSyslogLine('<13>Jan  1 12:00:00 h app: x', 'Europe/Berlin', Date.UTC(2026, 0, 1, 11));
    assert.equal(iso(winter.createdAt), '2026-01-01T11:00:00.000Z');
    assert.equal(zoneOffsetMinutes('+02.00', 0), 120);
    assert.equal(zoneOffsetMinutes('Nowhere/Atlantis', 0), undefined);
  });

  it("reads remote_syslog2's flavour: an RFC 3339 stamp, the file as the tag", () => {
    const p = parseSyslogLine('<22>2026-12-02T03:04:05Z host-a app.log: started worker 3', 'Z', received);
    assert.equal(iso(p.createdAt), '2026-12-02T03:04:05.000Z');
    assert.equal(p.hostname, 'host-a');
    assert.equal(p.appName, 'app.log');
    assert.equal(p.message, 'started worker 3');
  });

  it('takes the source zone for an ISO stamp without one', () => {
    const p = parseSyslogLine('<22>2026-12-02T05:04:05 host-a app.log: x', '+02:00', received);
    assert.equal(iso(p.createdAt), '2026-12-02T03:04:05.000Z');
  });

  it('keeps lines it cannot read whole', () => {
    for (const line of ['hello world', '<999>x', '<13>', '<13>no tag here at all', '\uFFFD\uFFFD<<>>']) {
      const p = parseSyslogLine(line, 'Z', received);
      assert.equal(typeof p.message, 'string');
      assert.equal(p.createdAt, undefined);
    }
    assert.equal(parseSyslogLine('plain text', 'Z', received).message, 'plain text');
    assert.equal(parseSyslogLine('<13>sshd[1]: hi', 'Z', received).appName, 'sshd');
    assert.equal(parseSyslogLine('<13>1 not-a-date h a - - - m', 'Z', received).message.length > 0, true);
  });
});

function frames(chunks: (string | Buffer)[], max = 64): Frame[] {
  const framer = new Framer(max);
  const out: Frame[] = [];
  for (const chunk of chunks)
    framer.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, (f) => out.push(f));
  framer.end((f) => out.push(f));
  return out;
}
const texts = (fs: Frame[]) => fs.map((f) => f.bytes.toString());

describe('Framer (RFC 6587)', () => {
  it('splits on LF, drops CR and empty lines, across chunks', () => {
    assert.deepEqual(texts(frames(['<13>a\r\n<13>b', '\n\n<13>c\n'])), ['<13>a', '<13>b', '<13>c']);
  });
  it('reads octet counting, split anywhere, mixed with LF framing', () => {
    const msg = '<13>1 - h a - - - hé\nllo';
    const n = Buffer.byteLength(msg);
    const stream = `${n} ${msg}${n} ${msg}<13>lf line\n`;
    const bytes = Buffer.from(stream);
    for (let cut = 1; cut < bytes.length; cut += 3) {
      assert.deepEqual(
        texts(frames([bytes.subarray(0, cut), bytes.subarray(cut)])),
        [msg, msg, '<13>lf line'],
        `cut ${cut}`,
      );
    }
  });
  it('truncates and flags a long line without holding it, then goes on', () => {
    const framer = new Framer(16);
    const out: Frame[] = [];
    for (let i = 0; i < 1000; i++) framer.push(Buffer.alloc(10_000, 0x61), (f) => out.push(f));
    assert.ok(framer.buffered <= 16);
    framer.push(Buffer.from('\nnext\n'), (f) => out.push(f));
    assert.deepEqual(
      out.map((f) => [f.bytes.length, f.truncated]),
      [
        [16, true],
        [4, false],
      ],
    );
    const octet = frames(['100000 ', Buffer.alloc(100_000, 0x62), '<13>after\n'], 32);
    assert.deepEqual(
      octet.map((f) => [f.bytes.length, f.truncated]),
      [
        [32, true],
        [9, false],
      ],
    );
  });
  it('flags a connection that ends inside an octet-counted frame', () => {
    assert.deepEqual(
      frames(['50 <13>short']).map((f) => f.truncated),
      [true],
    );
  });
  it('decodes invalid UTF-8 with U+FFFD and a flag; NUL becomes U+FFFD; a cut character is dropped', () => {
    const bad = decodeFrame({
      bytes: Buffer.from([0x3c, 0x31, 0x33, 0x3e, 0xff, 0xfe, 0x61, 0x00]),
      truncated: false,
    });
    assert.equal(bad.invalidUtf8, true);
    assert.equal(bad.text, '<13>\uFFFD\uFFFDa\uFFFD');
    const cut = decodeFrame({ bytes: Buffer.from('abé').subarray(0, 3), truncated: true });
    assert.deepEqual(cut, { text: 'ab', invalidUtf8: false });
  });
});

describe('allowList', () => {
  it('matches addresses and CIDR blocks, IPv4-mapped IPv6 as IPv4', () => {
    const allowed = allowList(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32']);
    assert.equal(allowed('10.1.2.3'), true);
    assert.equal(allowed('::ffff:10.1.2.3'), true);
    assert.equal(allowed('192.168.1.5'), true);
    assert.equal(allowed('192.168.1.6'), false);
    assert.equal(allowed('2001:db8::1'), true);
    assert.equal(allowed('garbage'), false);
    assert.equal(allowList([])('1.2.3.4'), true);
    assert.throws(() => allowList(['nope']), RangeError);
    assert.throws(() => allowList(['10.0.0.0/33']), RangeError);
  });
});

describe('rsyslog specifics', () => {
  it('drops the LF an octet-counted frame counted, and reads a tag without a colon after the host', () => {
    const p = parseSyslogLine('<133>1 2026-12-02T03:00:00.1+01:00 h app.log - - - hello\n', 'Z', received);
    assert.equal(p.message, 'hello');
    const f = parseSyslogLine('<133>2026-12-02T03:00:00+01:00 h app.log hello world', 'Z', received);
    assert.deepEqual([f.hostname, f.appName, f.message], ['h', 'app.log', 'hello world']);
  });
});
