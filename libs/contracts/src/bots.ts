/**
 * The bot protocol on the bots' exchange (`veche.bots`, topic), declared once for chat and every bot:
 * a bot announces its commands with `bot.registered` (again on every reconnect), receives each use of
 * one on `bot.command.<name>`, and answers with `bot.reply` naming the command's id.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ChatId, SenderId } from './chat.ts';

export const botMessageTypes = {
  registered: 'bot.registered',
  reply: 'bot.reply',
} as const;
/** The routing key a command is sent with. */
export const botCommandType = (name: string): string => `bot.command.${name}`;

export const BotId = Type.String({ minLength: 1, maxLength: 40, pattern: '^[a-z][a-z0-9_-]*$' });
export const BotCommandName = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z][a-z0-9_-]*$' });

export const BotRegistered = Type.Object({
  botId: BotId,
  commands: Type.Array(Type.Object({ name: BotCommandName, description: Type.String({ maxLength: 200 }) }), {
    minItems: 1,
    maxItems: 50,
  }),
});
export type BotRegistered = Static<typeof BotRegistered>;

/** What a bot receives on `bot.command.<name>`: the command, its arguments and where it was said. */
export const BotCommand = Type.Object({
  commandId: Type.String({ minLength: 1, maxLength: 64 }),
  botId: BotId,
  name: BotCommandName,
  args: Type.String({ maxLength: 2_000 }),
  roomId: ChatId,
  messageId: ChatId,
  seq: Type.Integer({ minimum: 1 }),
  senderId: SenderId,
  senderDisplayName: Type.String({ maxLength: 200 }),
  sentAt: Type.String({ format: 'date-time' }),
});
export type BotCommand = Static<typeof BotCommand>;

/** A bot's answer: posted into the command's room (at most a few times per command). */
export const BotReply = Type.Object({
  commandId: Type.String({ minLength: 1, maxLength: 64 }),
  botId: BotId,
  text: Type.String({ minLength: 1, maxLength: 4_000, pattern: '\\S' }),
});
export type BotReply = Static<typeof BotReply>;
