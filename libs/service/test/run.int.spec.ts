/**
 * runService as a real process: --help from the env schema, exit 2 on a bad variable, graceful stop on
 * a signal, exit 1 on a failed start or an overrunning stop, at once on a second signal, and a stop
 * of its own when the process that started it is SIGKILLed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { eventually } from '@veche/testing';

const fixture = new URL('./fixtures/service.ts', import.meta.url).pathname;
const parentFixture = new URL('./fixtures/parent.ts', import.meta.url).pathname;
const children: ChildProcess[] = [];
/** Grandchildren (the fixture started by the parent fixture), killed after the tests if still alive. */
const orphans: number[] = [];

const runToEnd = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [fixture, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    timeout: 90_000, // a busy machine takes seconds to start a process
  });

/** Starts the fixture and resolves once it listens, with its output so far (kept up to date). */
async function startFixture(env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const output = { text: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  await eventually(() => output.text.includes('"msg":"listening"'), {
    message: 'the fixture to listen',
    timeoutMs: 60_000,
  });
  return { child, output, exited };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

after(() => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('runService', () => {
  it('answers --help with every variable of the env schema, its description and default', () => {
    const result = runToEnd(['--help']);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^A fixture service for the kit tests\.\n\nUsage: node .*service\.ts/);
    for (const name of [
      'NODE_ENV',
      'LOG_LEVEL',
      'LOG_PRETTY',
      'HOST',
      'PORT',
      'FIXTURE_START',
      'FIXTURE_LIMIT',
    ]) {
      assert.match(result.stdout, new RegExp(`^  ${name} +\\S`, 'm'), `${name} listed with its description`);
    }
    assert.match(result.stdout, /FIXTURE_LIMIT +a bounded number \(default 5\)/);
  });

  it('exits 2 naming each bad variable, without a stack trace', () => {
    const result = runToEnd([], { FIXTURE_LIMIT: '11', PORT: 'eighty' });
    assert.equal(result.status, 2);
    assert.match(result.stdout, /FIXTURE_LIMIT/);
    assert.match(result.stdout, /PORT/);
    assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /);
    const crossChecked = runToEnd([], { FIXTURE_LIMIT: '7' });
    assert.equal(crossChecked.status, 2);
    assert.match(crossChecked.stdout, /FIXTURE_LIMIT: not 7/);
  });

  it('stops gracefully on SIGTERM and exits 0', () => {
    const result = runToEnd([], { FIXTURE_SIGNAL_SELF: 'true' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /"signal":"SIGTERM".*"msg":"stopping"/);
    assert.match(result.stdout, /"msg":"stopped cleanly"/);
  });

  it('exits 1 when the start fails, after stopping what was started', () => {
    const result = runToEnd([], { FIXTURE_START: 'fail' });
    assert.equal(result.status, 1);
    assert.match(result.stdout, /the fixture could not start/);
    assert.match(result.stdout, /"msg":"stopped cleanly"/);
  });

  it('exits 1 when the stop overruns its deadline, and at once on a second signal', async () => {
    const slow = await startFixture({ FIXTURE_STOP: 'hang' });
    slow.child.kill('SIGTERM');
    assert.deepEqual(await slow.exited, [1, null]);
    assert.match(slow.output.text, /did not stop within 1 s/);

    // A deadline the second signal surely beats, however slowly this machine reads and signals.
    const impatient = await startFixture({ FIXTURE_STOP: 'hang', FIXTURE_STOP_TIMEOUT_MS: '60000' });
    impatient.child.kill('SIGTERM');
    await eventually(() => impatient.output.text.includes('"msg":"stopping"'), { timeoutMs: 30_000 });
    impatient.child.kill('SIGINT');
    assert.deepEqual(await impatient.exited, [1, null]);
    assert.match(impatient.output.text, /second signal: exiting now/);
    assert.doesNotMatch(impatient.output.text, /did not stop within/);
  });

  it('stops when the process that started it is SIGKILLed', async () => {
    const parent = spawn(process.execPath, [parentFixture], {
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(parent);
    let output = '';
    parent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually(() => output.includes('"msg":"listening"'), {
      message: 'the child to listen',
      timeoutMs: 60_000,
    });
    const childPid = Number(/child (\d+)/.exec(output)?.[1]);
    orphans.push(childPid);
    assert.ok(alive(childPid));
    parent.kill('SIGKILL');
    await eventually(() => !alive(childPid), { message: 'the orphaned child to stop', timeoutMs: 30_000 });
    assert.match(output, /the process that started this one is gone; stopping/);
    assert.match(output, /"msg":"stopped cleanly"/);
  });
});
