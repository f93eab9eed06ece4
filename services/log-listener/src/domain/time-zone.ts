/**
 * A source's time zone, for stamps that carry none (RFC 3164's `Dec  2 03:04:05`, ISO stamps without
 * an offset): a fixed offset (`+02:00`, seed 004's `+02.00`, `Z`) or an IANA zone (with its DST rules).
 */

const offsetPattern = /^([+-])(\d{2})[:.]?(\d{2})$/;

/** The zone's offset from UTC in minutes at the UTC instant `utcMs`; undefined for an unknown zone. */
export function zoneOffsetMinutes(zone: string, utcMs: number): number | undefined {
  if (zone === 'Z' || zone === 'UTC') return 0;
  const fixed = offsetPattern.exec(zone);
  if (fixed) {
    const minutes = Number(fixed[2]) * 60 + Number(fixed[3]);
    return fixed[1] === '-' ? -minutes : minutes;
  }
  const format = formatterOf(zone);
  if (!format) return undefined;
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(utcMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const at = (name: string): number => parts[name] ?? 0;
  const asUtc = Date.UTC(at('year'), at('month') - 1, at('day'), at('hour') % 24, at('minute'), at('second'));
  return Math.round((asUtc - Math.floor(utcMs / 1000) * 1000) / 60_000);
}

const formatters = new Map<string, Intl.DateTimeFormat | null>();
function formatterOf(zone: string): Intl.DateTimeFormat | undefined {
  let format = formatters.get(zone);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      format = null;
    }
    formatters.set(zone, format);
  }
  return format ?? undefined;
}

export function isKnownZone(zone: string): boolean {
  return zoneOffsetMinutes(zone, Date.now()) !== undefined;
}

/** The zone's canonical spelling: `+02.00` → `+02:00`. */
export function normalizeZone(zone: string): string {
  const fixed = offsetPattern.exec(zone);
  return fixed ? `${fixed[1]}${fixed[2]}:${fixed[3]}` : zone;
}

/**
 * The UTC instant of a wall-clock time in `zone` (fields as Date.UTC takes them). Around a DST change
 * the offset is taken twice, which settles on the later reading of an ambiguous hour.
 */
export function wallTimeToUtc(
  zone: string,
  fields: {
    year: number;
    month: number;
    day: number;
    hour: number;
    minute: number;
    second: number;
    ms: number;
  },
): number | undefined {
  const asUtc = Date.UTC(
    fields.year,
    fields.month,
    fields.day,
    fields.hour,
    fields.minute,
    fields.second,
    fields.ms,
  );
  const first = zoneOffsetMinutes(zone, asUtc);
  if (first === undefined) return undefined;
  const second = zoneOffsetMinutes(zone, asUtc - first * 60_000) ?? first;
  return asUtc - second * 60_000;
}
