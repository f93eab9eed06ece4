/**
 * The dice bot: registers `/roll` with the chat (`bot.registered` on exchange `veche.bots`, sent again
 * on every reconnect), consumes `bot.command.roll` from its durable queue, and answers each command
 * with `bot.reply`. The reply's event id is derived from the command id, so a redelivered command (the
 * bot crashed before its ack) yields a reply the chat's inbox recognises as already handled.
 * Acknowledged only after the broker confirmed the reply: a command is never dropped.
 */
import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { Value } from '@sinclair/typebox/value';
import { createPublisher, decodeMessage, type BusConnection } from '@veche/bus';
import {
  BotCommand,
  botCommandType,
  botMessageTypes,
  type BotRegistered,
  type BotReply,
} from '@veche/contracts';
import type { Logger } from '@veche/log';
import { describe, roll } from '../domain/dice.ts';

export const botId = 'dice';
export const commands: BotRegistered['commands'] = [{ name: 'roll', description: 'Roll dice: /roll 2d6+1' }];

/** A UUID-shaped id that is a pure function of its input. */
export function derivedId(input: string): string {
  const hex = createHash('sha256').update(input).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface DiceBot {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): { answered: number; rejected: number };
}

export function createDiceBot(options: {
  connection: BusConnection;
  exchange: string;
  queue: string;
  log: Logger;
  random?: () => number;
}): DiceBot {
  const log = options.log.child({ component: 'dice-bot' });
  const publisher = createPublisher({ connection: options.connection, log, exchange: options.exchange });
  const stats = { answered: 0, rejected: 0 };
  let channel: Awaited<ReturnType<BusConnection['openChannel']>> | undefined;

  const register = () =>
    publisher.publish([
      {
        type: botMessageTypes.registered,
        data: { botId, commands } satisfies BotRegistered,
        metadata: {
          eventId: derivedId(`registered:${Date.now()}:${Math.random()}`),
          occurredAt: new Date().toISOString(),
          actor: `bot:${botId}`,
          correlationId: derivedId(`registration:${process.pid}`),
          causationId: derivedId(`registration:${process.pid}`),
        },
      },
    ]);

  async function answer(message: ConsumeMessage): Promise<void> {
    const decoded = decodeMessage(message.content, message.properties);
    if (!decoded.ok || !Value.Check(BotCommand, decoded.event.data)) {
      stats.rejected += 1;
      log.warn({ reason: decoded.ok ? 'not a command' : decoded.reason }, 'command dropped');
      return;
    }
    const command = decoded.event.data;
    const text = describe(roll(command.args, options.random), command.senderDisplayName);
    await publisher.publish([
      {
        type: botMessageTypes.reply,
        data: { commandId: command.commandId, botId, text } satisfies BotReply,
        metadata: {
          eventId: derivedId(`reply:${command.commandId}`),
          occurredAt: new Date().toISOString(),
          actor: `bot:${botId}`,
          correlationId: decoded.event.metadata.correlationId,
          causationId: decoded.event.metadata.eventId,
        },
      },
    ]);
    stats.answered += 1;
    log.info({ commandId: command.commandId, roomId: command.roomId }, 'command answered');
  }

  return {
    stats: () => ({ ...stats }),
    async start() {
      await publisher.start();
      channel = await options.connection.openChannel({
        name: 'dice-commands',
        setup: async (raw) => {
          await raw.assertExchange(options.exchange, 'topic', { durable: true });
          await raw.assertQueue(options.queue, { durable: true });
          for (const command of commands)
            await raw.bindQueue(options.queue, options.exchange, botCommandType(command.name));
          await raw.prefetch(32);
          await raw.consume(options.queue, (message) => {
            if (!message) return;
            answer(message).then(
              () => raw.ack(message),
              (error: unknown) => {
                log.error({ err: error }, 'answering failed; the command goes back to the queue');
                setTimeout(() => {
                  try {
                    raw.nack(message, false, true);
                  } catch {
                    // the channel closed: the broker requeues it anyway
                  }
                }, 1_000).unref();
              },
            );
          });
          // Registered again on every (re)connect: the chat may have started after the bot.
          void register().catch((error: unknown) => log.warn({ err: error }, 'registration not confirmed'));
        },
      });
    },
    async stop() {
      await channel?.close();
      channel = undefined;
      await publisher.stop();
    },
  };
}
