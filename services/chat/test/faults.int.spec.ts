/**
 * Faults: the chat process SIGKILLed in the middle of a burst of posts, then its RabbitMQ connections
 * closed by the broker. Clients retry unanswered posts with the same idempotency key, as the web client
 * does. Afterwards every acknowledged post exists exactly once, with the id it was acknowledged with;
 * the room's seq has no hole; the integration events reach a consumer with one effect each; and a
 * member's realtime feed plus a catch-up by seq gives every message once, in order.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { busMigrations, createBusConnection, createConsumer } from '@veche/bus';
import { signActor } from '@veche/contracts';
import { migrate, sql } from '@veche/db';
import {
  createTestDatabase,
  eventually,
  testAmqpUrl,
  testDatabaseUrl,
  uniqueName,
  type TestDatabase,
} from '@veche/testing';
import { connectService, type WampService } from '@veche/wamp';
import type { ChatConfig } from '../src/env.ts';
import { connectUser } from './support/clients.ts';
import { deleteBusNames, secret, startTestRouter, testConfig, type Router } from './support/harness.ts';
import { createLogger } from '@veche/log';

const run = promisify(execFile);
const log = createLogger({ service: 'chat-fault-test', level: 'error' });
let router: Router;
let database: TestDatabase;
let sink: TestDatabase;
let config: ChatConfig;
let env: Record<string, string>;
let chat: ChildProcess | undefined;
let caller: WampService;
const cleanups: (() => Promise<unknown>)[] = [];

function startChat(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [new URL('../src/server.ts', import.meta.url).pathname], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer = (buffer + chunk.toString('utf8')).slice(-20_000);
      if (buffer.includes('"msg":"chat started"')) resolve(child);
    });
    child.once('exit', (code, signal) => reject(new Error(`chat exited early: ${code ?? signal}`)));
  });
}

async function closeConnectionsNamed(fragment: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], {
    timeout: 15_000,
  });
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(fragment))
    .map((line) => line.split('\t')[0]?.trim())
    .filter((pid): pid is string => pid?.startsWith('<') === true);
  for (const pid of pids)
    await run('rabbitmqctl', ['-q', 'close_connection', pid, 'closed by a chat fault test'], {
      timeout: 15_000,
    });
  return pids.length;
}

before(async () => {
  router = await startTestRouter(log);
  database = await createTestDatabase({ name: import.meta.filename, poolSize: 4 });
  sink = await createTestDatabase({ name: 'chat-fault-sink', poolSize: 4 });
  config = testConfig(router.url);
  env = {
    DATABASE_URL: testDatabaseUrl(),
    AMQP_URL: testAmqpUrl(),
    WAMP_URL: router.url,
    VECHE_SERVICE_SECRET: secret,
    CHAT_DB_SCHEMA: database.schema,
    CHAT_EXCHANGE: config.CHAT_EXCHANGE,
    CHAT_BOT_EXCHANGE: config.CHAT_BOT_EXCHANGE,
    CHAT_ACCOUNTS_QUEUE: config.CHAT_ACCOUNTS_QUEUE,
    CHAT_BOT_QUEUE: config.CHAT_BOT_QUEUE,
    PORT: '0',
    LOG_LEVEL: 'info',
    UPLOADS_DIR: config.UPLOADS_DIR,
  };
  chat = await startChat();
  caller = await connectService({
    url: router.url,
    authid: 'service:gateway',
    secret,
    log,
    defaultTimeoutMs: 5_000,
  });
});

/** Set when the test ends, however it ends: the posting lanes stop retrying (else the file never exits). */
let finished = false;

after(async () => {
  finished = true;
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  chat?.kill('SIGKILL');
  await caller.close();
  await router.close();
  await database.drop();
  await sink.drop();
  await deleteBusNames(config, log);
  await rm(config.UPLOADS_DIR, { recursive: true, force: true });
});

