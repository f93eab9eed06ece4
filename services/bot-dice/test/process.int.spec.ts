/**
 * The dice bot as the fleet runs it (`node src/server.ts`), against the real RabbitMQ: it announces
 * `/roll`, answers a command with a reply derived from the command's id, reports /health and /ready
 * through the kit, and stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, it } from 'node:test';
import amqplib from 'amqplib';
import { Value } from '@sinclair/typebox/value';
import { decodeMessage, encodeEvent, unroutedQueueName } from '@veche/bus';
import { BotRegistered, BotReply, type BotCommand } from '@veche/contracts';
import { eventually, testAmqpUrl, uniqueName } from '@veche/testing';
import { derivedId } from '../src/api/commands.ts';

const exchange = uniqueName('bots');
const commandQueue = uniqueName('bot-dice');
const watchQueue = uniqueName('bot-dice-watch');
let connection: amqplib.ChannelModel;
let channel: amqplib.Channel;
let bot: ChildProcess;
let output = '';
const seen: { type: string; eventId: string; data: Record<string, unknown> }[] = [];

before(async () => {
  connection = await amqplib.connect(testAmqpUrl());
  channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(watchQueue, { durable: false, autoDelete: true });
  for (const key of ['bot.registered', 'bot.reply']) await channel.bindQueue(watchQueue, exchange, key);
  await channel.consume(watchQueue, (message) => {
    if (!message) return;
    const decoded = decodeMessage(message.content, message.properties);
    if (decoded.ok)
      seen.push({
        type: decoded.event.type,
        eventId: decoded.event.metadata.eventId,
        data: decoded.event.data as Record<string, unknown>,
      });
    channel.ack(message);
  });
  bot = spawn(process.execPath, [new URL('../src/server.ts', import.meta.url).pathname], {
    env: {
      ...process.env,
      AMQP_URL: testAmqpUrl(),
      BOT_EXCHANGE: exchange,
      BOT_QUEUE: commandQueue,
      PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  bot.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
});

after(async () => {
  if (bot.exitCode === null && bot.signalCode === null) bot.kill('SIGKILL');
  await channel.deleteQueue(commandQueue);
  await channel.deleteQueue(watchQueue);
  await channel.deleteExchange(exchange);
  await channel.deleteQueue(unroutedQueueName(exchange));
  await connection.close();
});

it('announces /roll, answers a command, reports its health, and stops on SIGTERM', async () => {
  await eventually(() => output.includes('"msg":"dice bot started"'), {
    message: 'the bot to start',
    timeoutMs: 60_000,
  });
  const port = Number(/"port":(\d+)/.exec(output)?.[1]);
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
  const ready = await fetch(`http://127.0.0.1:${port}/ready`);
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { rabbitmq: true } });
  await eventually(() => seen.some((e) => e.type === 'bot.registered'), {
    message: 'the bot registered',
    timeoutMs: 30_000,
  });

  const commandId = randomUUID();
  const command = encodeEvent({
    type: 'bot.command.roll',
    data: {
      commandId,
      botId: 'dice',
      name: 'roll',
      args: '3d6',
      roomId: 'room-1',
      messageId: 'message-1',
      seq: 7,
      senderId: 'ann',
      senderDisplayName: 'Ann',
      sentAt: new Date().toISOString(),
    } satisfies BotCommand,
    metadata: {
      eventId: randomUUID(),
      occurredAt: new Date().toISOString(),
      actor: 'service:chat',
      correlationId: randomUUID(),
      causationId: randomUUID(),
    },
  });
  channel.publish(exchange, command.routingKey, command.content, command.options);
  await eventually(() => seen.some((e) => e.type === 'bot.reply'), {
    message: 'the reply',
    timeoutMs: 30_000,
  });
  const reply = seen.find((e) => e.type === 'bot.reply')!;
  assert.ok(Value.Check(BotReply, reply.data), 'the reply is what the bot protocol declares');
  assert.ok(
    Value.Check(BotRegistered, seen.find((e) => e.type === 'bot.registered')!.data),
    'so is the registration',
  );
  assert.equal(reply.data['commandId'], commandId);
  assert.match(String(reply.data['text']), /Ann rolled 3d6: \[\d, \d, \d\] = \d+/);
  // Derived from the command: a redelivered command's reply is one the chat's inbox already holds.
  assert.equal(reply.eventId, derivedId(`reply:${commandId}`));

  bot.kill('SIGTERM');
  const [code] = (await once(bot, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.match(output, /"msg":"stopped"/);
});
