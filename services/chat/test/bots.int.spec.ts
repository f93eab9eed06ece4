/**
 * Bots end to end over RabbitMQ: the dice bot (services/bot-dice, run as its own process) registers
 * `/roll`, a member's `/roll 2d6` reaches it as a command, its reply is posted into the room as
 * `bot:dice`. A bot that never answers, or answers garbage, to unknown commands, or too often, does
 * not harm the room.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, it } from 'node:test';
import { createBusConnection, createPublisher } from '@veche/bus';
import { eventually, uniqueName } from '@veche/testing';
import { v7 } from 'uuid';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let bot: ChildProcess;
const botQueue = uniqueName('bot-dice');

before(async () => {
  h = await startHarness(import.meta.filename);
  bot = spawn(process.execPath, [new URL('../../bot-dice/src/server.ts', import.meta.url).pathname], {
    env: {
      ...process.env,
      AMQP_URL: h.config.AMQP_URL,
      BOT_EXCHANGE: h.config.CHAT_BOT_EXCHANGE,
      BOT_QUEUE: botQueue,
      PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
});
after(async () => {
  bot.kill('SIGTERM');
  await new Promise((resolve) => bot.once('exit', resolve));
  const connection = createBusConnection({ url: h.config.AMQP_URL, name: 'bot-test-cleanup', log: h.log });
  await connection.start();
  const channel = await connection.openChannel({ name: 'cleanup', setup: async () => undefined });
  await channel.deleteQueue(botQueue);
  await channel.close();
  await connection.stop();
  await h.close();
});

type Page = { messages: { senderId: string; text: string }[] };

it('/roll reaches the dice bot and its answer is posted into the room as the bot', async () => {
  await eventually(
    async () =>
      (await h.call<{ commands: { name: string }[] }>('ann', 'listCommands')).commands.some(
        (c) => c.name === 'roll',
      ),
    { timeoutMs: 20_000, message: 'the bot registered /roll' },
  );
  const watcher = await h.user('bea');
  const { roomId } = await h.call<{ roomId: string }>('ann', 'createRoom', {
    name: 'Dice',
    visibility: 'public',
  });
  await h.call('bea', 'joinRoom', { roomId });
  await h.call('ann', 'postMessage', { roomId, text: '/roll 2d6', idempotencyKey: 'r1' });
  await eventually(() => watcher.ofType('message_posted', roomId).some((e) => e['senderId'] === 'bot:dice'), {
    timeoutMs: 20_000,
    message: 'the bot answered in the room',
  });
  const page = await h.call<Page>('ann', 'listMessages', { roomId });
  assert.equal(page.messages[0]!.senderId, 'bot:dice');
  assert.match(page.messages[0]!.text, /rolled 2d6: \[\d, \d\] = \d+/);
  assert.equal(page.messages[1]!.text, '/roll 2d6');
});

it('garbage, unknown commands, foreign bots and a bot that never answers do not harm the room', async () => {
  const connection = createBusConnection({ url: h.config.AMQP_URL, name: 'fake-bot', log: h.log });
  await connection.start();
  const publisher = createPublisher({ connection, log: h.log, exchange: h.config.CHAT_BOT_EXCHANGE });
  await publisher.start();
  const meta = () => ({
    eventId: v7(),
    occurredAt: new Date().toISOString(),
    actor: 'bot:ghost',
    correlationId: v7(),
    causationId: v7(),
  });
  // A bot that registers a command and never answers it.
  await publisher.publish([
    {
      type: 'bot.registered',
      data: { botId: 'ghost', commands: [{ name: 'ghost', description: 'silent' }] },
      metadata: meta(),
    },
  ]);
  await eventually(
    async () =>
      (await h.call<{ commands: { name: string }[] }>('cat', 'listCommands')).commands.some(
        (c) => c.name === 'ghost',
      ),
    { message: 'ghost registered' },
  );
  const { roomId } = await h.call<{ roomId: string }>('cat', 'createRoom', {
    name: 'Ghost',
    visibility: 'public',
  });
  await h.call('cat', 'postMessage', { roomId, text: '/ghost boo', idempotencyKey: 'g1' });
  // Garbage and lies on the reply queue.
  await publisher.publish([
    { type: 'bot.reply', data: { nonsense: true }, metadata: meta() },
    {
      type: 'bot.reply',
      data: { commandId: 'no-such-command', botId: 'ghost', text: 'spam' },
      metadata: meta(),
    },
    { type: 'bot.registered', data: { botId: '../etc', commands: [] }, metadata: meta() },
  ]);
  await h.call('cat', 'postMessage', { roomId, text: 'still fine', idempotencyKey: 'g2' });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const page = await h.call<Page>('cat', 'listMessages', { roomId });
  assert.deepEqual(
    page.messages.map((m) => m.text),
    ['still fine', '/ghost boo'],
  );
  await publisher.stop();
  await connection.stop();
});
