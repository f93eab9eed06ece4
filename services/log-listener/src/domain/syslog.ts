/**
 * One syslog line to its fields: RFC 5424 (`<PRI>1 STAMP HOST APP PROCID MSGID SD MSG`), RFC 3164
 * (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), and the flavour remote_syslog2 and rsyslog's forward
 * format send (`<PRI>2026-12-02T03:04:05.123+02:00 HOST TAG: MSG`: 3164's layout with an RFC 3339
 * stamp). Anything else is kept whole as the message. Never throws: a line is data, whatever it holds.
 *
 * A stamp without a zone (3164's always, ISO ones sometimes) is read in the source's time zone; 3164's
 * has no year either: the year that puts it nearest to the arrival time.
 */
import { wallTimeToUtc } from './time-zone.ts';

export interface ParsedLine {
  /** The sender's stamp in UTC ms, or undefined without a readable one. */
  createdAt: number | undefined;
  severity: number | null;
  facility: number | null;
  hostname: string | null;
  appName: string | null;
  message: string;
}

const months: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

const iso = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/i;
const bsd = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?/;

const nil = (value: string | undefined): string | null =>
  value === undefined || value === '-' ? null : value;

/** The last stamp read and its value: lines of a burst carry the same stamp (and the same zone). */
let lastStamp = '';
let lastZone = '';
let lastValue: number | undefined;

/** An ISO 8601 / RFC 3339 stamp to UTC ms (zone-less: in `zone`); undefined when not one. */
export function parseIsoStamp(text: string, zone: string): number | undefined {
  if (text === lastStamp && zone === lastZone) return lastValue;
  const value = utcStamp(text) ?? isoStamp(text, zone);
  lastStamp = text;
  lastZone = zone;
  lastValue = value;
  return value;
}

const digitAt = (text: string, at: number): number => {
  const c = text.charCodeAt(at) - 48;
  return c >= 0 && c <= 9 ? c : -1000;
};
const twoDigits = (text: string, at: number): number => digitAt(text, at) * 10 + digitAt(text, at + 1);

/**
 * The common shape read by hand, without a regular expression or allocations:
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. Undefined for anything else (the general reading takes it).
 */
function utcStamp(text: string): number | undefined {
  const n = text.length;
  if (n < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58)
    return undefined;
  if (text.charCodeAt(10) !== 84 || text.charCodeAt(16) !== 58) return undefined;
  const year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
  const month = twoDigits(text, 5) - 1;
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if (year < 0 || month < 0 || month > 11 || day < 1 || day > 31 || hour < 0 || hour > 23) return undefined;
  if (minute < 0 || minute > 59 || second < 0 || second > 60) return undefined;
  let at = 19;
  let ms = 0;
  if (text.charCodeAt(at) === 46) {
    at++;
    let scale = 100;
    const start = at;
    while (at < n && digitAt(text, at) >= 0) {
      ms += digitAt(text, at) * scale;
      scale /= 10;
      at++;
    }
    if (at === start || at - start > 9) return undefined;
    ms = Math.floor(ms);
  }
  const base = Date.UTC(year, month, day, hour, minute, Math.min(second, 59), ms);
  const zoneChar = text.charCodeAt(at);
  if (at === n - 1 && zoneChar === 90) return base;
  if (at === n - 6 && (zoneChar === 43 || zoneChar === 45) && text.charCodeAt(at + 3) === 58) {
    const hours = twoDigits(text, at + 1);
    const minutes = twoDigits(text, at + 4);
    if (hours < 0 || minutes < 0) return undefined;
    const offset = (hours * 60 + minutes) * 60_000;
    return zoneChar === 45 ? base + offset : base - offset;
  }
  return undefined;
}

function isoStamp(text: string, zone: string): number | undefined {
  const m = iso.exec(text);
  if (!m) return undefined;
  const fields = {
    year: Number(m[1]),
    month: Number(m[2]) - 1,
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Math.min(Number(m[6]), 59),
    ms: m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0,
  };
  if (fields.month > 11 || fields.day < 1 || fields.day > 31 || fields.hour > 23 || fields.minute > 59) {
    return undefined;
  }
  const offset = m[8];
  let utc: number | undefined;
  if (offset === undefined) {
    utc = wallTimeToUtc(zone, fields);
  } else {
    const base = Date.UTC(
      fields.year,
      fields.month,
      fields.day,
      fields.hour,
      fields.minute,
      fields.second,
      fields.ms,
    );
    if (offset.toUpperCase() === 'Z') utc = base;
    else {
      const digits = offset.replace(':', '');
      const minutes = Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5));
      utc = base - (digits[0] === '-' ? -minutes : minutes) * 60_000;
    }
  }
  return utc !== undefined && Number.isFinite(utc) ? utc : undefined;
}

