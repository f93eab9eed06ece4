/**
 * The mailer as the fleet runs it, `node src/server.ts` in a process of its own, so a test can send it
 * signals, including SIGKILL in the middle of an SMTP conversation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../../src/server.ts', import.meta.url));

export interface MailerProcess {
  port: number;
  child: ChildProcess;
  /** Every line the process wrote to standard output (its log), so far. */
  lines: string[];
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

export async function startMailerProcess(env: Record<string, string>): Promise<MailerProcess> {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, LOG_LEVEL: 'info', LOG_PRETTY: 'false', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const lines: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the mailer did not start within 120 s')), 120_000);
    void exited.then((code) => reject(new Error(`the mailer exited with ${code} before it started`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      if (process.env['MAILER_TEST_ECHO']) process.stderr.write(`${line}\n`);
      try {
        const parsed = JSON.parse(line) as { msg?: string; port?: number };
        if (parsed.msg === 'mailer started' && typeof parsed.port === 'number') {
          clearTimeout(timer);
          resolve(parsed.port);
        }
      } catch {
        // not a log line
      }
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    port,
    child,
    lines,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
