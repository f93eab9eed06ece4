/**
 * The chaos run's short version (bench/chaos.ts, issue 21): about a minute of faults on the local
 * fleet (two replicas of every service) with its private PostgreSQL and RabbitMQ, a fixed seed; it
 * must print the fault table and the outcome counts and exit 0, with the long run's counts: no
 * acknowledged message or syslog line lost, no message, mail or stored line duplicated, every fault
 * recovered, every process running.
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
      assert.match(
        output,
        /\| # \| at \(s\) \| fault \| target \| API gap \(s\) \| recovery \(s\) \| outcome \|/,
      );
      assert.match(output, /\| faults injected \| [1-9]/);
      assert.match(output, /\| replicas per service \| 2 \|/);
      // The same outcome counts as the long run's: every one of them 0, and ok.
      for (const row of [
        'faults not recovered',
        'acknowledged messages lost',
        'messages duplicated in the database',
        'acknowledgements naming one message twice',
        'acknowledged messages missing from a client view',
        'receipts not as last acknowledged',
        'statuses not as last acknowledged',
        'verification mails lost',
        'verification mails duplicated',
        '"tried to sign up" mails beyond the 409s',
        'acknowledged syslog lines lost',
        'stored syslog lines duplicated',
        'stored syslog lines never sent',
        'syslog lines not stored, no log-listener SIGKILL near',
        'processes not running at the end',
      ]) {
        assert.ok(output.includes(`| ${row} | 0 | ok |`), `${row}: not 0\n${output.slice(-6000)}`);
      }
      assert.match(output, /\| syslog lines acknowledged \(committed: live tail or \/api\) \| [1-9]/);
      assert.match(output, /\| accounts registered \(each owed one verification mail\) \| [1-9]/);
    },
  );
});