/** A 3164 stamp (`Dec  2 03:04:05`) in `zone`, in the year that puts it nearest to `receivedAt`. */
function bsdStamp(m: RegExpExecArray, zone: string, receivedAt: number): number | undefined {
  const month = months[m[1]!];
  const day = Number(m[2]);
  const [hour, minute, second] = [Number(m[3]), Number(m[4]), Number(m[5])];
  if (month === undefined || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = m[6] ? Math.floor(Number(`0.${m[6]}`) * 1000) : 0;
  const year = new Date(receivedAt).getUTCFullYear();
  let best: number | undefined;
  for (const y of [year - 1, year, year + 1]) {
    const utc = wallTimeToUtc(zone, { year: y, month, day, hour, minute, second: Math.min(second, 59), ms });
    if (utc === undefined) return undefined;
    if (best === undefined || Math.abs(utc - receivedAt) < Math.abs(best - receivedAt)) best = utc;
  }
  return best;
}

/** Splits off the next space-separated token. */
function token(text: string, from: number): [string, number] {
  const end = text.indexOf(' ', from);
  return end < 0 ? [text.slice(from), text.length] : [text.slice(from, end), end + 1];
}

/** RFC 5424's STRUCTURED-DATA: `-` or `[id k="v"…]…` (with `\"`, `\\`, `\]` escapes); returns where MSG starts. */
function skipStructuredData(text: string, from: number): number | undefined {
  if (text.startsWith('-', from)) return from + 1;
  let i = from;
  if (text[i] !== '[') return undefined;
  while (text[i] === '[') {
    let inQuotes = false;
    i++;
    for (; i < text.length; i++) {
      const c = text[i];
      if (inQuotes) {
        if (c === '\\') i++;
        else if (c === '"') inQuotes = false;
      } else if (c === '"') inQuotes = true;
      else if (c === ']') break;
    }
    if (i >= text.length) return undefined;
    i++;
  }
  return i;
}

const tagPattern = /^([^\s:[\]]{1,255})(?:\[([^\]\s]{0,128})\])?:(?: |$)/;

/** 3164's `TAG[PID]: MSG` (or `TAG: MSG`); the whole text is the message when no tag starts it. */
function tagAndMessage(text: string): { appName: string | null; message: string } {
  const m = tagPattern.exec(text);
  if (!m) return { appName: null, message: text };
  return { appName: m[1]!, message: text.slice(m[0].length) };
}

/** `<PRI>` at the start: [value, length], or undefined. */
function priOf(line: string): [number, number] | undefined {
  if (line.charCodeAt(0) !== 60) return undefined;
  let value = 0;
  let at = 1;
  for (; at < 4 && at < line.length; at++) {
    const d = digitAt(line, at);
    if (d < 0) break;
    value = value * 10 + d;
  }
  if (at === 1 || line.charCodeAt(at) !== 62 || value > 191) return undefined;
  return [value, at + 1];
}

/**
 * RFC 5424 read by hand, the common case (`<PRI>1 STAMP HOST APP PROCID MSGID - MSG`, or with
 * STRUCTURED-DATA): tokens by indexOf, no regular expression; undefined when the line is not plainly
 * that (the general reading below decides).
 */
