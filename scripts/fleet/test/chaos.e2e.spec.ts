/**
 * The chaos run's short version (bench/chaos.ts, issue 21): about a minute of faults on the local
 * fleet with its private PostgreSQL and RabbitMQ, a fixed seed; it must print the fault table and the
 * outcome counts and exit 0 (no acknowledged message lost, nothing duplicated, every fault recovered).
 * `CHAOS_MINUTES` lengthens it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../../..');
const minutes = process.env['CHAOS_MINUTES'] ?? '1';

describe('chaos run (short)', () => {
  it(
    `loses and duplicates nothing through ${minutes} min of faults`,
    { timeout: 900_000 + Number(minutes) * 120_000 },
    async () => {
      const child = spawn(
        process.execPath,
        [path.join(root, 'bench/chaos.ts'), '--minutes', minutes, '--seed', '21'],
        {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      process.stdout.write(
        output
          .split('\n')
          .filter((line) => line.startsWith('|') || line.startsWith('[chaos'))
          .join('\n') + '\n',
      );
      if (code === 3) return; // no private PostgreSQL or RabbitMQ binaries here: said so in the output
      assert.equal(code, 0, output.slice(-6000));
      assert.match(output, /\| # \| at \(s\) \| fault \| target \| recovery \(s\) \| outcome \|/);
      assert.match(output, /\| acknowledged messages lost \| 0 \| ok \|/);
      assert.match(output, /\| messages duplicated in the database \| 0 \| ok \|/);
      assert.match(output, /\| faults injected \| [1-9]/);
    },
  );
});
