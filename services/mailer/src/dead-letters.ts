/**
 * The dead-letter queue for mails that used up their SMTP retries: each goes there with its whole
 * delivery history, published with a confirm, so an operator finds undeliverable mail beside the
 * events the mailer could not handle.
 */
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { BusConnection } from '@veche/bus';
import type { MailRow } from './outbox.ts';

export interface DeadMailQueue {
  start(): Promise<void>;
  publish(mails: readonly MailRow[]): Promise<void>;
  stop(): Promise<void>;
}

/** The body of a dead mail message: enough to find, judge and re-queue it; the content stays in the outbox. */
export function deadMailMessage(mail: MailRow): Record<string, unknown> {
  return {
    mailId: mail.id,
    idempotencyKey: mail.idempotency_key,
    kind: mail.kind,
    eventId: mail.event_id,
    to: mail.to_address,
    subject: mail.subject,
    messageId: mail.message_id,
    attempts: mail.attempts,
    lastError: mail.last_error,
    history: mail.history,
    createdAt: mail.created_at,
  };
}

export function createDeadMailQueue(connection: BusConnection, queue: string): DeadMailQueue {
  let channel: ChannelWrapper | undefined;
  return {
    async start() {
      channel = await connection.openChannel({
        name: 'dead-mail',
        setup: async (raw) => {
          await raw.assertQueue(queue, { durable: true });
        },
      });
    },
    async publish(mails) {
      const current = channel;
      if (!current) throw new Error('the dead-mail queue is not started');
      await Promise.all(
        mails.map((mail) =>
          current.sendToQueue(queue, Buffer.from(JSON.stringify(deadMailMessage(mail))), {
            persistent: true,
            messageId: mail.id,
            contentType: 'application/json',
            type: 'mailer.mail_undeliverable',
            ...(mail.correlation_id ? { correlationId: mail.correlation_id } : {}),
            headers: {
              'x-veche-dead-reason': 'smtp-retries-exhausted',
              'x-veche-error': mail.last_error ?? '',
              'x-veche-consumer': 'mailer.sender',
              'x-veche-attempts': mail.attempts,
              'x-veche-history': JSON.stringify(mail.history),
            },
          }),
        ),
      );
    },
    async stop() {
      const current = channel;
      channel = undefined;
      await current?.close();
    },
  };
}
