/**
 * Uploads with the real curl, as a user types it (`curl -F file=@…`), with curl's own defaults: above
 * 1 MB it sends `Expect: 100-continue` and waits for "100 Continue" before the body. The verbose
 * trace says whether it did, so a test can show the path it meant to cover was taken.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CurlResult {
  status: number;
  body: string;
  /** curl sent `Expect: 100-continue`. */
  sentExpect: boolean;
  /** The server answered "100 Continue" before the final status. */
  gotContinue: boolean;
  /** curl's `-v` trace (headers only, never the body). */
  trace: string;
}

export interface CurlOptions {
  /** `-F` form fields, e.g. `file=@/tmp/x.bin;type=application/octet-stream`; or */
  form?: readonly string[];
  /** a raw body file sent with `--data-binary @file`. */
  dataFile?: string;
  headers?: Readonly<Record<string, string>>;
  /** CA certificate to trust (HTTPS to a test server). */
  cacert?: string;
  /** `--resolve host:port:address`, to reach a test server under its certificate's name. */
  resolve?: string;
  /** Force HTTP/1.1 (where `Expect` applies) instead of letting TLS negotiate HTTP/2. */
  http1?: boolean;
  timeoutSeconds?: number;
}

export async function curl(url: string, options: CurlOptions): Promise<CurlResult> {
  const dir = await mkdtemp(join(tmpdir(), 'veche-curl-'));
  const bodyFile = join(dir, 'body');
  const args = [
    '-sS',
    '-v',
    '-o',
    bodyFile,
    '-w',
    '%{http_code}',
    '--max-time',
    String(options.timeoutSeconds ?? 120),
  ];
  for (const field of options.form ?? []) args.push('-F', field);
  if (options.dataFile) args.push('--data-binary', `@${options.dataFile}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
  if (options.cacert) args.push('--cacert', options.cacert);
  if (options.resolve) args.push('--resolve', options.resolve);
  if (options.http1) args.push('--http1.1');
  args.push(url);
  try {
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile('curl', args, { maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => {
        if (error) reject(new Error(`curl ${url} failed: ${err}`, { cause: error }));
        else resolve({ stdout: out, stderr: err });
      });
    });
    return {
      status: Number(stdout.trim()),
      body: await readFile(bodyFile, 'utf8').catch(() => ''),
      sentExpect: /^> Expect: 100-continue/im.test(stderr),
      gotContinue: /^< HTTP\/[\d.]+ 100/m.test(stderr),
      trace: stderr,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
