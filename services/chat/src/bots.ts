/**
 * Chat on RabbitMQ. Integration events out on `veche.events`; bots on `veche.bots` (topic). A message
 * that starts with a registered `/command` carries the command in its `chat.message_posted` event,
 * and the outbox relay (an at-least-once subscription on the log, so a crash loses nothing) publishes
 * it as `bot.command.<name>`.
 * In: bots publish `bot.registered` (their commands) and `bot.reply` (an answer to a command id);
 * chat's queue receives both through an inbox consumer. A reply is posted only into the room the
 * command came from, at most CHAT_BOT_MAX_REPLIES times, with an idempotency key derived from the
 * reply's event id; anything malformed or unknown goes to the dead-letter queue. A bot that never
 * answers costs nothing.
 */
import { Value } from '@sinclair/typebox/value';
import {
  createConsumer,
  createPublisher,
  toIntegrationEvent,
  type BusConnection,
  type Consumer,
  type Publisher,
} from '@veche/bus';
import type { Database } from '@veche/db';
import { validationError } from '@veche/errors';
import {
  createSubscription,
  type EventStore,
  type RecordedEvent,
  type Subscription,
} from '@veche/event-store';
import type { Logger } from '@veche/log';
import type { Chat } from './chat.ts';
import {
  accountEventTypes,
  botCommandType,
  botMessageTypes,
  BotRegistered,
  BotReply,
  parseIntegrationEvent,
  type BotCommand,
} from '@veche/contracts';
import { asChatEvent } from './realtime.ts';
import { chatEventTypes as T } from './domain/events.ts';
import { tablesOf } from './tables.ts';

/** Replies that fail (PostgreSQL down) are tried again after these delays, then dead-lettered. */
export const botReplyRetryDelaysMs = [1_000, 5_000, 30_000];

export function createBotReplyConsumer(options: {
  database: Database<unknown>;
  connection: BusConnection;
  exchange: string;
  queue: string;
  chat: Chat;
  maxReplies: number;
  log: Logger;
}): Consumer {
  return createConsumer({
    connection: options.connection,
    database: options.database,
    log: options.log,
    queue: options.queue,
    exchange: options.exchange,
    bindings: [botMessageTypes.registered, botMessageTypes.reply],
    retryDelaysMs: botReplyRetryDelaysMs,
    handle: async (event, trx, { log }) => {
      if (event.type === botMessageTypes.registered) {
        if (!Value.Check(BotRegistered, event.data)) throw validationError('Malformed bot.registered');
        const data = event.data;
        for (const command of data.commands) {
          await tablesOf(trx)
            .insertInto('bot_commands')
            .values({ name: command.name, bot_id: data.botId, description: command.description })
            .onConflict((oc) =>
              oc.column('name').doUpdateSet((eb) => ({
                bot_id: eb.ref('excluded.bot_id'),
                description: eb.ref('excluded.description'),
                registered_at: eb.fn<Date>('now'),
              })),
            )
            .execute();
        }
        log.info({ botId: data.botId, commands: data.commands.map((c) => c.name) }, 'bot registered');
        return;
      }
      if (!Value.Check(BotReply, event.data)) throw validationError('Malformed bot.reply');
      const reply = event.data;
      const request = await tablesOf(trx)
        .updateTable('bot_command_requests')
        .set((eb) => ({ replies: eb('replies', '+', 1) }))
        .where('command_id', '=', reply.commandId)
        .where('bot_id', '=', reply.botId)
        .where('replies', '<', options.maxReplies)
        .returning(['room_id', 'replies'])
        .executeTakeFirst();
      if (!request) throw validationError('Reply to an unknown command, from the wrong bot, or one too many');
      // Posted outside this transaction; the idempotency key makes a redelivery answer with the same message.
      const posted = await options.chat.postAsBot(reply.botId, {
        roomId: request.room_id,
        text: reply.text,
        idempotencyKey: `bot-reply:${event.metadata.eventId}`,
      });
      log.info({ commandId: reply.commandId, messageId: posted.messageId }, 'bot reply posted');
    },
  });
}

