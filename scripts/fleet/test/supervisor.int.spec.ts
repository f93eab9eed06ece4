/**
 * A fleet supervisor that dies without a word (SIGKILL) takes its children with it: the WAMP router
 * and a service (the dice bot, consuming a RabbitMQ queue) see their IPC channel close and stop,
 * rather than living on and consuming queues nobody watches.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, it } from 'node:test';
import amqplib from 'amqplib';
import { unroutedQueueName } from '@veche/bus';
import { eventually, testAmqpUrl, uniqueName } from '@veche/testing';

const exchange = uniqueName('supervised-bots');
const queue = uniqueName('supervised-dice');
const pids: number[] = [];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

after(async () => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  const connection = await amqplib.connect(testAmqpUrl());
  const channel = await connection.createChannel();
  await channel.deleteQueue(queue);
  await channel.deleteExchange(exchange);
  await channel.deleteQueue(unroutedQueueName(exchange));
  await connection.close();
});

it('children stop when their supervisor is SIGKILLed', { timeout: 180_000 }, async () => {
  const supervisor = spawn(process.execPath, [new URL('./fixtures/supervise.ts', import.meta.url).pathname], {
    env: { ...process.env, SUPERVISE_EXCHANGE: exchange, SUPERVISE_QUEUE: queue },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  supervisor.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await eventually(() => /pids \d+ \d+/.test(output), { timeoutMs: 120_000, message: 'both children ready' });
  pids.push(...(/pids (\d+) (\d+)/.exec(output)?.slice(1).map(Number) ?? []));
  assert.equal(pids.length, 2);
  const connection = await amqplib.connect(testAmqpUrl());
  const channel = await connection.createChannel();
  assert.equal((await channel.checkQueue(queue)).consumerCount, 1, 'the bot consumes its queue');

  supervisor.kill('SIGKILL');
  await eventually(() => pids.every((pid) => !alive(pid)), {
    timeoutMs: 60_000,
    message: 'the router and the bot to stop after their supervisor died',
  });
  assert.equal((await channel.checkQueue(queue)).consumerCount, 0, 'nobody consumes the queue any more');
  await connection.close();
});

it(
  'a crashed child is restarted and reported running again once it answers',
  { timeout: 120_000 },
  async () => {
    const { createSupervisor, freePort } = await import('../processes.ts');
    const { createLogRenderer } = await import('../logs.ts');
    const port = await freePort();
    const notes: string[] = [];
    const supervisor = createSupervisor({
      renderer: createLogRenderer({ colour: false, names: ['listener'] }),
      write: () => {},
      note: (line) => notes.push(line),
    });
    supervisor.start({
      name: 'listener',
      command: process.execPath,
      args: ['-e', `require('node:net').createServer().listen(${port}, '127.0.0.1')`],
      cwd: process.cwd(),
      env: { ...process.env },
      ready: { tcpPort: port },
    });
    try {
      await supervisor.waitReady('listener', 60_000);
      const first = supervisor.states()[0]!;
      assert.equal(first.status, 'running');
      process.kill(first.pid!, 'SIGKILL');
      // Before the fix, the restarted child stayed 'starting' for ever and the fleet never ready again.
      const again = await eventually(
        () => {
          const state = supervisor.states()[0]!;
          return state.status === 'running' && state.pid !== first.pid && state;
        },
        { timeoutMs: 30_000, message: 'the restarted child running again' },
      );
      assert.equal(again.restarts, 1);
      assert.match(again.lastExit ?? '', /SIGKILL/);
      assert.ok(notes.some((n) => /listener is running again/.test(n)));
    } finally {
      await supervisor.stop();
    }
  },
);
