/**
 * `veche-presence` as an operator runs it, a process holding service credentials on the services'
 * router: set a status by number, statuses of numbers and of `*`, numbers by pattern, and a live view
 * by pattern that includes a number that starts matching later.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { eventually } from '@veche/testing';
import { secret, startHarness, type Harness } from './support/harness.ts';

const bin = path.join(import.meta.dirname, '../bin/veche-presence.ts');
let h: Harness;
let env: NodeJS.ProcessEnv;
before(async () => {
  h = await startHarness(import.meta.filename);
  env = { ...process.env, WAMP_URL: h.router.url, VECHE_SERVICE_SECRET: secret };
  for (const [userId, extension] of [
    ['cli-a', '1001'],
    ['cli-b', '1002'],
    ['cli-c', '2001'],
  ] as const) {
    await h.accountEvent('account.directory_updated', { userId, extension });
  }
  await eventually(async () => (await h.app.api.findExtensions('*')).extensions.length === 3, {
    message: 'three numbers',
  });
});
after(() => h?.close());

/** Runs the CLI to its end (asynchronously: the router it talks to lives in this process). */
const run = (...args: string[]) =>
  new Promise<{ code: number | null; out: string[]; err: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, '--service', ...args], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('exit', (code) => resolve({ code, out: out.trim().split('\n').filter(Boolean), err }));
  });

it('sets, reads and finds by number', async () => {
  const phone = await h.connect('cli-a');
  await eventually(async () => (await h.app.api.myPresence('cli-a')).connected, { message: 'cli-a online' });
  const set = await run('--json', 'set', '1001', 'INCOMING');
  assert.equal(set.code, 0, set.err);
  assert.deepEqual(JSON.parse(set.out[0]!), { extension: '1001', userId: 'cli-a', status: 4 });

  const some = await run('get', '1001', '1002');
  assert.equal(some.code, 0, some.err);
  assert.match(some.out[0]!, /^1001\s+INCOMING \(4\)\s+cli-a$/);
  assert.match(some.out[1]!, /^1002\s+NOT_REGISTERED \(3\)\s+cli-b$/);

  const all = await run('--json', 'get', '*');
  assert.deepEqual(
    all.out.map((line) => (JSON.parse(line) as { extension: string }).extension),
    ['1001', '1002', '2001'],
  );
  const found = await run('find', '100*');
  assert.deepEqual(
    found.out.map((line) => line.split(/\s+/)[0]),
    ['1001', '1002'],
  );
  const back = await run('set', '1001', 'auto');
  assert.equal(back.code, 0);
  assert.equal((await h.app.api.myPresence('cli-a')).chosen, null);
  const missing = await run('set', '9999', 'busy');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /not_found/);
  await phone.close();
});

it('watches a pattern live, including a number that starts matching later', async () => {
  const watcher = spawn(process.execPath, [bin, '--service', '--json', 'watch', '100*'], { env });
  const lines: { extension: string; userId: string; status: number }[] = [];
  let buffered = '';
  watcher.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop() ?? '';
    for (const line of complete) if (line) lines.push(JSON.parse(line) as (typeof lines)[number]);
  });
  const exited = new Promise<number | null>((resolve) => watcher.once('exit', resolve));
  after(() => watcher.kill('SIGKILL'));
  let stderr = '';
  watcher.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await eventually(() => lines.length >= 2, { timeoutMs: 30_000, message: 'the current statuses' });
  assert.deepEqual(lines.map((l) => l.extension).sort(), ['1001', '1002']);
  const phone = await h.connect('cli-b');
  await eventually(() => lines.some((l) => l.extension === '1002' && l.status === 1), {
    timeoutMs: 30_000,
    message: 'cli-b online',
  }).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}: ${JSON.stringify(lines)} ${stderr}`);
  });
  // 2001 moves to 1003: it now matches, and is shown; later changes of it too.
  await h.accountEvent('account.directory_updated', { userId: 'cli-c', extension: '1003' });
  await eventually(() => lines.some((l) => l.extension === '1003' && l.userId === 'cli-c'), {
    message: 'the newcomer to the pattern',
  });
  const newcomer = await h.connect('cli-c');
  await eventually(() => lines.some((l) => l.extension === '1003' && l.status === 1), {
    message: 'cli-c online',
  });
  // Numbers outside the pattern are not shown.
  assert.ok(lines.every((l) => l.extension.startsWith('100')));
  watcher.kill('SIGINT');
  assert.equal(await exited, 0);
  await phone.close();
  await newcomer.close();
});
