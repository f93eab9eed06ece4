/**
 * A presence-router replica as its own process (`src/server.ts`), on the harness's schema, queue and
 * router, so a test can kill it as a crash would (SIGKILL: no goodbye, no clean-up).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { PresenceConfig } from '../../src/env.ts';

export interface ReplicaProcess {
  url: string;
  replicaId: string;
  /** The process id (for its CPU time in /proc/<pid>/stat). */
  pid: number;
  /** What the process has printed so far (its JSON log lines). */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function spawnReplica(
  config: PresenceConfig,
  schema: string,
  replicaId: string,
  /** Extra options for node (e.g. `--cpu-prof`). */
  nodeArgs: readonly string[] = [],
): Promise<ReplicaProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(config)) if (value !== undefined) env[name] = String(value);
  Object.assign(env, {
    PRESENCE_DB_SCHEMA: schema,
    PRESENCE_REPLICA_ID: replicaId,
    PORT: '0',
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
  });
  const child = spawn(
    process.execPath,
    [...nodeArgs, path.join(import.meta.dirname, '../../src/server.ts')],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the replica did not start:\n${output}`)), 60_000);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    // Only the lines completed by each chunk are looked at, and only until the replica has started.
    let partial = '';
    let started = false;
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      if (started) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      const line = lines.find((l) => l.includes('presence-router started'));
      if (!line) return;
      started = true;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the replica exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `ws://127.0.0.1:${port}/pubsub`,
    replicaId,
    pid: child.pid ?? 0,
    output: () => output,
    async kill(signal) {
      child.kill(signal);
      await exited;
    },
  };
}
