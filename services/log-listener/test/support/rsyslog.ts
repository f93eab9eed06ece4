/**
 * A private Debian rsyslogd for the tests and the bench: its own configuration, work directory and
 * pid file in a temporary directory, run in the foreground (`-n`) as a child process, so it never
 * touches the system's syslog and dies with the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Rsyslog {
  dir: string;
  process: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** `config` is rsyslog's RainerScript; `{{dir}}` is replaced with the work directory. */
export function startRsyslog(config: string): Rsyslog {
  const dir = mkdtempSync(path.join(tmpdir(), 'veche-rsyslog-'));
  const file = path.join(dir, 'rsyslog.conf');
  writeFileSync(file, `global(workDirectory="${dir}")\n${config.replaceAll('{{dir}}', dir)}\n`);
  const child = spawn('rsyslogd', ['-n', '-f', file, '-i', path.join(dir, 'rsyslogd.pid')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    dir,
    process: child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
