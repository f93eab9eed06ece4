import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { envHelp } from '../src/index.ts';

const fixture = path.join(import.meta.dirname, 'fixtures/service.ts');
const runFixture = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [fixture, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 10_000,
  });

describe('lifecycle', () => {
  it('lists every variable with its default and description', () => {
    const text = envHelp(
      Type.Object({
        PORT: Type.Number({ default: 8080, description: 'the HTTP port' }),
        SECRET: Type.String(),
      }),
      'A service.',
      'node server.ts',
    );
    assert.match(text, /^A service\.\n\nUsage: node server\.ts\n/);
    assert.match(text, /PORT +default 8080 — the HTTP port/);
    assert.match(text, /SECRET +\(required or optional\)/);
  });

  it('answers --help with exit 0', () => {
    const result = runFixture(['--help']);
    assert.equal(result.status, 0);
    assert.match(result.stdout, /FIXTURE_PORT/);
  });

  it('exits 2 naming a bad variable, without a stack trace', () => {
    const result = runFixture([], { FIXTURE_PORT: 'not-a-port' });
    assert.equal(result.status, 2);
    assert.match(result.stdout, /FIXTURE_PORT/);
    assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /);
  });

  it('stops gracefully on SIGTERM (exit 0) and exits 1 when the start fails', () => {
    const stopped = runFixture([], { FIXTURE_SIGNAL_SELF: '1' });
    assert.equal(stopped.status, 0, stopped.stdout + stopped.stderr);
    assert.match(stopped.stdout, /"msg":"stopping"/);
    assert.match(stopped.stdout, /"msg":"stopped cleanly"/);
    const failed = runFixture([], { FIXTURE_FAIL_START: '1' });
    assert.equal(failed.status, 1);
    assert.match(failed.stdout, /the fixture could not start/);
    assert.match(failed.stdout, /"msg":"stopped cleanly"/, 'what was started is stopped');
  });
});