function rfc5424(rest: string, zone: string, severity: number, facility: number): ParsedLine | undefined {
  let at = 0;
  while (at < 3 && digitAt(rest, at) >= 0) at++;
  if (at === 0 || rest.charCodeAt(0) === 48 || rest.charCodeAt(at) !== 32) return undefined;
  const s1 = rest.indexOf(' ', at + 1);
  const s2 = s1 < 0 ? -1 : rest.indexOf(' ', s1 + 1);
  const s3 = s2 < 0 ? -1 : rest.indexOf(' ', s2 + 1);
  const s4 = s3 < 0 ? -1 : rest.indexOf(' ', s3 + 1);
  const s5 = s4 < 0 ? -1 : rest.indexOf(' ', s4 + 1);
  if (s5 < 0) return undefined;
  const stamp = rest.slice(at + 1, s1);
  const createdAt = stamp === '-' ? undefined : parseIsoStamp(stamp, zone);
  if (stamp !== '-' && createdAt === undefined) return undefined;
  const msgStart = skipStructuredData(rest, s5 + 1);
  if (msgStart === undefined) return undefined;
  let message = rest.charCodeAt(msgStart) === 32 ? rest.slice(msgStart + 1) : rest.slice(msgStart);
  if (message.charCodeAt(0) === 0xfeff) message = message.slice(1);
  return {
    createdAt,
    severity,
    facility,
    hostname: nil(rest.slice(s1 + 1, s2)),
    appName: nil(rest.slice(s2 + 1, s3)),
    message,
  };
}

export function parseSyslogLine(raw: string, zone: string, receivedAt: number): ParsedLine {
  // Octet-counted senders often count a trailing LF too (rsyslog's templates end with one).
  const line = raw.endsWith('\n') || raw.endsWith('\r') ? raw.replace(/[\r\n]+$/, '') : raw;
  let facility: number | null = null;
  let severity: number | null = null;
  let rest = line;
  const pri = priOf(line);
  if (pri) {
    const value = pri[0];
    facility = value >> 3;
    severity = value & 7;
    rest = line.slice(pri[1]);
  } else {
    return { createdAt: undefined, severity, facility, hostname: null, appName: null, message: line };
  }
  const fast = rfc5424(rest, zone, severity, facility);
  if (fast) return fast;

  // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  if (/^[1-9]\d{0,2} /.test(rest)) {
    const [stamp, a1] = token(rest, rest.indexOf(' ') + 1);
    const [hostname, a2] = token(rest, a1);
    const [appName, a3] = token(rest, a2);
    const [, a4] = token(rest, a3); // PROCID
    const [, at] = token(rest, a4); // MSGID
    const createdAt = stamp === '-' ? undefined : parseIsoStamp(stamp, zone);
    const msgStart = at < rest.length ? skipStructuredData(rest, at) : at;
    if ((stamp === '-' || createdAt !== undefined) && msgStart !== undefined) {
      let message = rest.slice(msgStart).replace(/^ /, '');
      if (message.startsWith('\uFEFF')) message = message.slice(1);
      return { createdAt, severity, facility, hostname: nil(hostname), appName: nil(appName), message };
    }
  }

  // RFC 3164, or its layout with an RFC 3339 stamp (remote_syslog2, rsyslog's forward format).
  let createdAt: number | undefined;
  let after = rest;
  const bsdMatch = bsd.exec(rest);
  if (bsdMatch) {
    createdAt = bsdStamp(bsdMatch, zone, receivedAt);
    after = rest.slice(bsdMatch[0].length).replace(/^ /, '');
  } else {
    const [first, next] = token(rest, 0);
    const stamp = parseIsoStamp(first, zone);
    if (stamp !== undefined) {
      createdAt = stamp;
      after = rest.slice(next);
    }
  }
  if (createdAt === undefined) {
    // `<PRI>TAG: MSG` (a local logger's format) or free text after the PRI.
    return { createdAt, severity, facility, hostname: null, ...tagAndMessage(rest) };
  }
  // After the stamp: HOSTNAME, unless the sender left it out and the tag comes first.
  const [maybeHost, next] = token(after, 0);
  if (maybeHost !== '' && !tagPattern.test(`${maybeHost} `) && !maybeHost.includes('[')) {
    const content = after.slice(next);
    const tagged = tagAndMessage(content);
    if (tagged.appName === null) {
      const bare = bareTag.exec(content);
      if (bare)
        return {
          createdAt,
          severity,
          facility,
          hostname: maybeHost,
          appName: bare[1]!,
          message: content.slice(bare[0].length),
        };
    }
    return { createdAt, severity, facility, hostname: maybeHost, ...tagged };
  }
  return { createdAt, severity, facility, hostname: null, ...tagAndMessage(after) };
}

/** After the stamp and host, 3164's TAG may end without a colon (rsyslog's `imfile` with `Tag="app.log"`). */
const bareTag = /^([A-Za-z0-9_.\/-]{1,64}) /;