it('SIGKILL during a burst and closed RabbitMQ connections lose and duplicate nothing', async () => {
  const call = <T>(userId: string, procedure: string, input: Record<string, unknown>) =>
    caller.call<T>(`veche.chat.${procedure}`, { actor: { userId, role: 'user' }, input });
  const { roomId } = await call<{ roomId: string }>('alice', 'createRoom', {
    name: 'Faults',
    visibility: 'public',
  });
  await call('bob', 'joinRoom', { roomId });
  const bob = await connectUser(router.url, 'bob', signActor({ userId: 'bob', role: 'user' }, secret, 3600));
  cleanups.push(async () => bob.close());

  // An integration consumer with an inbox, counting effects (no unique constraint: duplicates would show).
  await migrate(sink, busMigrations);
  await sql`create table effects (message_id text not null)`.execute(sink.db);
  const connection = createBusConnection({ url: testAmqpUrl(), name: uniqueName('fault-sink'), log });
  await connection.start();
  cleanups.push(() => connection.stop());
  const queue = `${uniqueName('faultsink')}.effects`;
  // Runs last: after the consumer has stopped.
  cleanups.unshift(async () => {
    const admin = createBusConnection({ url: testAmqpUrl(), name: 'fault-cleanup', log });
    await admin.start();
    const channel = await admin.openChannel({ name: 'cleanup', setup: async () => undefined });
    for (const name of [
      queue,
      `${queue}.dead`,
      `${queue}.retry.1s`,
      `${queue}.retry.5s`,
      `${queue}.retry.30s`,
      `${queue}.retry.2m`,
      `${queue}.retry.10m`,
    ]) {
      await channel.deleteQueue(name);
    }
    await channel.close();
    await admin.stop();
  });
  const consumer = createConsumer({
    connection,
    database: sink,
    log,
    queue,
    exchange: config.CHAT_EXCHANGE,
    bindings: ['chat.message_posted'],
    handle: async (event, trx) => {
      await sql`insert into effects (message_id) values (${(event.data as { messageId: string }).messageId})`.execute(
        trx,
      );
    },
  });
  await consumer.start();
  cleanups.push(() => consumer.stop());

  const total = 600;
  const acknowledged = new Map<number, string>();
  let retries = 0;
  let next = 0;
  const post = async (i: number): Promise<void> => {
    while (!finished) {
      try {
        const result = await call<{ messageId: string }>('alice', 'postMessage', {
          roomId,
          text: `burst ${i} @bob`,
          idempotencyKey: `burst-${i}`,
        });
        acknowledged.set(i, result.messageId);
        return;
      } catch {
        retries += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const lanes = Array.from({ length: 30 }, async () => {
    while (next < total) await post(next++);
  });

  await eventually(() => acknowledged.size >= 150, { timeoutMs: 30_000, message: '150 posts acknowledged' });
  chat!.kill('SIGKILL');
  await new Promise((resolve) => chat!.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, 300));
  chat = await startChat();
  await eventually(() => acknowledged.size >= 400, { timeoutMs: 60_000, message: '400 posts acknowledged' });
  const closed =
    (await closeConnectionsNamed(`chat:relay:${chat.pid}`)) +
    (await closeConnectionsNamed(`chat:consumer:${chat.pid}`));
  assert.equal(closed, 2, 'closed both of the chat’s RabbitMQ connections');
  await Promise.all(lanes);
  assert.ok(retries > 0, 'the kill cut some posts off, which were retried');

  // The log and the read model: each post once, with the id it was acknowledged with; seq contiguous.
  const { rows } = await sql<{ id: string; idempotency_key: string; seq: number }>`
    select id, idempotency_key, seq from messages where room_id = ${roomId} order by seq`.execute(
    database.db,
  );
  assert.equal(rows.length, total);
  for (const row of rows) {
    const i = Number(row.idempotency_key.replace('burst-', ''));
    assert.equal(acknowledged.get(i), row.id, `post ${i} kept the id it was acknowledged with`);
  }
  const { rows: versions } = await sql<{ n: string; max: number }>`
    select count(*) as n, max(stream_version) as max from events where stream_id = ${`room-${roomId}`}`.execute(
    database.db,
  );
  assert.equal(Number(versions[0]!.n), versions[0]!.max, 'no hole in the room’s seq');

  // RabbitMQ: one effect per message, despite the republished batches.
  await eventually(
    async () => {
      const { rows: counted } = await sql<{ n: string }>`select count(*) as n from effects`.execute(sink.db);
      return Number(counted[0]!.n) >= total || undefined;
    },
    { timeoutMs: 60_000, message: 'every message reached the consumer' },
  );
  const { rows: twice } = await sql<{ message_id: string }>`
    select message_id from effects group by message_id having count(*) > 1`.execute(sink.db);
  assert.deepEqual(twice, []);

  // Realtime: the feed (deduplicated by seq, as clients do) plus a catch-up gives every message once.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const bySeq = new Map<number, string>();
  for (const event of bob.ofType('message_posted', roomId)) bySeq.set(event.seq!, String(event['text']));
  let after = 0;
  for (;;) {
    const page = await call<{ messages: { seq: number; text: string }[]; hasMore: boolean }>(
      'bob',
      'listMessages',
      {
        roomId,
        after,
        limit: 500,
      },
    );
    for (const message of page.messages) {
      if (!bySeq.has(message.seq)) bySeq.set(message.seq, message.text);
      after = message.seq;
    }
    if (!page.hasMore) break;
  }
  const texts = [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text);
  assert.equal(texts.length, total);
  assert.equal(new Set(texts).size, total);
});
