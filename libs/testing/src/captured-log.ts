/** A logger whose lines a test reads back (parsed JSON), for asserting what a component logged. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@veche/log';

export interface CapturedLog {
  log: Logger;
  /** Every line logged so far, parsed. */
  lines: Record<string, unknown>[];
}

export function capturedLogger(service: string, level = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: createLogger({ service, level, destination }), lines };
}
