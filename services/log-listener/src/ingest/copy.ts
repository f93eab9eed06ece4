/**
 * `COPY … FROM STDIN` (text format) on a node-pg client, without a streams library: node-pg hands a
 * query object with a `submit` method the server's CopyInResponse, and the object answers with the
 * data and CopyDone. COPY is PostgreSQL's cheapest bulk write (no per-row executor, no parameter
 * arrays to build and parse), which is why the log writer uses it for lines.
 */
import type { PoolClient } from 'pg';

interface Connection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** Largest CopyData message sent at once (PostgreSQL takes any size; smaller ones interleave better). */
const chunkBytes = 256 * 1024;

class CopyFrom {
  callback: ((error: Error | null, rows?: number) => void) | undefined;
  private error: Error | undefined;
  private rows = 0;
  readonly text: string;
  private readonly data: Buffer;

  constructor(text: string, data: Buffer) {
    this.text = text;
    this.data = data;
  }

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: Connection): void {
    for (let at = 0; at < this.data.length; at += chunkBytes) {
      connection.sendCopyFromChunk(this.data.subarray(at, at + chunkBytes));
    }
    connection.endCopyFrom();
  }

  handleCommandComplete(message: { text?: string }): void {
    this.rows = Number(/\d+$/.exec(message.text ?? '')?.[0] ?? 0);
  }

  handleError(error: Error): void {
    this.error = error;
  }

  handleReadyForQuery(): void {
    this.callback?.(this.error ?? null, this.rows);
  }

  // Not sent by the server during COPY FROM; present because node-pg may call them on any query.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** Runs `copy <target> from stdin` with `data` (COPY text format); resolves with the rows copied. */
export function copyFrom(client: PoolClient, target: string, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const query = new CopyFrom(`copy ${target} from stdin`, data);
    query.callback = (error, rows) => (error ? reject(error) : resolve(rows ?? 0));
    (client as unknown as { query(q: CopyFrom): void }).query(query);
  });
}

const special = /[\\\n\r\t]/;
const specials = /[\\\n\r\t]/g;
const escapes: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A value as a COPY text field: `\N` for null, backslash, newline, CR and tab escaped. */
export function copyField(value: string | number | boolean | null): string {
  if (value === null) return '\\N';
  if (typeof value !== 'string') return String(value);
  return special.test(value) ? value.replace(specials, (c) => escapes[c]!) : value;
}
