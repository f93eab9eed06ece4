/**
 * The SMTP server the integration tests send to: the mailer's own sink (smtp-server + mailparser) run
 * as a separate process with its failure rules on, read back through its JSON endpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { SinkAttempt, SinkHold, SinkMessage } from '../../src/dev-sink/sink.ts';

const entry = fileURLToPath(new URL('../../src/dev-sink/main.ts', import.meta.url));

export interface SinkProcess {
  smtpUrl: string;
  webUrl: string;
  messages(): Promise<SinkMessage[]>;
  attempts(): Promise<SinkAttempt[]>;
  holds(): Promise<SinkHold[]>;
  messagesTo(address: string): Promise<SinkMessage[]>;
  stop(): Promise<void>;
}

export async function startSinkProcess(): Promise<SinkProcess> {
  const child: ChildProcess = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      MAIL_SINK_SMTP_PORT: '0',
      MAIL_SINK_WEB_PORT: '0',
      MAIL_SINK_RULES: 'true',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // A busy machine (several suites at once) can take well over ten seconds to start a Node process.
  const ports = await new Promise<{ smtpPort: number; webPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the SMTP sink did not start within 120 s')), 120_000);
    child.once('exit', (code) => reject(new Error(`the SMTP sink exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (process.env['MAILER_TEST_ECHO']) process.stderr.write(`sink: ${line}\n`);
      try {
        const parsed = JSON.parse(line) as { msg?: string; smtpPort?: number; webPort?: number };
        if (parsed.msg === 'mail sink listening' && parsed.smtpPort && parsed.webPort) {
          clearTimeout(timer);
          resolve({ smtpPort: parsed.smtpPort, webPort: parsed.webPort });
        }
      } catch {
        // not a log line of ours
      }
    });
  }).catch((error: unknown) => {
    // A sink that never said it listens must not outlive the test (its process would keep ours alive).
    child.kill('SIGKILL');
    throw error;
  });
  const webUrl = `http://127.0.0.1:${ports.webPort}`;
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${webUrl}${path}`, { signal: AbortSignal.timeout(5_000) });
    return (await response.json()) as T;
  };
  return {
    smtpUrl: `smtp://127.0.0.1:${ports.smtpPort}`,
    webUrl,
    messages: () => get<SinkMessage[]>('/messages.json'),
    attempts: () => get<SinkAttempt[]>('/attempts.json'),
    holds: () => get<SinkHold[]>('/holds.json'),
    async messagesTo(address) {
      const all = await get<SinkMessage[]>('/messages.json');
      return all.filter((m) => m.envelopeTo.some((to) => to.toLowerCase() === address.toLowerCase()));
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
