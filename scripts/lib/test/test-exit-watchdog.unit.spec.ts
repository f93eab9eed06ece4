/**
 * The exit watchdog: a test file whose teardown hangs and leaves a timer open ends (failed, naming the
 * open timer) instead of keeping the test runner, and so CI, waiting for ever.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

const here = import.meta.dirname;

// A runner of its own: this file's process is itself a test file's (NODE_TEST_CONTEXT set).
const { NODE_TEST_CONTEXT: _inner, ...outer } = process.env;
const runnerEnv = { ...outer, TEST_EXIT_GRACE_MS: '1500' };

it('ends a file whose teardown hangs, failing it and naming what is still open', async () => {
  const child = spawn(
    process.execPath,
    [
      '--import',
      path.join(here, '../test-exit-watchdog.ts'),
      '--test',
      '--test-timeout=1000',
      '--test-reporter=tap',
      path.join(here, 'fixtures/hanging-teardown.ts'),
    ],
    { env: runnerEnv },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.notEqual(code, 0, output);
  assert.match(
    output,
    /\[test watchdog\] .*hanging-teardown\.ts: still running 1500 ms after its tests ended/,
  );
  assert.match(output, /open resources: .*Timeout/);
});
