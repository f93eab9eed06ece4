/**
 * RFC 6587 framing of a syslog TCP stream, decided frame by frame as rsyslog's imtcp does: a frame
 * that starts with digits and a space is octet-counted (`MSG-LEN SP SYSLOG-MSG`), anything else runs
 * to the next LF (a CR before it is dropped). A frame longer than `maxBytes` is kept up to it and
 * flagged; the rest is skipped as it arrives, so a 10 MB line never sits in memory. Never throws.
 */
import { isUtf8 } from 'node:buffer';

export interface Frame {
  bytes: Buffer;
  truncated: boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const isDigit = (byte: number | undefined): boolean => byte !== undefined && byte >= 0x30 && byte <= 0x39;

export class Framer {
  private state: 'start' | 'lf' | 'octet' = 'start';
  private parts: Buffer[] = [];
  private kept = 0;
  private truncated = false;
  private remaining = 0;
  /** Bytes of a frame start not yet decidable (`12` with no space after it yet). */
  private head: Buffer | undefined;

  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Feeds a chunk; `emit` gets each complete frame. */
  push(chunk: Buffer, emit: (frame: Frame) => void): void {
    let buf = chunk;
    if (this.head) {
      buf = Buffer.concat([this.head, chunk]);
      this.head = undefined;
    }
    let at = 0;
    while (at < buf.length) {
      if (this.state === 'start') {
        const first = buf[at];
        if (first === LF || first === CR || first === 0) {
          at++;
          continue;
        }
        if (isDigit(first)) {
          let i = at;
          while (i < buf.length && i - at < 10 && isDigit(buf[i])) i++;
          if (i === buf.length && i - at < 10) {
            this.head = Buffer.from(buf.subarray(at));
            return;
          }
          if (buf[i] === SP) {
            this.remaining = Number(buf.toString('latin1', at, i));
            this.state = 'octet';
            at = i + 1;
            if (this.remaining === 0) this.finish(emit);
            continue;
          }
        }
        this.state = 'lf';
      }
      if (this.state === 'lf') {
        const nl = buf.indexOf(LF, at);
        const end = nl < 0 ? buf.length : nl;
        this.keep(buf, at, end, nl < 0);
        at = end;
        if (nl >= 0) {
          at = nl + 1;
          this.finish(emit);
        }
        continue;
      }
      // octet
      const end = Math.min(buf.length, at + this.remaining);
      this.remaining -= end - at;
      this.keep(buf, at, end, this.remaining > 0);
      at = end;
      if (this.remaining === 0) this.finish(emit);
    }
  }

  /** The connection ended: a partial LF frame is a frame; a short octet-counted one is flagged. */
  end(emit: (frame: Frame) => void): void {
    if (this.state === 'octet' && this.kept > 0) this.truncated = true;
    if (this.state !== 'start' && this.kept > 0) this.finish(emit);
  }

  /** Bytes held for an unfinished frame (for tests and limits). */
  get buffered(): number {
    return this.kept + (this.head?.length ?? 0);
  }

  private keep(buf: Buffer, from: number, to: number, copy: boolean): void {
    if (to <= from) return;
    const room = this.maxBytes - this.kept;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    let end = to;
    if (to - from > room) {
      end = from + room;
      this.truncated = true;
    }
    // A piece that outlives this chunk is copied, so the chunk itself can be freed.
    const piece = copy ? Buffer.from(buf.subarray(from, end)) : buf.subarray(from, end);
    this.parts.push(piece);
    this.kept += piece.length;
  }

  private finish(emit: (frame: Frame) => void): void {
    let bytes = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.kept);
    if (this.state === 'lf' && bytes.length > 0 && bytes[bytes.length - 1] === CR)
      bytes = bytes.subarray(0, -1);
    const truncated = this.truncated;
    this.parts = [];
    this.kept = 0;
    this.truncated = false;
    this.remaining = 0;
    this.state = 'start';
    emit({ bytes, truncated });
  }
}

/**
 * A frame's text: UTF-8 when it is (a truncated frame first loses a character cut in half), U+FFFD
 * for each bad sequence otherwise; NUL (which PostgreSQL refuses in text) becomes U+FFFD too.
 */
export function decodeFrame(frame: Frame): { text: string; invalidUtf8: boolean } {
  let bytes = frame.bytes;
  if (frame.truncated) bytes = trimPartialCharacter(bytes);
  const valid = isUtf8(bytes);
  let text = bytes.toString('utf8');
  if (text.includes('\u0000')) text = text.replaceAll('\u0000', '\uFFFD');
  return { text, invalidUtf8: !valid };
}

/** Drops a multi-byte character cut off at the end. */
function trimPartialCharacter(bytes: Buffer): Buffer {
  let i = bytes.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && (bytes[i]! & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return bytes;
  const lead = bytes[i]!;
  const need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return need > continuation ? bytes.subarray(0, i) : bytes;
}
