/**
 * Renders the JSON log lines of every fleet process as one readable stream: time, process name in its
 * own colour, level, message, then the remaining fields. Lines that are not JSON pass through.
 */

const colours = [36, 35, 33, 32, 34, 96, 95, 93, 92, 94];
const levelColours: Record<string, number> = {
  trace: 90,
  debug: 90,
  info: 32,
  warn: 33,
  error: 31,
  fatal: 41,
};
const pinoLevels: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const hidden = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service', 'v']);

/**
 * Log fields can hold text from clients (an authid, a URI): control characters are shown escaped, so
 * nobody can send escape sequences to the developer's terminal through a log line.
 */
function clean(text: string): string {
  return text.replace(
    /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export interface LogRenderer {
  line(processName: string, text: string, stream: 'stdout' | 'stderr'): string;
}

export function createLogRenderer(options: { colour: boolean; names: readonly string[] }): LogRenderer {
  const width = Math.max(8, ...options.names.map((n) => n.length));
  const paint = (code: number, text: string) => (options.colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const colourOf = new Map(options.names.map((name, i) => [name, colours[i % colours.length] ?? 37]));

  const formatValue = (value: unknown): string => {
    if (typeof value === 'string') return /[\s\p{Cc}]/u.test(value) ? JSON.stringify(value) : value;
    return JSON.stringify(value);
  };

  return {
    line(processName, text, stream) {
      const label = paint(colourOf.get(processName) ?? 37, processName.padEnd(width));
      let record: Record<string, unknown> | undefined;
      if (text.startsWith('{')) {
        try {
          record = JSON.parse(text) as Record<string, unknown>;
        } catch {
          record = undefined;
        }
      }
      if (!record) {
        const clock = new Date().toISOString().slice(11, 23);
        return `${paint(90, clock)} ${label} ${stream === 'stderr' ? paint(31, text) : text}`;
      }
      const rawLevel = record['level'];
      const level =
        typeof rawLevel === 'number'
          ? (pinoLevels[rawLevel] ?? String(rawLevel))
          : typeof rawLevel === 'string'
            ? rawLevel
            : 'info';
      const time =
        typeof record['time'] === 'string'
          ? record['time']
          : new Date(Number(record['time'] ?? Date.now())).toISOString();
      const clock = time.slice(11, 23);
      const err = record['err'] as { message?: string; stack?: string } | undefined;
      const extras = Object.entries(record)
        .filter(([key]) => !hidden.has(key) && key !== 'err')
        .map(([key, value]) => `${paint(90, key + '=')}${formatValue(value)}`)
        .join(' ');
      const message = typeof record['msg'] === 'string' ? clean(record['msg']) : '';
      let out = `${paint(90, clock)} ${label} ${paint(levelColours[level] ?? 37, level.toUpperCase().padEnd(5))} ${message}${extras ? ' ' + extras : ''}`;
      if (err) out += `\n${paint(31, clean(err.stack ?? err.message ?? JSON.stringify(err)))}`;
      return out;
    },
  };
}
