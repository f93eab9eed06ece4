/**
 * The README's guarantee, on a real process: every line the owner saw in the live tail (published
 * only after its batch committed) is still there after the log-listener is SIGKILLed mid-stream; a
 * new process takes the source's port back and goes on storing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { logProcedures as P, type LogEventsPage, type LogRealtimeEvent } from '@veche/contracts';
import { connectWampClient, eventually, testDatabaseUrl } from '@veche/testing';
import { secret, startHarness, tokenOf, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename);
});
after(() => h?.close());

function startProcess(): ChildProcess {
  return spawn(process.execPath, [path.join(import.meta.dirname, '../src/server.ts')], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: testDatabaseUrl(),
      LOGS_DB_SCHEMA: h.database.schema,
      WAMP_URL: h.router.url,
      VECHE_SERVICE_SECRET: secret,
      PORT: '0',
      LOGS_BIND_HOST: '127.0.0.1',
      LOGS_PORT_MIN: String(h.config.LOGS_PORT_MIN),
      LOGS_PORT_MAX: String(h.config.LOGS_PORT_MAX),
      LOGS_FLUSH_MS: '20',
      LOGS_SYNC_MS: '200',
      AMQP_URL: h.config.AMQP_URL,
      LOGS_EXCHANGE: h.config.LOGS_EXCHANGE,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

const connectable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

it('keeps every line the live tail showed across a SIGKILL, and listens again after', async () => {
  const source = await h.createSource('kim');
  // The in-process app steps aside: the process under test is the only listener.
  await h.app.stop();
  let child = startProcess();
  await eventually(() => connectable(source.port), { message: 'the process listens', timeoutMs: 30_000 });
  const client = await connectWampClient(h.router.url, 'kim', tokenOf('kim'));
  const seen = new Set<string>();
  await client.session.subscribe('veche.user.kim.logs', (_args, kwargs) => {
    const event = kwargs as LogRealtimeEvent;
    if (event.type === 'lines') for (const line of event.events) seen.add(line.message);
  });
  const sender = net.connect({ host: '127.0.0.1', port: source.port });
  sender.on('error', () => {});
  let n = 0;
  const timer = setInterval(() => {
    let chunk = '';
    for (let i = 0; i < 200; i++) chunk += `<13>t: line ${n++}\n`;
    if (!sender.destroyed) sender.write(chunk);
  }, 10);
  await eventually(() => seen.size >= 2_000, { message: 'lines in the tail', timeoutMs: 30_000 });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  clearInterval(timer);
  const acknowledged = [...seen];

  child = startProcess();
  try {
    await eventually(() => connectable(source.port), { message: 'listening again', timeoutMs: 30_000 });
    const stored = new Set<string>();
    let before: string | undefined;
    for (;;) {
      const page = await h.call<LogEventsPage>('kim', P.events, {
        sourceId: source.sourceId,
        limit: 1000,
        ...(before ? { before } : {}),
      });
      for (const line of page.events) stored.add(line.message);
      if (page.isOldestEventReached || page.events.length === 0) break;
      before = page.events.at(-1)!.id;
    }
    const lost = acknowledged.filter((m) => !stored.has(m));
    assert.deepEqual(
      lost.slice(0, 5),
      [],
      `${lost.length} of ${acknowledged.length} acknowledged lines lost`,
    );
    const again = net.connect({ host: '127.0.0.1', port: source.port });
    again.on('error', () => {});
    again.write('<13>t: after the kill\n');
    await eventually(() => seen.has('after the kill'), { message: 'a line after the restart' });
    again.destroy();
  } finally {
    client.close();
    sender.destroy();
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
  }
});
