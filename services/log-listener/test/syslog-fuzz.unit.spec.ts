/**
 * The log-listener's syslog edge fuzzed below the socket (fast-check): random bytes and framing edge
 * cases (octet counts, digits without a space, CR/LF/NUL runs, frames over the limit) cut into
 * random chunks. The framer never throws, keeps every frame within its limit, and frames a stream
 * the same however TCP cuts it; the line parser never throws on any text.
 * `FUZZ_RUNS` / `FUZZ_LONG=1` for more cases.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FuzzTally, fuzzParameters } from '@veche/fuzz';
import { Framer, type Frame } from '../src/domain/framing.ts';
import { parseSyslogLine } from '../src/domain/syslog.ts';

const maxBytes = 64;
const piece = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  fc
    .constantFrom(
      '\n',
      '\r\n',
      '\0',
      ' ',
      '12 ',
      '5 hello',
      '0 ',
      '99999999999 ',
      '<13>Oct 11 22:14:15 host tag: x\n',
    )
    .map((s) => Buffer.from(s)),
  fc
    .integer({ min: 1, max: 20 })
    .chain((n) =>
      fc.string({ minLength: n, maxLength: n }).map((s) => Buffer.from(`${Buffer.byteLength(s)} ${s}`)),
    ),
  fc.integer({ min: maxBytes - 2, max: maxBytes * 3 }).map((n) => Buffer.from(`${'x'.repeat(n)}\n`)),
);
const stream = fc.array(piece, { maxLength: 12 }).map((pieces) => Buffer.concat(pieces));

function frames(bytes: Buffer, cuts: number[]): Frame[] {
  const framer = new Framer(maxBytes);
  const out: Frame[] = [];
  let at = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    if (cut < at) continue;
    framer.push(bytes.subarray(at, cut), (frame) =>
      out.push({ bytes: Buffer.from(frame.bytes), truncated: frame.truncated }),
    );
    at = cut;
  }
  return out;
}

describe('fuzzing the syslog framing and line parser', () => {
  it('frames any byte stream the same however it is cut, within the limit, without throwing', () => {
    const tally = new FuzzTally('syslog framing (byte streams in random chunks)');
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const whole = frames(bytes, []);
        const cut = frames(bytes, cuts);
        assert.deepEqual(
          cut.map((f) => [f.bytes.toString('hex'), f.truncated]),
          whole.map((f) => [f.bytes.toString('hex'), f.truncated]),
        );
        for (const frame of whole)
          assert.ok(frame.bytes.length <= maxBytes, `a frame of ${frame.bytes.length} bytes`);
        tally.count(
          whole.length === 0 ? 'no frame' : whole.some((f) => f.truncated) ? 'a truncated frame' : 'frames',
        );
      }),
      fuzzParameters(1000),
    );
    tally.print();
  });

  it('parses any text as a line without throwing', () => {
    const tally = new FuzzTally('syslog line parser (any text)');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.stringMatching(/^<\d{1,4}>(1 )?[A-Za-z0-9:. +-]{0,40} \S{0,20} .{0,40}$/),
        ),
        fc.constantFrom('UTC', 'Europe/Moscow', 'America/New_York'),
        (text, zone) => {
          const line = parseSyslogLine(text, zone, Date.now());
          assert.equal(typeof line, 'object');
          tally.count('parsed');
        },
      ),
      fuzzParameters(1000),
    );
    tally.print();
  });
});
