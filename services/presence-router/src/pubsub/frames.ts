/**
 * Seed 002's `/pubsub` frames: text frames of JSON. A client frame may hold any of `status` (1–8),
 * `events` (`{"<uid>": 9|10, …}`: subscribe or unsubscribe) and `timestamp` (kept byte for byte as
 * sent); `publisher` from a client is ignored, the server sets it. The server sends
 * `{"status":s,"publisher":"<uid>"}` plus `"timestamp"` when the publication had one, and
 * `{"error":{"code":"validation","message":…}}` for a frame it cannot take. Pure: no I/O.
 */
import {
  isPresenceStatus,
  presenceOperationCodes,
  type PresenceOperationCode,
  type PresenceStatusCode,
} from '@veche/contracts';
import { parseAddress } from '../domain/address.ts';

export interface FrameLimits {
  /** Largest frame answered with an error frame rather than taken (bytes of UTF-8). */
  maxFrameBytes: number;
  /** Most entries in one frame's `events`. */
  maxEvents: number;
}

export interface SubscriptionChange {
  /** The key as the client wrote it: answers and notifications name the publisher the same way. */
  address: string;
  operation: PresenceOperationCode;
}

export interface ClientFrame {
  status?: PresenceStatusCode;
  events: SubscriptionChange[];
  /** The raw JSON text of `timestamp` (a string keeps its quotes and escapes). */
  timestamp?: string;
}

export type FrameResult = { ok: true; frame: ClientFrame } | { ok: false; message: string };

const maxTimestampChars = 128;

const isOperation = (value: unknown): value is PresenceOperationCode =>
  value === presenceOperationCodes.SUBSCRIBE || value === presenceOperationCodes.UNSUBSCRIBE;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

interface ReviverContext {
  source?: string;
}

/**
 * JSON.parse, also returning the source text of the top-level `timestamp` (JSON.parse source text
 * access: the reviver's third argument), so `1627128694.693686` or `"1627128694.693686"` goes back
 * out exactly as it came in, never through a double.
 */
function parseWithTimestampSource(text: string): { value: unknown; timestampSource: string | undefined } {
  const sources = new Map<object, string>();
  const value: unknown = JSON.parse(
    text,
    function (this: object, key: string, member: unknown, context?: ReviverContext) {
      if (key === 'timestamp' && context?.source !== undefined) sources.set(this, context.source);
      return member;
    },
  );
  return { value, timestampSource: isPlainObject(value) ? sources.get(value) : undefined };
}

const fail = (message: string): FrameResult => ({ ok: false, message });

/** A text frame's content (`bytes`: its size in UTF-8, as received). */
export function parseClientFrame(text: string, bytes: number, limits: FrameLimits): FrameResult {
  if (bytes > limits.maxFrameBytes) return fail(`The frame is larger than ${limits.maxFrameBytes} bytes`);
  let parsed: { value: unknown; timestampSource: string | undefined };
  try {
    parsed = parseWithTimestampSource(text);
  } catch {
    return fail('The frame is not JSON');
  }
  const { value, timestampSource } = parsed;
  if (!isPlainObject(value)) return fail('The frame must be a JSON object');
  const frame: ClientFrame = { events: [] };

  if ('status' in value) {
    if (!isPresenceStatus(value['status'])) return fail('status must be one of the status codes 1 to 8');
    frame.status = value['status'];
  }

  if ('events' in value) {
    const events = value['events'];
    if (!isPlainObject(events)) return fail('events must be an object of {"<uid>": 9 or 10}');
    const entries = Object.entries(events);
    if (entries.length > limits.maxEvents) return fail(`events may name at most ${limits.maxEvents} uids`);
    for (const [address, operation] of entries) {
      if (parseAddress(address) === undefined)
        return fail('events: a key is not a user id or an extension number');
      if (!isOperation(operation))
        return fail('events: an operation must be 9 (SUBSCRIBE) or 10 (UNSUBSCRIBE)');
      frame.events.push({ address, operation });
    }
  }

  if ('timestamp' in value) {
    const timestamp = value['timestamp'];
    const valid =
      (typeof timestamp === 'string' || (typeof timestamp === 'number' && Number.isFinite(timestamp))) &&
      timestampSource !== undefined &&
      timestampSource.length <= maxTimestampChars;
    if (!valid)
      return fail(`timestamp must be a string or a number of at most ${maxTimestampChars} characters`);
    frame.timestamp = timestampSource;
  }
  return { ok: true, frame };
}

/** A status notification (and the answer to SUBSCRIBE); `timestamp` is raw JSON text. */
export function encodeStatusFrame(status: PresenceStatusCode, publisher: string, timestamp?: string): string {
  const head = `{"status":${status},"publisher":${JSON.stringify(publisher)}`;
  return timestamp === undefined ? `${head}}` : `${head},"timestamp":${timestamp}}`;
}

/**
 * A status frame sent to many connections: its JSON as UTF-8, and the whole WebSocket text frame that
 * carries it (RFC 6455 §5.2: FIN and opcode 1, unmasked as a server's frames are, the payload length in
 * 7, 7+16 or 7+64 bits), built once, so each connection costs one write of the same bytes.
 */
export interface SharedFrame {
  readonly payload: Buffer;
  readonly wire: Buffer;
}

export function sharedTextFrame(text: string): SharedFrame {
  const payload = Buffer.from(text, 'utf8');
  const length = payload.length;
  const header =
    length < 126
      ? Buffer.from([0x81, length])
      : length < 65_536
        ? Buffer.from([0x81, 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x81, 127]), bigEndian64(length)]);
  return { payload, wire: Buffer.concat([header, payload]) };
}

function bigEndian64(value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return bytes;
}

export type FrameErrorCode = 'validation' | 'rate_limited' | 'unavailable' | 'internal';

export function encodeErrorFrame(code: FrameErrorCode, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