/**
 * The integration events on `veche.events`: the log's own events, at least once (checkpoint after the
 * broker's confirms). `chat.message_posted` goes out only for messages that notify someone (mentions,
 * direct messages), read from the rooms' outbox streams (`chat.message_notified`), so the relay never
 * reads the other messages: publishing every message would make the broker's per-message cost (~130 µs
 * of CPU here) the ceiling of the chat's write path, and reading them cost 15–20 % of it. ADR 0010.
 */
export function createIntegrationRelay(options: {
  database: Database<unknown>;
  store: EventStore;
  connection: BusConnection;
  exchange: string;
  botExchange: string;
  eventTypes: readonly string[];
  log: Logger;
  onBatchConfirmed?: (() => void | Promise<void>) | undefined;
}): { relay: Subscription; publishers: Publisher[] } {
  const log = options.log.child({ component: 'outbox-relay' });
  const publisher = createPublisher({ connection: options.connection, log, exchange: options.exchange });
  const botPublisher = createPublisher({
    connection: options.connection,
    log,
    exchange: options.botExchange,
  });
  const relay = createSubscription({
    name: 'chat.outbox-relay',
    database: options.database,
    store: options.store,
    log,
    mode: 'at-least-once',
    eventTypes: options.eventTypes,
    batchSize: 2_000,
    async handle(events) {
      // A notifying message goes out as the mailer's `chat.message_posted`, with its own event id.
      const integration = events
        .filter((event) => event.type !== T.botCommandIssued)
        .map((event) =>
          event.type === T.messageNotified
            ? { ...toIntegrationEvent(event), type: T.messagePosted }
            : toIntegrationEvent(event),
        );
      // One read of the log serves both exchanges; the checkpoint moves once both are confirmed.
      await Promise.all([
        integration.length > 0 ? publisher.publish(integration) : undefined,
        botPublisher.publish(botCommandsOf(events)),
      ]);
      await options.onBatchConfirmed?.();
    },
  });
  return { relay, publishers: [publisher, botPublisher] };
}

/** The bot commands carried by posted messages, as `bot.command.<name>` events (id = command id). */
function botCommandsOf(events: readonly RecordedEvent[]) {
  return events.flatMap((event) => {
    const chatEvent = asChatEvent(event);
    if (chatEvent.type !== T.botCommandIssued) return [];
    const { command, ...d } = chatEvent.data;
    if (!command) return [];
    const data: BotCommand = {
      commandId: command.commandId,
      botId: command.botId,
      name: command.name,
      args: command.args,
      roomId: d.roomId,
      messageId: d.messageId,
      seq: d.seq,
      senderId: d.senderId,
      senderDisplayName: d.senderDisplayName,
      sentAt: d.sentAt,
    };
    return [
      {
        type: botCommandType(command.name),
        data,
        metadata: { ...event.metadata, eventId: command.commandId },
      },
    ];
  });
}

/** Display names for messages and mentions, from the gateway's account events. */
export function createAccountConsumer(options: {
  database: Database<unknown>;
  connection: BusConnection;
  exchange: string;
  queue: string;
  log: Logger;
}): Consumer {
  const consumed = [accountEventTypes.registered, accountEventTypes.profileUpdated];
  return createConsumer({
    connection: options.connection,
    database: options.database,
    log: options.log,
    queue: options.queue,
    exchange: options.exchange,
    bindings: consumed,
    handle: async (event, trx) => {
      const parsed = parseIntegrationEvent(consumed, event.type, event.data);
      if (!parsed.ok)
        throw validationError(`Malformed ${event.type}`, { details: { problems: parsed.problems } });
      const { userId, displayName } = parsed.event.data;
      if (displayName === undefined) return;
      await tablesOf(trx)
        .insertInto('users')
        .values({ id: userId, display_name: displayName })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            display_name: eb.ref('excluded.display_name'),
            updated_at: eb.fn<Date>('now'),
          })),
        )
        .execute();
    },
  });
}
